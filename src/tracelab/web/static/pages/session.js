// Session: the step timeline (stacked prefix/append bars, output line, user messages marked,
// zoom with drag or the range slider) and the step inspector. Tool inputs are fetched only when
// the user asks for them in the inspector.
(function () {
  "use strict";
  var el = TL.el;

  function inspector(box, roundPk) {
    box.replaceChildren(el("p", { class: "muted", text: "Loading step…" }));
    TL.tapi("/steps/" + encodeURIComponent(roundPk)).then(function (d) {
      var s = d.step;
      var tokens = TL.table([{ key: "k", label: "" }, { key: "v", label: "value", kind: "text" }], [
        { k: "step", v: "#" + s.seq + " (request " + s.request_no + ", " + (s.is_user ? "user-initiated" : s.is_tool ? "tool-initiated" : "other") + ")" },
        { k: "model", v: s.model || "–" }, { k: "started (UTC)", v: TL.fmt.date(s.started_at) },
        { k: "prefix (cache read)", v: TL.fmt.int(s.prefix) }, { k: "append (fresh input)", v: TL.fmt.int(s.append) },
        { k: "context", v: TL.fmt.int(s.context) }, { k: "output", v: TL.fmt.int(s.output) },
        { k: "reasoning", v: TL.fmt.int(s.reasoning) }, { k: "generation time", v: TL.fmt.ms(s.gen_ms) },
        { k: "idle gap before", v: TL.fmt.ms(s.idle_gap_ms) },
        { k: "cost (prefix / append / output)", v: s.priced ? TL.fmt.usd(s.cost_total) + " (" + [s.cost_prefix, s.cost_append, s.cost_output].map(TL.fmt.usd).join(" / ") + ")" : "unpriced model" },
      ]);
      var toolsTable = d.tools.length ? TL.table([
        { key: "tool_index", label: "#", kind: "int" }, { key: "tool", label: "tool" },
        { key: "latency_ms", label: "latency", kind: "ms" }, { key: "wall_ms", label: "wall", kind: "ms" },
        { key: "internal_ms", label: "internal", kind: "ms" },
        { key: "is_error", label: "status", value: function (t) { return t.is_error ? el("span", { class: "pill err", text: "error" }) : el("span", { class: "pill", text: t.result_at ? "ok" : "no result" }); } },
        { key: "input_chars", label: "input chars", kind: "int" }, { key: "result_chars", label: "result chars", kind: "int" },
      ], d.tools) : el("p", { class: "muted", text: "No tool calls in this step." });
      var events = TL.table([
        { key: "event_type", label: "event" }, { key: "timestamp", label: "time (UTC)", value: function (e) { return String(e.timestamp || "–").replace("T", " ").slice(0, 23); } },
        { key: "tool_name", label: "tool" }, { key: "content_chars", label: "chars", kind: "int" },
      ], d.events);
      var raw = el("div", { id: "raw-box" });
      var rawButton = el("button", { type: "button", id: "show-raw", text: "Show raw tool inputs", onclick: function () {
        rawButton.disabled = true;
        TL.tapi("/steps/" + encodeURIComponent(roundPk) + "/raw").then(function (r) {
          raw.replaceChildren(r.available ? el("pre", { class: "raw", text: JSON.stringify(r.tools, null, 2) }) : el("p", { class: "muted", text: "Not available: " + r.reason }));
        }).catch(function (e) { raw.replaceChildren(el("div", { class: "error", text: e.message })); });
      } });
      box.replaceChildren(el("h2", { id: "inspector-title", text: "Step " + s.seq }),
        el("div", { class: "grid" }, [TL.card("Tokens, time, cost", null, tokens), TL.card("Tool calls", null, toolsTable)]),
        el("h2", { text: "Timing events" }), events, el("p", {}, [rawButton]), raw);
    }).catch(function (e) { box.replaceChildren(el("div", { class: "error", text: e.message })); });
  }

  TL.ready().then(function (id) {
    if (!id) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    var sid = TL.params.get("id");
    if (!sid) { TL.content([el("p", {}, ["No session given. ", el("a", { href: TL.link("/sessions"), text: "Pick one." })])]); return; }
    return TL.tapi("/session?id=" + encodeURIComponent(sid)).then(function (d) {
      var s = d.session, steps = d.steps;
      document.getElementById("page-title").textContent = "Session " + s.session_id;
      var facts = [
        ["provider", s.provider], ["model", s.model + (s.models > 1 ? " (+" + (s.models - 1) + ")" : "")],
        ["started", TL.fmt.date(s.started_at)], ["duration", TL.fmt.ms(s.duration_ms)],
        ["steps", TL.fmt.int(s.steps)], ["requests", TL.fmt.int(s.requests)], ["tool calls", TL.fmt.int(s.tool_calls)],
        ["max context", TL.fmt.tokens(s.max_context)], ["cost", s.priced ? TL.fmt.usd(s.cost) : TL.fmt.usd(s.cost) + " (part unpriced)"],
      ];
      var chart = el("div", { id: "timeline", class: "chart" });
      var insp = el("div", { class: "inspector", id: "inspector" }, [el("p", { class: "muted", text: "Click a step in the timeline to inspect it." })]);
      TL.content([
        el("div", { class: "kpis" }, facts.map(function (f) { return el("div", { class: "kpi" }, [el("div", { class: "v", style: "font-size:16px", text: f[1] || "–" }), el("div", { class: "l", text: f[0] })]); })),
        el("h2", { text: "Step timeline" }),
        el("p", { class: "muted", text: "Bars: prefix (cache read) and append (fresh) input tokens per step; line: output tokens (right axis); ▼ marks steps that start with a user message. Drag to zoom, double-click to reset." }),
        chart, insp,
      ]);
      var x = steps.map(function (r) { return r.seq; });
      var users = steps.filter(function (r) { return r.is_user; });
      var maxCtx = Math.max.apply(null, steps.map(function (r) { return r.context; }).concat([1]));
      var pks = steps.map(function (r) { return r.round_pk; });
      TL.plot(chart, [
        { type: "bar", name: "prefix", x: x, y: steps.map(function (r) { return r.prefix; }), marker: { color: "#7fb3e8" }, customdata: pks },
        { type: "bar", name: "append", x: x, y: steps.map(function (r) { return r.append; }), marker: { color: "#e8a23b" }, customdata: pks },
        { type: "scatter", mode: "lines", name: "output", x: x, y: steps.map(function (r) { return r.output; }), yaxis: "y2", line: { color: "#c8553d", width: 1.5 }, customdata: pks },
        { type: "scatter", mode: "markers", name: "user message", x: users.map(function (r) { return r.seq; }), y: users.map(function () { return maxCtx * 1.04; }), marker: { symbol: "triangle-down", size: 9, color: TL.cssVar("--fg") }, customdata: users.map(function (r) { return r.round_pk; }), hovertemplate: "step %{x}: user message<extra></extra>" },
        { type: "scatter", mode: "markers", name: "tool error", x: steps.filter(function (r) { return r.tool_errors > 0; }).map(function (r) { return r.seq; }), y: steps.filter(function (r) { return r.tool_errors > 0; }).map(function () { return maxCtx * 1.08; }), marker: { symbol: "x", size: 8, color: TL.cssVar("--bad") }, customdata: steps.filter(function (r) { return r.tool_errors > 0; }).map(function (r) { return r.round_pk; }), hovertemplate: "step %{x}: tool error<extra></extra>" },
      ], {
        barmode: "stack", bargap: 0.05, height: 420, dragmode: "zoom",
        xaxis: { title: { text: "step" }, rangeslider: { visible: steps.length > 40, thickness: 0.08 } },
        yaxis: { title: { text: "input tokens" } },
        yaxis2: { title: { text: "output tokens" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" },
        margin: { r: 60, t: 30 }, legend: { orientation: "h", x: 0, y: 1.12 },
      });
      chart.on("plotly_click", function (ev) {
        var pk = ev.points[0].customdata;
        if (pk !== undefined) { inspector(insp, pk); }
      });
      var wanted = TL.params.get("step");
      if (wanted !== null && pks.indexOf(Number(wanted)) >= 0) inspector(insp, Number(wanted));
    });
  }).catch(TL.fail);
})();
