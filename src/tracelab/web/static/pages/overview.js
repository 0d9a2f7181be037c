// Overview: headline KPIs (from metrics.overview), provider split, date range, figure gallery.
(function () {
  "use strict";
  var el = TL.el;
  var KPIS = [
    ["sessions", "sessions", "int"], ["steps", "LLM steps", "int"], ["tool_calls", "tool calls", "int"],
    ["input_tokens", "input tokens", "tokens"], ["prefix_tokens", "prefix (cache read)", "tokens"],
    ["append_tokens", "append (fresh)", "tokens"], ["cache_write_5m_tokens", "5-minute cache writes", "tokens"],
    ["cache_write_1h_tokens", "1-hour cache writes", "tokens"], ["output_tokens", "output tokens", "tokens"],
    ["cost", "est. API price equiv.", "usd"], ["cache_savings", "saved by the prompt cache", "usd"],
    ["prefix_hit_rate", "prefix hit rate", "pct"],
  ];

  // A cost says next to the number how many steps it leaves out (unpriced models).
  function kpiValue(k, total) {
    var text = TL.format(k[2], total[k[0]]);
    if (k[0] === "cost" && total.unpriced_steps > 0) {
      return [text, el("span", { class: "unpriced", text: " (" + total.unpriced_steps.toLocaleString() + " steps unpriced)" })];
    }
    return [text];
  }

  function kpis(total) {
    return el("div", { class: "kpis", id: "kpis" }, KPIS.map(function (k) {
      return el("div", { class: "kpi", "data-key": k[0] }, [el("div", { class: "v" }, kpiValue(k, total)), el("div", { class: "l", text: k[1] })]);
    }));
  }

  // Where the prices came from and how many steps each way priced (every cost figure says so).
  function pricesNote(p, total) {
    if (!p) return null;
    var n = function (v) { return (v || 0).toLocaleString(); };
    var unsplit = total.cache_write_unsplit_tokens > 0
      ? " " + TL.format("tokens", total.cache_write_unsplit_tokens) + " cache-write tokens have no 5m/1h split in the log (billed as 5-minute writes)."
      : "";
    return el("p", { class: "muted", id: "prices-note", text: "Prices: " + p.source + "; of " + n(p.steps) + " steps " + n(p.priced_exact) + " priced exactly, " +
      n(p.priced_fallback) + " by family fallback, " + n(p.unpriced_steps) + " unpriced." + unsplit });
  }

  function gallery(box) {
    function draw(data) {
      var figs = [];
      data.experiments.forEach(function (e) {
        e.figures.forEach(function (f) { figs.push([e, f]); });
      });
      var job = data.job;
      var head = job && job.state !== "done"
        ? [el("p", { class: "muted", text: TL.jobText(job) }), TL.progressBar(job.total ? job.done / job.total : 0)]
        : [];
      var items = figs.map(function (p) {
        var src = "/api/t/" + encodeURIComponent(TL.traceId) + "/figure.png?exp=" + encodeURIComponent(p[0].id) + "&name=" + encodeURIComponent(p[1].name);
        return el("figure", {}, [
          el("a", { href: TL.link("/experiments") + "#" + encodeURIComponent(p[0].id) }, [el("img", { src: src, alt: p[1].title, loading: "lazy" })]),
          el("figcaption", { text: p[1].title + " · " + p[0].study_item }),
        ]);
      });
      box.replaceChildren.apply(box, head.concat([el("div", { class: "gallery" }, items)]));
      if (job && (job.state === "running" || job.state === "queued")) setTimeout(load, 2000);
    }
    function load() { TL.tapi("/experiments").then(draw, function (e) { box.textContent = e.message; }); }
    load();
  }

  TL.ready().then(function (id) {
    if (!id) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    return TL.tapi("/overview").then(function (data) {
      var total = data.headline.filter(function (r) { return r.provider === "total"; })[0] || {};
      var per = data.headline.filter(function (r) { return r.provider !== "total"; });
      var split = el("div", { class: "chart", id: "provider-split" });
      var galleryBox = el("div", { id: "gallery" }, [el("p", { class: "muted", text: "Starting the experiments…" })]);
      var unpriced = per.filter(function (r) { return r.unpriced_steps > 0; }).map(function (r) {
        return r.unpriced_steps.toLocaleString() + " " + r.provider + " steps use models without a price; they carry no cost.";
      });
      TL.content([
        el("p", {}, [el("strong", { text: data.trace.label }), " · ",
          el("span", { class: "muted", text: "from " + TL.fmt.date(total.first_at) + " to " + TL.fmt.date(total.last_at) + " (UTC)" })]),
        kpis(total),
        pricesNote(data.prices, total),
        unpriced.length ? el("p", { class: "muted", text: unpriced.join(" ") }) : null,
        el("h2", { text: "By provider" }),
        el("div", { class: "grid" }, [
          TL.card("Headline per provider", "Token-weighted hit rate: Σ prefix / Σ (prefix + append).", TL.table([
            { key: "provider", label: "provider" }, { key: "sessions", label: "sessions", kind: "int" },
            { key: "steps", label: "steps", kind: "int" }, { key: "tool_calls", label: "tool calls", kind: "int" },
            { key: "input_tokens", label: "input", kind: "tokens" }, { key: "output_tokens", label: "output", kind: "tokens" },
            { key: "cost", label: "cost", value: function (r) { return TL.format("usd", r.cost) + (r.unpriced_steps > 0 ? " (" + r.unpriced_steps.toLocaleString() + " unpriced)" : ""); } },
            { key: "prefix_hit_rate", label: "hit rate", kind: "pct" },
            { key: "first_at", label: "first", value: function (r) { return TL.fmt.date(r.first_at).slice(0, 10); } },
            { key: "last_at", label: "last", value: function (r) { return TL.fmt.date(r.last_at).slice(0, 10); } },
          ], data.headline)),
          TL.card("Steps by provider", null, split),
        ]),
        el("h2", { text: "The study's figures for this trace" }),
        galleryBox,
      ]);
      TL.plot(split, [{
        type: "pie", labels: per.map(function (r) { return r.provider; }), values: per.map(function (r) { return r.steps; }),
        marker: { colors: per.map(function (r) { return TL.providerColor(r.provider); }) }, hole: 0.45, sort: false,
      }], { margin: { l: 10, r: 10, t: 10, b: 10 } });
      gallery(galleryBox);
    });
  }).catch(TL.fail);
})();
