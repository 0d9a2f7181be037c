// Dashboard: activity calendar, hour × weekday heatmap (local time), cost by model, the
// distributions and highlights, from the two cached parts of /api/t/<id>/dashboard.
(function () {
  "use strict";
  var el = TL.el;
  // Axes of numbers (and of weekdays, hours, short bins) have tick labels of bounded width:
  // they take the default margins (`automargin: false`). An automargin axis redraws its chart
  // when a label pushes the margin, which was a third of this page's drawing time; the axes of
  // names (models, projects, tools) and of dates keep it.
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  function byProvider(rows, key) {
    var out = {};
    rows.forEach(function (r) { (out[r.provider] = out[r.provider] || []).push(r); });
    return out;
  }
  function cdfTraces(curves, xs) {
    return Object.keys(curves).map(function (p) {
      return { type: "scatter", mode: "lines", name: p, x: curves[p].x.map(xs || function (v) { return v; }), y: curves[p].y, line: { color: TL.providerColor(p) } };
    });
  }
  function box(id, title, note) {
    var div = el("div", { id: id });
    return { div: div, card: TL.card(title, note, div) };
  }

  // The calendar of steps or cost per local day (`metric`: "steps" | "cost").
  function calendar(div, daily, metric) {
    var perDay = {}, isCost = metric === "cost";
    daily.forEach(function (r) {
      var v = isCost ? r.cost : r.steps;
      perDay[r.day] = (perDay[r.day] || 0) + (typeof v === "number" ? v : 0);
    });
    var days = Object.keys(perDay).sort();
    if (!days.length) { TL.noData(div, "No timestamps in this trace."); return; }
    var start = new Date(days[0] + "T00:00:00Z"), end = new Date(days[days.length - 1] + "T00:00:00Z");
    start.setUTCDate(start.getUTCDate() - ((start.getUTCDay() + 6) % 7)); // back to Monday
    var weeks = [], z = [[], [], [], [], [], [], []], text = [[], [], [], [], [], [], []];
    var show = isCost ? TL.fmt.usd : function (v) { return (v || 0).toLocaleString() + " steps"; };
    for (var d = new Date(start); d <= end; d.setUTCDate(d.getUTCDate() + 7)) {
      weeks.push(d.toISOString().slice(0, 10));
      for (var i = 0; i < 7; i++) {
        var day = new Date(d); day.setUTCDate(day.getUTCDate() + i);
        var key = day.toISOString().slice(0, 10);
        var v = day > end ? null : (perDay[key] || 0);
        z[i].push(v); text[i].push(key + ": " + show(v || 0));
      }
    }
    TL.plot(div, [{ type: "heatmap", x: weeks, y: DAYS, z: z, text: text, hoverinfo: "text", colorscale: isCost ? "Oranges" : "Greens", reversescale: !isCost, xgap: 2, ygap: 2, colorbar: { title: { text: isCost ? "USD" : "steps" } } }],
      { yaxis: { autorange: "reversed", automargin: false }, xaxis: { type: "category", showticklabels: weeks.length < 60, title: { text: "week of" } } });
    div.dataset.metric = metric;
  }

  function heatmap(div, cells, tz) {
    if (!cells.length) { TL.noData(div, "No timestamps in this trace."); return; }
    var z = DAYS.map(function () { return new Array(24).fill(0); });
    cells.forEach(function (c) { z[c.weekday - 1][c.hour] = c.steps; });
    TL.plot(div, [{ type: "heatmap", x: Array.from({ length: 24 }, function (_, h) { return h; }), y: DAYS, z: z, colorscale: "Blues", reversescale: true, colorbar: { title: { text: "steps" } } }],
      { yaxis: { autorange: "reversed", automargin: false }, xaxis: { title: { text: "hour of day (" + tz + ")" }, dtick: 2, automargin: false } });
  }

  // Priced models as stacked bars; an unpriced model keeps its row, marked "unpriced".
  function costByModel(div, rows) {
    var shown = rows.slice(0, 20), tokens = TL.palette.tokens;
    var label = function (r) {
      if (r.total === null) return r.model + " (unpriced)";
      return r.unpriced_steps > 0 ? r.model + " (" + r.unpriced_steps.toLocaleString() + " steps unpriced)" : r.model;
    };
    var models = shown.map(label);
    var parts = [["cached", "cached (prefix)", tokens.prefix], ["fresh_input", "fresh input (append)", tokens.input],
      ["write_5m", "5-minute cache writes", tokens.write_5m], ["write_1h", "1-hour cache writes", tokens.write_1h], ["output", "output", tokens.output]];
    var unpriced = shown.filter(function (r) { return r.total === null; });
    TL.plot(div, parts.map(function (p) {
      return { type: "bar", name: p[1], y: models, x: shown.map(function (r) { return r[p[0]]; }), orientation: "h", marker: { color: p[2] } };
    }).concat(unpriced.length ? [{ type: "scatter", mode: "text", name: "unpriced", showlegend: false, y: unpriced.map(label), x: unpriced.map(function () { return 0; }),
      text: unpriced.map(function (r) { return "  no price · " + r.steps.toLocaleString() + " steps"; }), textposition: "middle right", hoverinfo: "skip" }] : []),
    { barmode: "stack", xaxis: { title: { text: "USD (API price equivalent)" }, rangemode: "tozero", automargin: false }, yaxis: { autorange: "reversed", type: "category" }, margin: { l: 150 },
      height: Math.max(300, 60 + 26 * models.length) });
    if (unpriced.length) {
      div.parentNode.appendChild(el("p", { class: "note", id: "unpriced-models", text: "Unpriced (no cost counted): " + unpriced.map(function (r) { return r.model + " (" + r.steps.toLocaleString() + " steps)"; }).join(", ") + "." }));
    }
  }

  // Stacked bars per project and provider, the costliest first; the rest as one bar.
  function costByProject(div, data) {
    var rows = data.projects.slice();
    var otherName = data.other_projects ? "(" + data.other_projects + " other projects)" : null;
    if (otherName) data.other.forEach(function (r) { rows.push(Object.assign({ project: otherName }, r)); });
    var name = function (r) { return r.project === null ? "(no project)" : r.project; };
    var order = [];
    rows.forEach(function (r) { if (order.indexOf(name(r)) < 0) order.push(name(r)); });
    var groups = byProvider(rows);
    TL.plot(div, Object.keys(groups).map(function (p) {
      var g = groups[p];
      return { type: "bar", orientation: "h", name: p, y: g.map(name), x: g.map(function (r) { return r.cost; }), marker: { color: TL.providerColor(p) },
        customdata: g.map(function (r) { return [r.steps, r.unpriced_steps]; }),
        hovertemplate: "%{y}<br>%{x:$,.2f} · %{customdata[0]:,} steps (%{customdata[1]:,} unpriced)<extra>" + p + "</extra>" };
    }), { barmode: "stack", xaxis: { title: { text: "USD (API price equivalent)" }, automargin: false },
      yaxis: { autorange: "reversed", type: "category", categoryorder: "array", categoryarray: order, automargin: true },
      margin: { l: 150 }, height: Math.max(300, 60 + 24 * order.length) }, null, "No step has a project in this trace.");
  }

  function latencyByTool(div, rows) {
    var tools = rows.filter(function (r) { return r.provider !== "all" && r.rank > 0 && r.timed_calls > 0; });
    var groups = byProvider(tools);
    TL.plot(div, Object.keys(groups).map(function (p) {
      var g = groups[p];
      return { type: "scatter", mode: "markers", name: p + " p50 (bar: p25–p90)", y: g.map(function (r) { return p + ": " + r.tool; }),
        x: g.map(function (r) { return r.p50; }), marker: { color: TL.providerColor(p), size: 9 },
        error_x: { type: "data", symmetric: false, array: g.map(function (r) { return r.p90 - r.p50; }), arrayminus: g.map(function (r) { return r.p50 - r.p25; }) },
        customdata: g.map(function (r) { return [r.calls, r.p99]; }),
        hovertemplate: "%{y}<br>p50 %{x:.0f} ms<br>calls %{customdata[0]}<br>p99 %{customdata[1]:.0f} ms<extra></extra>" };
    }), { xaxis: { type: "log", title: { text: "effective latency (ms, log)" }, automargin: false }, yaxis: { autorange: "reversed" }, margin: { l: 190 }, height: 420 }, null, "No timed tool calls in this trace.");
  }

  // Horizontal bars: tool names read along the bars instead of rotated under them.
  function toolCounts(div, rows) {
    var groups = byProvider(rows), names = [];
    rows.forEach(function (r) { if (names.indexOf(r.tool) < 0) names.push(r.tool); });
    TL.plot(div, Object.keys(groups).map(function (p) {
      var g = groups[p];
      return { type: "bar", orientation: "h", name: p, y: g.map(function (r) { return r.tool; }), x: g.map(function (r) { return r.calls; }), marker: { color: TL.providerColor(p) },
        customdata: g.map(function (r) { return [r.share, r.error_rate]; }), hovertemplate: "%{y}: %{x} calls (%{customdata[0]:.1%}), errors %{customdata[1]:.1%}<extra>" + p + "</extra>" };
    }), { barmode: "group", xaxis: { type: "log", title: { text: "calls (log)" }, automargin: false },
      yaxis: { type: "category", autorange: "reversed", categoryorder: "array", categoryarray: names, automargin: true },
      height: Math.max(320, 70 + 16 * names.length * Math.max(1, Object.keys(groups).length)) }, null, "No tool calls in this trace.");
  }

  function scatter(div, data) {
    var traces = Object.keys(data.groups).map(function (p) {
      var g = data.groups[p];
      return { type: "scatter", mode: "markers", name: p, x: g.x.map(function (v) { return v + 1; }), y: g.y.map(function (v) { return v + 1; }),
        marker: { color: TL.providerColor(p), size: 4, opacity: 0.5 }, customdata: g.session.map(function (s, i) { return [s, g.step[i]]; }),
        hovertemplate: "prefix %{x}<br>append %{y}<extra>" + p + " (click: open)</extra>" };
    });
    TL.plot(div, traces, { xaxis: { type: "log", title: { text: "prefix tokens + 1 (log)" }, automargin: false }, yaxis: { type: "log", title: { text: "append tokens + 1 (log)" }, automargin: false } }, null, "No step with input tokens.");
    if (div.on) div.on("plotly_click", function (ev) {
      var cd = ev.points[0].customdata;
      location.href = TL.link("/session", { id: cd[0], step: cd[1] });
    });
  }

  function outputHist(div, data) {
    var groups = byProvider(data.bins);
    var n = data.per_decade;
    TL.plot(div, Object.keys(groups).map(function (p) {
      var g = groups[p];
      return { type: "bar", name: p, x: g.map(function (r) { return Math.pow(10, (r.bin + 0.5) / n); }), y: g.map(function (r) { return r.steps; }),
        width: g.map(function (r) { return Math.pow(10, (r.bin + 1) / n) - Math.pow(10, r.bin / n); }), marker: { color: TL.providerColor(p) }, opacity: 0.7 };
    }), { barmode: "overlay", xaxis: { type: "log", title: { text: "output tokens per step (log)" }, automargin: false }, yaxis: { title: { text: "steps" }, automargin: false } }, null, "No step with output tokens.");
  }

  function hitBins(div, data) {
    var groups = byProvider(data.counts), width = 100 / data.bins;
    function pct(x) { return String(Math.round(x * 10) / 10); }
    function label(bin) { return pct(bin * width) + "–" + pct((bin + 1) * width) + "%"; }
    // every bin in order on the axis: a bin only one provider has must not land at the end
    var order = [];
    for (var b = 0; b < data.bins; b++) { order.push(label(b)); }
    TL.plot(div, Object.keys(groups).map(function (p) {
      var g = groups[p], total = g.reduce(function (s, r) { return s + r.steps; }, 0);
      return { type: "bar", name: p, x: g.map(function (r) { return label(r.bin); }), y: g.map(function (r) { return r.steps / total; }), marker: { color: TL.providerColor(p) },
        customdata: g.map(function (r) { return r.steps; }), hovertemplate: "%{x}: %{customdata} steps (%{y:.1%})<extra>" + p + "</extra>" };
    }), { barmode: "group", yaxis: { tickformat: ".0%", title: { text: "share of steps" }, automargin: false }, xaxis: { title: { text: "step hit ratio prefix / (prefix + append)" }, categoryorder: "array", categoryarray: order, automargin: false } }, null, "No step with input tokens.");
  }

  function highlights(data) {
    return el("div", { class: "highlights", id: "highlights" }, data.map(function (h) {
      var extra = { id: h.session_id };
      if (h.step !== null && h.step !== undefined) extra.step = h.step;
      return el("a", { class: "kpi", href: TL.link("/session", extra), style: "text-decoration:none;color:inherit" }, [
        el("div", { class: "v", text: h.kind === "steps" ? TL.fmt.int(h.value) : TL.format(h.kind === "count" ? "int" : h.kind, h.value) }),
        el("div", { class: "l", text: h.title + " · " + (h.provider || "") }),
      ]);
    }));
  }

  // The two parts of the dashboard are asked for at once, while the browser still evaluates
  // the Plotly bundle; the `steps` part (activity, cost and token charts) is drawn as soon as
  // it is there with the highlights, the `tools` part (tool and timing charts) once it arrives.
  var tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  function ask(part) {
    var answer = TL.tapi("/dashboard?tz=" + encodeURIComponent(tz) + "&part=" + part);
    answer.catch(function () { /* shown once, by the chain that draws */ });
    return answer;
  }
  var asked = TL.resolveTrace().then(function (id) { return id ? { steps: ask("steps"), tools: ask("tools") } : null; });
  TL.ready().then(function () { return asked; }).then(function (parts) {
    if (!parts) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    var page = parts.steps.then(function (d) {
      var c = {
        cal: box("chart-calendar", "Daily activity", "Steps or cost (API price equivalent) per day (" + d.timezone + ")."),
        heat: box("chart-heatmap", "Hour × weekday", "Steps by local hour and weekday (" + d.timezone + ")."),
        cost: box("chart-cost", "Cost by model", "API price equivalent of cached (prefix), fresh (append: uncached input, 5-minute and 1-hour cache writes) and output tokens; a model without a price is listed as unpriced."),
        proj: box("chart-cost-project", "Cost by project", "API price equivalent per project (the sessions' working directory) and provider."),
        lcdf: box("chart-tool-cdf", "Tool latency CDF", "Effective latency (internal if reported, else wall), calls with latency > 0."),
        lbt: box("chart-latency-by-tool", "Latency by tool", "p50 with a p25–p90 bar, the most-called tools per provider."),
        tc: box("chart-tool-counts", "Tool calls", "Top tools per provider, the rest as Other."),
        sc: box("chart-scatter", "Prefix vs append", "A seeded sample of " + d.scatter.sampled.toLocaleString() + " of " + (d.scatter.population || 0).toLocaleString() + " steps with input; click a point to open its session."),
        out: box("chart-output", "Output tokens", "Steps per log bin of output tokens (" + d.output_hist.per_decade + " bins per decade)."),
        gen: box("chart-gen-cdf", "Generation time CDF", "Observable generation time (input event → last output event), > 0 only."),
        hit: box("chart-hit-bins", "Step hit ratio", "Share of steps per " + (Math.round(1000 / d.hit_ratio_bins.bins) / 10) + "% bin of prefix / (prefix + append)."),
        wait: box("chart-wait-cdf", "Human wait CDF", "Time before each user message since the previous event, > 0 only."),
      };
      c.high = highlights(d.highlights);
      TL.content([
        el("h2", { text: "Highlights" }), c.high,
        el("h2", { text: "Activity" }), el("div", { class: "grid" }, [c.cal.card, c.heat.card]),
        el("h2", { text: "Cost" }), el("div", { class: "grid" }, [c.cost.card, c.proj.card]),
        el("h2", { text: "Distributions" }),
        el("div", { class: "grid" }, [c.lcdf.card, c.lbt.card, c.tc.card, c.sc.card, c.out.card, c.gen.card, c.hit.card, c.wait.card]),
      ]);
      var metric = el("select", { id: "calendar-metric", "aria-label": "calendar shows" }, [
        el("option", { value: "steps", text: "steps" }), el("option", { value: "cost", text: "cost" })]);
      metric.onchange = function () { calendar(c.cal.div, d.daily, metric.value); };
      c.cal.card.querySelector("h3").appendChild(el("label", { class: "cal-switch" }, ["show ", metric]));
      calendar(c.cal.div, d.daily, "steps");
      heatmap(c.heat.div, d.hour_weekday, d.timezone);
      costByModel(c.cost.div, d.cost_by_model);
      costByProject(c.proj.div, d.cost_by_project);
      scatter(c.sc.div, d.scatter);
      outputHist(c.out.div, d.output_hist);
      hitBins(c.hit.div, d.hit_ratio_bins);
      return c;
    });
    return Promise.all([page, parts.tools]).then(function (both) {
      var c = both[0], d = both[1];
      var logCdf = function (title) { return { xaxis: { type: "log", title: { text: title }, automargin: false }, yaxis: { title: { text: "share ≤ x" }, tickformat: ".0%", automargin: false } }; };
      TL.plot(c.lcdf.div, cdfTraces(d.tool_latency_cdf), logCdf("ms (log)"), null, "No timed tool calls in this trace.");
      latencyByTool(c.lbt.div, d.latency_by_tool);
      toolCounts(c.tc.div, d.tool_counts);
      TL.plot(c.gen.div, cdfTraces(d.generation_cdf, function (v) { return v / 1000; }), logCdf("seconds (log)"), null, "No step with a generation time > 0.");
      TL.plot(c.wait.div, cdfTraces(d.human_wait_cdf, function (v) { return v / 1000; }), logCdf("seconds (log)"), null, "No human wait > 0 (it needs an event before a user message).");
      TL.rendered();
    });
  }).catch(TL.fail);
})();
