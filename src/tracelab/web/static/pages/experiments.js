// Experiments: every experiment of the study on this trace — README (question, definitions,
// result in words), tables and figures — as the HTML report shows them. Runs in the background
// on first visit; the list fills in as experiments finish.
(function () {
  "use strict";
  var el = TL.el;

  function drawCharts(root) {
    root.querySelectorAll(".plotly-chart").forEach(function (div) {
      try {
        var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
        var layout = Object.assign({}, spec.layout || {}, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: TL.cssVar("--fg") } });
        Plotly.newPlot(div, spec.data || [], layout, { responsive: true, displaylogo: false });
      } catch (err) {
        div.textContent = "Interactive chart unavailable (" + err + "); see the static figure.";
      }
    });
  }

  TL.ready().then(function (id) {
    if (!id) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    var list = el("div", { class: "exp-list", id: "exp-list" });
    var body = el("div", { class: "exp-body", id: "exp-body" }, [el("p", { class: "muted", text: "Pick an experiment." })]);
    var status = el("div", { id: "exp-status" });
    TL.content([status, el("div", { class: "split" }, [list, body])]);
    var current = decodeURIComponent(location.hash.slice(1)) || null;
    var shown = null;

    function open(expId) {
      current = expId;
      history.replaceState(null, "", "#" + encodeURIComponent(expId));
      list.querySelectorAll("a").forEach(function (a) { a.classList.toggle("active", a.dataset.id === expId); });
      TL.tapi("/experiment?id=" + encodeURIComponent(expId)).then(function (r) {
        shown = expId;
        body.innerHTML = r.html;  // built by tracelab.report: every trace value HTML-escaped
        drawCharts(body);
      }).catch(function (e) {
        body.replaceChildren(el("p", { class: "muted", text: e.status === 404 ? "Not run yet — it will appear when the run reaches it." : e.message }));
      });
    }
    function refresh() {
      TL.tapi("/experiments").then(function (data) {
        var job = data.job, cat = null, items = [];
        data.experiments.forEach(function (e) {
          if (e.category !== cat) { cat = e.category; items.push(el("div", { class: "cat", text: e.category_title })); }
          items.push(el("a", { href: "#" + encodeURIComponent(e.id), "data-id": e.id, class: (e.id === current ? "active " : "") + "status-" + e.status,
            title: e.question, onclick: function (ev) { ev.preventDefault(); open(e.id); } }, [e.title + (e.status === "failed" ? " (failed)" : e.status === "pending" ? " …" : "")]));
        });
        list.replaceChildren.apply(list, items);
        var running = job && (job.state === "running" || job.state === "queued");
        status.replaceChildren.apply(status, running ? [el("p", { class: "muted", text: TL.jobText(job) }), TL.progressBar(job.total ? job.done / job.total : 0)]
          : job && job.state === "error" ? [el("div", { class: "error", text: job.error })] : []);
        if (!current && data.experiments.length) current = data.experiments[0].id;
        var ready = data.experiments.filter(function (e) { return e.id === current && e.status !== "pending"; }).length;
        if (current && ready && shown !== current) open(current);
        if (running) setTimeout(refresh, 1500);
      }).catch(TL.fail);
    }
    refresh();
  }).catch(TL.fail);
})();
