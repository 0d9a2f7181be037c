// Session: the step timeline (stacked prefix/append bars, output line, user messages marked,
// zoom with drag; long sessions drawn in bins until zoomed in) and the step inspector. Tool inputs are fetched only when
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
        { key: "tool_name", label: "tool" },
        // a message's size is its content_chars, a tool result's its result_chars
        { key: "chars", label: "chars", kind: "int", value: function (e) { return e.content_chars !== null && e.content_chars !== undefined ? e.content_chars : e.result_chars; } },
      ], d.events);
      events.id = "events-table";
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

  // Above this many steps the timeline draws bins of consecutive steps (each bar the bin's
  // step with the largest context, so the envelope is exact) until the user zooms in: a
  // bar per step of a 9,000-step session blocks the page for seconds.
  var MAX_BARS = 400;

  function timeline(steps, width) {
    var bins = [];
    for (var i = 0; i < steps.length; i += width) {
      var chunk = steps.slice(i, i + width), top = chunk[0], out = 0, user = false, err = false;
      chunk.forEach(function (r) {
        if (r.context > top.context) top = r;
        out = Math.max(out, r.output); user = user || r.is_user; err = err || r.tool_errors > 0;
      });
      bins.push({ x: width > 1 ? (chunk[0].seq + chunk[chunk.length - 1].seq) / 2 : top.seq, top: top, output: out, user: user, err: err,
        label: width > 1 ? "steps " + chunk[0].seq + "–" + chunk[chunk.length - 1].seq : "step " + top.seq });
    }
    var maxCtx = Math.max.apply(null, bins.map(function (b) { return b.top.context; }).concat([1]));
    var x = bins.map(function (b) { return b.x; }), pk = bins.map(function (b) { return b.top.round_pk; });
    var text = bins.map(function (b) { return b.label; });
    var users = bins.filter(function (b) { return b.user; }), errs = bins.filter(function (b) { return b.err; });
    var hover = width > 1 ? "%{text} (the largest context's step): %{y:,}<extra>%{fullData.name}</extra>" : "%{text}: %{y:,}<extra>%{fullData.name}</extra>";
    return [
      { type: "bar", name: "prefix", x: x, y: bins.map(function (b) { return b.top.prefix; }), width: width * 0.95, marker: { color: TL.palette.tokens.prefix }, customdata: pk, text: text, textposition: "none", hovertemplate: hover },
      { type: "bar", name: "append", x: x, y: bins.map(function (b) { return b.top.append; }), width: width * 0.95, marker: { color: TL.palette.tokens.append }, customdata: pk, text: text, textposition: "none", hovertemplate: hover },
      { type: "scatter", mode: "lines", name: width > 1 ? "output (bin max)" : "output", x: x, y: bins.map(function (b) { return b.output; }), yaxis: "y2", line: { color: TL.palette.tokens.output, width: 1.5 }, customdata: pk, text: text, hovertemplate: hover },
      { type: "scatter", mode: "markers", name: "user message", x: users.map(function (b) { return b.x; }), y: users.map(function () { return maxCtx * 1.04; }), marker: { symbol: "triangle-down", size: 9, color: TL.cssVar("--fg") }, customdata: users.map(function (b) { return b.top.round_pk; }), text: users.map(function (b) { return b.label; }), hovertemplate: "%{text}: user message<extra></extra>" },
      { type: "scatter", mode: "markers", name: "tool error", x: errs.map(function (b) { return b.x; }), y: errs.map(function () { return maxCtx * 1.08; }), marker: { symbol: "x", size: 8, color: TL.cssVar("--bad") }, customdata: errs.map(function (b) { return b.top.round_pk; }), text: errs.map(function (b) { return b.label; }), hovertemplate: "%{text}: tool error<extra></extra>" },
    ];
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
      if (s.subagent_sessions > 0) {
        facts.push(["own cost", TL.fmt.usd(s.own_cost)], ["subagents' cost (" + s.subagent_sessions + " sessions)", TL.fmt.usd(s.subagent_cost) + " · " + TL.fmt.share(s.subagent_share)]);
      }
      var family = [];
      if (s.nested) {
        family.push(el("p", { id: "parent-link" }, ["A subagent of ", el("a", { href: TL.link("/session", { id: s.parent_session_id }), text: s.parent_session_id }), "; its cost is counted in that session's too."]));
      }
      if (d.subagents && d.subagents.length) {
        family.push(el("h2", { text: "Subagent sessions" }), TL.table([
          { key: "session_id", label: "session", value: function (r) { return el("a", { href: TL.link("/session", { id: r.session_id }), text: r.session_id }); } },
          { key: "started_at", label: "started (UTC)", value: function (r) { return TL.fmt.date(r.started_at); } },
          { key: "model", label: "model" }, { key: "steps", label: "steps", kind: "int" },
          { key: "cost", label: "cost (with its own subagents)", kind: "usd" },
        ], d.subagents));
        family[family.length - 1].id = "subagents-table";
      }
      var chart = el("div", { id: "timeline", class: "chart" });
      var insp = el("div", { class: "inspector", id: "inspector" }, [el("p", { class: "muted", text: "Click a step in the timeline to inspect it." })]);
      TL.content([
        el("div", { class: "kpis" }, facts.map(function (f) { return el("div", { class: "kpi" }, [el("div", { class: "v", style: "font-size:16px", text: f[1] || "–" }), el("div", { class: "l", text: f[0] })]); })),
      ].concat(family, [
        el("h2", { text: "Step timeline" }),
        el("p", { class: "muted", text: "Bars: prefix (cache read) and append (fresh) input tokens per step; line: output tokens (right axis); ▼ marks steps that start with a user message. Drag to zoom, double-click to reset." + (steps.length > MAX_BARS ? " This session has " + steps.length.toLocaleString() + " steps: each bar stands for a bin of consecutive steps (the one with the largest context) until you zoom in to " + MAX_BARS + " steps or fewer." : "") }),
        chart, insp,
      ]));
      var pks = steps.map(function (r) { return r.round_pk; });
      var full = timeline(steps, steps.length > MAX_BARS ? Math.ceil(steps.length / MAX_BARS) : 1);
      var layout = {
        barmode: "stack", bargap: 0.05, height: 420, dragmode: "zoom",
        xaxis: { title: { text: "step" } },
        yaxis: { title: { text: "input tokens" } },
        yaxis2: { title: { text: "output tokens" }, overlaying: "y", side: "right", showgrid: false, rangemode: "tozero" },
        margin: { r: 60, t: 30 }, legend: { orientation: "h", x: 0, y: 1.12 },
      };
      TL.plot(chart, full, layout);
      if (steps.length > MAX_BARS) {
        // Zoomed in to at most MAX_BARS steps: draw them one bar each; zoomed out: the bins.
        var binned = true;
        chart.on("plotly_relayout", function (ev) {
          var lo = ev["xaxis.range[0]"], hi = ev["xaxis.range[1]"];
          if (ev["xaxis.autorange"]) {
            if (!binned) { binned = true; Plotly.react(chart, full, chart.layout); }
            return;
          }
          if (lo === undefined || hi === undefined) return;
          var shown = steps.filter(function (r) { return r.seq >= lo - 1 && r.seq <= hi + 1; });
          var fine = shown.length <= MAX_BARS;
          if (fine) { binned = false; Plotly.react(chart, timeline(shown, 1), chart.layout); }
          else if (!binned) { binned = true; Plotly.react(chart, full, chart.layout); }
        });
      }
      chart.on("plotly_click", function (ev) {
        var pk = ev.points[0].customdata;
        if (pk !== undefined) { inspector(insp, pk); }
      });
      TL.rendered();
      var wanted = TL.params.get("step");
      if (wanted !== null && pks.indexOf(Number(wanted)) >= 0) inspector(insp, Number(wanted));
    });
  }).catch(TL.fail);
})();
