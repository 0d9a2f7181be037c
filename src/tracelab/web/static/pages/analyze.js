// Analyze: upload a file (streamed as the request body), follow its processing, then open it.
(function () {
  "use strict";
  var el = TL.el;
  var listUploads = function () { return null; }; // set once the page is drawn

  function upload(file, status) {
    var bar = TL.progressBar(0);
    var line = el("p", { id: "upload-stage", text: "Uploading " + file.name + "…" });
    status.replaceChildren(line, bar);
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/uploads?name=" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-TraceLab-Token", TL.token);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.firstChild.style.width = (100 * e.loaded / e.total) + "%";
          line.textContent = "Uploading " + file.name + " — " + TL.fmt.tokens(e.loaded) + "B of " + TL.fmt.tokens(e.total) + "B";
        }
      };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: xhr.responseText }; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new Error(body.error || ("HTTP " + xhr.status)));
      };
      xhr.onerror = function () { reject(new Error("the upload failed (connection lost)")); };
      xhr.send(file);
    }).then(function (body) {
      line.textContent = "Uploaded " + TL.fmt.int(body.bytes) + " bytes. Processing…";
      return TL.pollJob(body.job.id, function (job) {
        line.textContent = TL.jobText(job) + (job.message ? " · " + job.message : "");
        bar.firstChild.style.width = (job.total ? 100 * job.done / job.total : 100) + "%";
      });
    }).then(function (job) {
      var r = job.result, t = encodeURIComponent(r.trace_id);
      var facts = ["kind", "files", "sessions", "steps", "tool_calls", "skipped_lines"].filter(function (k) { return r[k] !== undefined; })
        .map(function (k) { return k + ": " + (typeof r[k] === "number" ? r[k].toLocaleString() : r[k]); });
      status.replaceChildren.apply(status, [
        el("p", { id: "upload-done" }, [el("strong", { text: "Ready. " }), facts.join(" · ")]),
        el("p", {}, [
          el("a", { href: "/dashboard?t=" + t, id: "open-dashboard", text: "Open its dashboard" }), " · ",
          el("a", { href: "/?t=" + t, text: "overview" }), " · ",
          el("a", { href: "/sessions?t=" + t, text: "sessions" }),
        ]),
        r.problems_summary ? el("details", { id: "upload-problems" }, [el("summary", { text: r.problems_summary }), el("ul", {}, (r.problems || []).map(function (p) { return el("li", { text: p }); }))]) : null,
        el("p", {}, (r.downloads || []).map(function (kind) {
          return el("a", { href: "/api/t/" + t + "/download/" + kind, download: true, class: "dl", text: "Download " + kind + " trace  " });
        })),
      ].filter(Boolean));
      listUploads();
    }).catch(function (err) {
      status.replaceChildren(el("div", { class: "error", id: "upload-error", text: "Upload rejected: " + err.message }));
    });
  }

  TL.ready().catch(function () { return null; }).then(function () {
    var input = el("input", { type: "file", id: "file-input" });
    var status = el("div", { id: "upload-status" });
    var drop = el("div", { class: "drop", id: "drop" }, [
      el("p", {}, [el("strong", { text: "Drop a file here" }), " or ", input]),
      el("p", { class: "muted", text: "Raw session .jsonl files; a .zip / .tar(.gz) of ~/.claude/projects and ~/.codex/sessions; a normalized or sanitized trace (.jsonl, .jsonl.gz, .parquet); or the public dataset. It is processed on this machine." }),
      el("p", { class: "muted", text: "Limit: " + TL.fmt.bytes(TL.status ? TL.status.upload_limit : null) + " per upload." }),
    ]);
    input.addEventListener("change", function () { if (input.files[0]) upload(input.files[0], status); });
    ["dragenter", "dragover"].forEach(function (ev) { drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (ev) { drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); }); });
    drop.addEventListener("drop", function (e) { if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0], status); });
    var list = el("div", { id: "uploads" });
    TL.content([drop, status, list]);
    listUploads = function () {
      return TL.api("/api/uploads").then(function (u) {
        var head = el("p", { class: "muted", id: "uploads-usage", text: "Uploads use " + TL.fmt.bytes(u.used) + " of the " + TL.fmt.bytes(u.quota) + " quota" + (u.reserved ? " (" + TL.fmt.bytes(u.reserved) + " held by uploads in progress)" : "") + "; each upload may be up to " + TL.fmt.bytes(u.limit) + "." });
        if (!u.uploads.length) { list.replaceChildren(el("h2", { text: "Uploads" }), head, el("p", { class: "muted", text: "None yet." })); return; }
        var table = TL.table([
          { key: "label", label: "file", value: function (t) { return el("a", { href: "/dashboard?t=" + encodeURIComponent(t.id), text: t.label }); } },
          { key: "created", label: "uploaded", value: function (t) { return TL.fmt.localtime(t.created); } },
          { key: "upload_bytes", label: "size", kind: "text", value: function (t) { return TL.fmt.bytes(t.upload_bytes); } },
          { key: "disk_bytes", label: "on disk", kind: "text", value: function (t) { return TL.fmt.bytes(t.disk_bytes); } },
          { key: "id", label: "", value: function (t) {
            var b = el("button", { type: "button", class: "danger", "data-id": t.id, text: "Delete", onclick: function () {
              if (!window.confirm("Delete " + t.label + " and everything made from it?")) return;
              b.disabled = true;
              TL.del("/api/uploads/" + encodeURIComponent(t.id)).then(listUploads, function (e) { b.disabled = false; window.alert(e.message); });
            } });
            return b;
          } },
        ], u.uploads);
        table.id = "uploads-table";
        table.classList.add("uploads");
        list.replaceChildren(el("h2", { text: "Uploads" }), head, table);
      }).catch(function (e) { list.replaceChildren(el("div", { class: "error", text: e.message })); });
    };
    listUploads();
  });
})();
