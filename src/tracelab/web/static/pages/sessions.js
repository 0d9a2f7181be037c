// Sessions: filter (provider, model, project, dates), sort, search, page through; a row opens
// the session. A subagent session is listed under its parent (its cost in the parent's, with
// the subagents' share) unless "subagent sessions" is ticked; it keeps its own session page.
(function () {
  "use strict";
  var el = TL.el;
  var PAGE = 50;

  TL.ready().then(function (id) {
    if (!id) { TL.content([el("p", { class: "muted", text: "No trace yet." })]); return; }
    return TL.tapi("/facets").then(function (f) {
      var q = TL.params;
      function select(name, options, value) {
        return el("select", { name: name, id: "f-" + name }, options.map(function (o) {
          return el("option", { value: o[0], selected: o[0] === value, text: o[1] });
        }));
      }
      var form = el("form", { class: "filters", id: "filters" }, [
        el("label", {}, ["provider", select("provider", [["", "all"]].concat(f.providers.map(function (p) { return [p, p]; })), q.get("provider") || "")]),
        el("label", {}, ["model", select("model", [["", "all"]].concat(f.models.map(function (m) { return [m, m]; })), q.get("model") || "")]),
        el("label", {}, ["project", select("project", [["", "all"]].concat(f.projects.map(function (m) { return [m, m]; })), q.get("project") || "")]),
        el("label", {}, ["from (UTC)", el("input", { type: "date", name: "date_from", value: q.get("date_from") || "", min: f.first_day, max: f.last_day })]),
        el("label", {}, ["to (UTC)", el("input", { type: "date", name: "date_to", value: q.get("date_to") || "", min: f.first_day, max: f.last_day })]),
        el("label", {}, ["search", el("input", { type: "search", name: "q", id: "f-q", placeholder: "session, project, model", value: q.get("q") || "" })]),
        el("label", {}, ["sort", select("sort", [["recent", "recency"], ["steps", "steps"], ["duration", "duration"], ["cost", "cost"], ["tools", "tool calls"], ["subagents", "subagents' share"]], q.get("sort") || "recent")]),
        el("label", {}, ["order", select("order", [["desc", "descending"], ["asc", "ascending"]], q.get("order") || "desc")]),
        el("label", { title: "List subagent sessions on their own rows too (their cost is already in their parent's)" }, [
          el("input", { type: "checkbox", name: "subagents", id: "f-subagents", value: "true", checked: q.get("subagents") === "true" }), " subagent sessions"]),
        el("button", { type: "submit", class: "primary", text: "Apply" }),
      ]);
      var results = el("div", { id: "session-results" });
      var offset = 0;
      function load() {
        var p = new URLSearchParams(new FormData(form));
        Array.from(p.keys()).forEach(function (k) { if (!p.get(k)) p.delete(k); });
        var shown = new URLSearchParams(p); if (TL.traceId) shown.set("t", TL.traceId);
        history.replaceState(null, "", "?" + shown.toString());
        p.set("limit", PAGE); p.set("offset", offset);
        results.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
        TL.tapi("/sessions?" + p.toString()).then(function (r) {
          var tbl = TL.table([
            { key: "session_id", label: "session", value: function (s) {
              var id = s.session_id.replace(/^(claude|codex):/, "");
              return el("span", { class: "sid", title: s.session_id, text: (s.nested ? "↳ " : "") + (id.length > 14 ? id.slice(0, 8) + "…" + id.slice(-4) : id) });
            } },
            { key: "started_at", label: "started (UTC)", value: function (s) { return TL.fmt.date(s.started_at); } },
            { key: "provider", label: "provider" }, { key: "model", label: "model" },
            { key: "project", label: "project" },
            { key: "steps", label: "steps", kind: "int" }, { key: "requests", label: "requests", kind: "int" },
            { key: "tool_calls", label: "tool calls", kind: "int" }, { key: "duration_ms", label: "duration", kind: "ms" },
            { key: "max_context", label: "max context", kind: "tokens" },
            { key: "cost", label: "cost (with subagents)", kind: "usd" },
            { key: "subagent_share", label: "subagents", kind: "text", value: function (s) { return s.subagent_sessions ? TL.fmt.share(s.subagent_share) + " (" + s.subagent_sessions + ")" : "–"; } },
          ], r.sessions, { onclick: function (s) { location.href = TL.link("/session", { id: s.session_id }); } });
          tbl.id = "session-table";
          var last = Math.min(r.offset + r.sessions.length, r.total);
          results.replaceChildren(
            el("p", { class: "muted", id: "session-count", text: r.total.toLocaleString() + " sessions match" + (r.total ? "; showing " + (r.offset + 1) + "–" + last : "") }),
            tbl,
            el("div", { class: "pager" }, [
              el("button", { type: "button", text: "← previous", disabled: r.offset === 0, onclick: function () { offset = Math.max(0, offset - PAGE); load(); } }),
              el("button", { type: "button", text: "next →", disabled: last >= r.total, onclick: function () { offset += PAGE; load(); } }),
            ]));
        }).catch(function (e) { results.replaceChildren(el("div", { class: "error", text: e.message })); });
      }
      form.addEventListener("submit", function (e) { e.preventDefault(); offset = 0; load(); });
      form.addEventListener("change", function () { offset = 0; load(); });
      TL.content([form, results]);
      load();
    });
  }).catch(TL.fail);
})();
