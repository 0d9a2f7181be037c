// Compare: two groups side by side on the headline facts — the providers of a trace, any two
// of its models, or two traces; the better value is marked only where the metric has a
// direction.
(function () {
  "use strict";
  var el = TL.el;
  var GROUPINGS = [["provider", "providers"], ["model", "models"]];

  TL.ready().then(function (id) {
    if (!id) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    var traces = TL.status.traces;
    var q = TL.params;
    var state = {
      by: q.get("by") === "model" ? "model" : "provider",
      a: q.get("a") || id, ga: q.get("ga"), b: q.get("b") || id, gb: q.get("gb"),
    };
    var out = el("div", { id: "compare-out" });
    TL.content([out]);

    function byPicker() {
      var s = el("select", { id: "pick-by" }, GROUPINGS.map(function (g) {
        return el("option", { value: g[0], selected: g[0] === state.by, text: g[1] });
      }));
      s.onchange = function () { state.by = s.value; state.ga = null; state.gb = null; load(); };
      return el("label", {}, ["compare ", s]);
    }
    function picker(side, data) {
      var t = el("select", { id: "pick-" + side }, traces.map(function (tr) { return el("option", { value: tr.id, selected: tr.id === data.trace.id, text: tr.label }); }));
      var g = el("select", { id: "pick-g" + side }, data.groups.map(function (gr) { return el("option", { value: gr, selected: gr === data.group, text: gr }); }));
      t.onchange = function () { state[side] = t.value; state["g" + side] = null; load(); };
      g.onchange = function () { state["g" + side] = g.value; load(); };
      return el("label", {}, [side.toUpperCase() + ": ", t, " ", g]);
    }
    function load() {
      var p = new URLSearchParams();
      Object.keys(state).forEach(function (k) { if (state[k]) p.set(k, state[k]); });
      TL.api("/api/compare?" + p.toString()).then(function (r) {
        state.ga = r.a.group; state.gb = r.b.group;
        history.replaceState(null, "", "?" + p.toString());
        var labelA = r.a.trace.label + " · " + r.a.group, labelB = r.b.trace.label + " · " + r.b.group;
        var unpriced = r.rows.filter(function (row) { return row.key === "unpriced_steps"; })[0] || {};
        // a cost says how many steps it leaves out
        function cell(row, side) {
          var text = TL.format(row.kind, row[side]);
          if (row.key === "cost" && unpriced[side] > 0) text += " (" + unpriced[side].toLocaleString() + " steps unpriced)";
          return text;
        }
        var rows = r.rows.map(function (row) {
          return el("tr", { "data-key": row.key }, [
            el("td", { text: row.label }),
            el("td", { class: "num" + (row.better === "a" ? " better" : ""), text: cell(row, "a") }),
            el("td", { class: "num" + (row.better === "b" ? " better" : ""), text: cell(row, "b") }),
            el("td", { class: "muted", text: row.direction === 1 ? "higher is better" : row.direction === -1 ? "lower is better" : "" }),
          ]);
        });
        out.replaceChildren(
          el("div", { class: "filters" }, [byPicker(), picker("a", r.a), picker("b", r.b)]),
          el("table", { class: "data", id: "compare-table", "data-by": r.by, "data-a": r.a.group, "data-b": r.b.group }, [
            el("thead", {}, [el("tr", {}, [el("th", { text: "metric" }), el("th", { class: "num", text: labelA }), el("th", { class: "num", text: labelB }), el("th", { text: "" })])]),
            el("tbody", {}, rows),
          ]),
          el("p", { class: "muted", text: "▲ marks the better value where the metric has a direction; counts, volumes and cost depend on how much each was used and are not judged." + (r.by === "model" ? " Per model, a request counts for the model of its first step." : "") }));
      }).catch(function (e) { out.replaceChildren(el("div", { class: "error", text: e.message })); });
    }
    load();
  }).catch(TL.fail);
})();
