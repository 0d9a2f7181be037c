// TraceLab web: helpers every page shares (API calls, formatting, charts, the trace picker,
// the theme toggle, background-job progress). No framework, no build step.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="tracelab-token"]').content;
  // The one palette (tracelab.palette), shared with the experiment figures.
  var palette = JSON.parse(document.querySelector('meta[name="tracelab-palette"]').content);
  var params = new URLSearchParams(location.search);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return node;
  }

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    if (options.method && options.method !== "GET") headers["X-TraceLab-Token"] = token;
    return fetch(path, Object.assign({}, options, { headers: headers })).then(function (r) {
      return r.text().then(function (text) {
        var body = parseBody(text);
        if (!r.ok) throw httpError(r.status, body);
        return body;
      });
    });
  }
  // A response's text as JSON (null when empty; {error: text} when it is not JSON).
  function parseBody(text) {
    try { return text ? JSON.parse(text) : null; } catch (e) { return { error: text }; }
  }
  // The Error of a failed response: its body's one-line `error`, else its HTTP status.
  function httpError(status, body) {
    var err = new Error((body && body.error) || ("HTTP " + status));
    err.status = status;
    return err;
  }
  function post(path) { return api(path, { method: "POST" }); }
  function del(path) { return api(path, { method: "DELETE" }); }

  // --- formatting: one way to show each kind of number -----------------------------------
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function si(v) {
    if (!isNum(v)) return "–";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + " B";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + " M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + " K";
    return Math.round(v).toLocaleString();
  }
  var fmt = {
    int: function (v) { return isNum(v) ? Math.round(v).toLocaleString() : "–"; },
    tokens: si,
    usd: function (v) {
      if (!isNum(v)) return "–";
      if (Math.abs(v) >= 100) return "$" + Math.round(v).toLocaleString();
      if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
      return "$" + v.toFixed(4);
    },
    pct: function (v) { return isNum(v) ? (v * 100).toFixed(1) + "%" : "–"; },
    float1: function (v) { return isNum(v) ? v.toFixed(1) : "–"; },
    ms: function (v) {
      if (!isNum(v)) return "–";
      var a = Math.abs(v);
      if (a < 1000) return Math.round(v) + " ms";
      if (a < 60e3) return (v / 1e3).toFixed(1) + " s";
      if (a < 3600e3) return (v / 60e3).toFixed(1) + " min";
      if (a < 86400e3) return (v / 3600e3).toFixed(1) + " h";
      return (v / 86400e3).toFixed(1) + " d";
    },
    date: function (v) { return v ? String(v).replace("T", " ").slice(0, 16) : "–"; },
    count: function (v) { return isNum(v) ? Math.round(v).toLocaleString() : "–"; },
    bytes: function (v) {
      if (!isNum(v)) return "–";
      var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
      while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
      return (i ? v.toFixed(1) : String(Math.round(v))) + " " + units[i];
    },
    share: function (v) { return isNum(v) ? Math.round(v * 100) + "%" : "–"; },
    localtime: function (epoch) {
      if (!isNum(epoch)) return "–";
      var d = new Date(epoch * 1000), pad = function (n) { return String(n).padStart(2, "0"); };
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
    },
    steps: function (v) { return isNum(v) ? Math.round(v).toLocaleString() + " steps" : "–"; },
    // any number as computed (a query's result): integers whole, others to 6 significant digits
    num: function (v) {
      if (!isNum(v)) return "–";
      return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumSignificantDigits: 6 });
    },
  };
  function format(kind, v) { return (fmt[kind] || fmt.float1)(v); }

  // --- charts -------------------------------------------------------------------------------
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  var seen = [];
  var providerColor = function (p) {
    if (palette.providers[p]) return palette.providers[p];
    if (seen.indexOf(p) < 0) seen.push(p);
    return palette.series[seen.indexOf(p) % palette.series.length];
  };
  function baseLayout(extra) {
    var fg = cssVar("--fg"), line = cssVar("--line");
    var layout = {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, size: 12 }, margin: { l: 56, r: 16, t: 30, b: 44 },
      // legends above the plot: below it they collide with rotated ticks and axis titles
      legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" }, hovermode: "closest",
      xaxis: { gridcolor: line, zerolinecolor: line, automargin: true },
      yaxis: { gridcolor: line, zerolinecolor: line, automargin: true },
    };
    Object.keys(extra || {}).forEach(function (k) {
      if (typeof extra[k] === "object" && !Array.isArray(extra[k]) && layout[k]) {
        layout[k] = Object.assign({}, layout[k], extra[k]);
      } else layout[k] = extra[k];
    });
    return layout;
  }
  var plotted = [];
  // Whether any trace has a value to draw (an empty chart says so instead of drawing axes).
  function hasData(traces) {
    return (traces || []).some(function (t) {
      return ["x", "y", "z", "values"].some(function (k) {
        return Array.isArray(t[k]) && t[k].some(function (v) {
          return v !== null && v !== undefined && !(Array.isArray(v) && !v.length);
        });
      });
    });
  }
  function noData(div, text) {
    div.classList.remove("chart");
    div.replaceChildren(el("p", { class: "nodata muted", "data-nodata": "1", text: text || "No data in this trace." }));
  }
  // `empty`: what to say when there is nothing to draw (default: "No data in this trace.").
  function plot(div, traces, layout, config, empty) {
    if (typeof Plotly === "undefined") { div.textContent = "Plotly failed to load."; return; }
    if (!hasData(traces)) { noData(div, empty); return; }
    div.classList.add("chart");
    // a chart taller than the default keeps its card as tall (no overflow into the next one)
    if (layout && layout.height) div.style.minHeight = layout.height + "px";
    Plotly.newPlot(div, traces, baseLayout(layout),
      Object.assign({ responsive: true, displaylogo: false }, config || {}));
    plotted.push(div);
  }
  function restyleAll() {
    plotted.forEach(function (div) {
      if (!document.body.contains(div)) return;
      var fg = cssVar("--fg"), line = cssVar("--line");
      Plotly.relayout(div, { "font.color": fg, "xaxis.gridcolor": line, "yaxis.gridcolor": line });
    });
  }
  function card(title, note, body) {
    return el("section", { class: "card" }, [el("h3", { text: title }), note ? el("div", { class: "note", text: note }) : null, body]);
  }
  function table(columns, rows, options) {
    options = options || {};
    var head = el("tr", {}, columns.map(function (c) {
      return el("th", { class: c.kind && c.kind !== "text" ? "num" : null, text: c.label });
    }));
    var body = rows.map(function (r) {
      var tr = el("tr", { class: options.onclick ? "clickable" : null }, columns.map(function (c) {
        var v = typeof c.value === "function" ? c.value(r) : r[c.key];
        var cell = el("td", { class: c.kind && c.kind !== "text" ? "num" : null });
        if (v instanceof Node) cell.appendChild(v);
        else cell.textContent = c.kind && c.kind !== "text" ? format(c.kind, v) : (v === null || v === undefined ? "–" : String(v));
        return cell;
      }));
      if (options.onclick) tr.addEventListener("click", function () { options.onclick(r); });
      return tr;
    });
    return el("table", { class: "data" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  // --- theme --------------------------------------------------------------------------------
  document.getElementById("theme-toggle").addEventListener("click", function () {
    var root = document.documentElement;
    var dark = root.dataset.theme ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    try { localStorage.setItem("tracelab-theme", root.dataset.theme); } catch (e) { /* ignore */ }
    restyleAll();
  });

  // --- jobs and the banner -----------------------------------------------------------------
  function jobText(job) {
    var parts = [job.title];
    if (job.stage) parts.push("— " + job.stage);
    if (job.total) parts.push("(" + Math.round(100 * job.done / job.total) + "%)");
    else if (job.done) parts.push("(" + si(job.done) + ")");
    return parts.join(" ");
  }
  function progressBar(fraction) {
    var inner = el("div");
    inner.style.width = Math.max(0, Math.min(100, 100 * (fraction || 0))) + "%";
    return el("div", { class: "progress" }, [inner]);
  }
  function pollJob(id, onUpdate, interval) {
    return new Promise(function (resolve, reject) {
      function tick() {
        api("/api/jobs/" + encodeURIComponent(id)).then(function (job) {
          onUpdate && onUpdate(job);
          if (job.state === "done") resolve(job);
          else if (job.state === "error") reject(Object.assign(new Error(job.error), { job: job }));
          else setTimeout(tick, interval || 500);
        }, reject);
      }
      tick();
    });
  }
  var banner = document.getElementById("banner");
  function showBanner(nodes, kind) {
    banner.hidden = false;
    banner.className = kind || "";
    banner.replaceChildren.apply(banner, nodes);
  }

  // --- the current trace --------------------------------------------------------------------
  function link(path, extra) {
    var q = new URLSearchParams(extra || {});
    if (TL.traceId) q.set("t", TL.traceId);
    var s = q.toString();
    return path + (s ? "?" + s : "");
  }
  // A trace as the picker names it: uploads of the same file differ by time and size.
  function traceName(t) {
    var extra = [];
    if (t.origin === "upload") {
      if (t.created) extra.push(fmt.localtime(t.created));
      if (t.upload_bytes) extra.push(fmt.bytes(t.upload_bytes));
    }
    return t.label + (extra.length ? " · " + extra.join(" · ") : "") + (t.synthetic ? " (SYNTHETIC)" : "");
  }
  function fillPicker(status) {
    var select = document.getElementById("trace-select");
    select.replaceChildren();
    status.traces.forEach(function (t) {
      select.appendChild(el("option", { value: t.id, selected: t.id === TL.traceId, text: traceName(t) }));
    });
    select.disabled = status.traces.length < 2;
    select.onchange = function () {
      var q = new URLSearchParams(location.search); q.set("t", select.value);
      location.search = q.toString();
    };
  }
  function offerDemo(home) {
    var button = el("button", { class: "primary", text: "Use the SYNTHETIC demo trace", onclick: function () {
      button.disabled = true;
      post("/api/demo").then(function (r) { return waitStartup(r.job.id); });
    } });
    showBanner([el("strong", { text: "No Claude Code or Codex logs found" }),
      " in " + (home || "your home") + ". ", button,
      el("span", { class: "muted", text: " or upload a trace on " }), el("a", { href: "/analyze", text: "Analyze" })]);
  }
  function waitStartup(jobId) {
    return pollJob(jobId, function (job) {
      showBanner([jobText(job), progressBar(job.total ? job.done / job.total : 0)]);
    }).then(function (job) {
      if (job.result && job.result.no_logs) { offerDemo(job.result.home); return null; }
      location.reload();
      return null;
    }, function (err) {
      showBanner(["Could not prepare a trace: " + err.message], "error");
    });
  }
  // The page's scripts run before the Plotly bundle (see shell.html): their first requests
  // leave while the browser evaluates it. `loaded`: every script has run, Plotly included.
  var loaded = new Promise(function (resolve) {
    if (document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", function () { resolve(); });
  });
  var statusRequest = null;
  // The trace this page shows, as soon as the server says (null when there is none yet: the
  // banner says why); asked once per page. Charts must wait for `ready`.
  function resolveTrace() {
    return statusRequest || (statusRequest = api("/api/status").then(function (status) {
      TL.status = status;
      var wanted = params.get("t");
      var known = status.traces.map(function (t) { return t.id; });
      TL.traceId = wanted && known.indexOf(wanted) >= 0 ? wanted : status.default_trace;
      TL.trace = status.traces.filter(function (t) { return t.id === TL.traceId; })[0] || null;
      fillPicker(status);
      document.querySelectorAll("nav a").forEach(function (a) {
        if (TL.traceId && status.traces.length > 1) a.href = link(a.getAttribute("href").split("?")[0]);
      });
      if (TL.trace && TL.trace.synthetic) {
        showBanner([el("span", { class: "synthetic-tag", id: "synthetic-banner", text: "SYNTHETIC" }), " demo trace — generated data, not real agent logs."]);
      }
      var startup = status.startup_job;
      if (!TL.trace && startup) {
        if (startup.state === "running" || startup.state === "queued") waitStartup(startup.id);
        else if (startup.state === "done" && startup.result.no_logs) offerDemo(startup.result.home);
        else if (startup.state === "error") showBanner(["Could not collect your logs: " + startup.error], "error");
      }
      return TL.trace ? TL.traceId : null;
    }));
  }
  // `resolveTrace()` once the page's scripts (and Plotly) have all run: where drawing may start.
  function ready() {
    return Promise.all([resolveTrace(), loaded]).then(function (both) { return both[0]; });
  }
  function tapi(path) { return api("/api/t/" + encodeURIComponent(TL.traceId) + path); }
  // A page marks itself drawn (`#content[data-rendered]`: tests and benchmarks wait for it) and
  // tells the server, which holds its background work (other pages' tables) until a page is
  // drawn: on a small machine that work would slow the drawing.
  function rendered() {
    document.getElementById("content").dataset.rendered = "1";
    if (TL.traceId) api("/api/t/" + encodeURIComponent(TL.traceId) + "/drawn", { method: "POST" }).catch(function () {});
  }
  function content(nodes) {
    var c = document.getElementById("content");
    c.replaceChildren.apply(c, nodes.filter(function (n) { return n !== null && n !== undefined; }));
    return c;
  }
  function fail(err) {
    content([el("div", { class: "error", text: "Error: " + err.message })]);
    console.warn(err);
  }

  window.TL = {
    el: el, api: api, post: post, del: del, parseBody: parseBody, httpError: httpError, tapi: tapi, rendered: rendered, fmt: fmt, format: format, plot: plot, card: card,
    noData: noData, hasData: hasData, palette: palette, traceName: traceName,
    table: table, cssVar: cssVar, providerColor: providerColor, pollJob: pollJob, jobText: jobText,
    progressBar: progressBar, ready: ready, resolveTrace: resolveTrace, link: link, content: content, fail: fail,
    params: params, token: token, showBanner: showBanner, traceId: null,
  };
})();
