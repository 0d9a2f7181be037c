// Contribute: sanitize the current trace here, show exactly what would be sent, ask for
// consent to the licence, upload it to a pool in chunks with a progress bar, show the receipt.
(function () {
  "use strict";
  var el = TL.el;

  function postJSON(path, body) {
    return TL.api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  function facts(p) {
    var models = Object.keys(p.models || {}).map(function (m) { return m + " (" + TL.fmt.int(p.models[m]) + ")"; });
    var rows = [
      ["rows", TL.fmt.int(p.rows)],
      ["sessions", TL.fmt.int(p.sessions)],
      ["date range", TL.fmt.date(p.window[0]) + " → " + TL.fmt.date(p.window[1])],
      ["models", models.join(", ") || "–"],
      ["providers", Object.keys(p.providers || {}).join(", ") || "–"],
      ["file", TL.fmt.bytes(p.bytes) + (p.format === "parquet" ? " Parquet" : " JSONL.gz") + " · sha256 " + p.sha256.slice(0, 16) + "…"],
      ["sanitized", p.sanitized_here ? "here, just now, with your pseudonym key" : "already (it passed the strict audit as is)"],
    ];
    return el("table", { class: "facts", id: "contribute-facts" }, rows.map(function (r) {
      return el("tr", {}, [el("th", { text: r[0] }), el("td", { "data-fact": r[0], text: r[1] })]);
    }));
  }

  function receiptView(result) {
    var r = result.receipt;
    var rows = [
      ["contribution id", r.contribution_id || "– (nothing new: every session is in the pool already)"],
      ["rows accepted", TL.fmt.int(r.rows_accepted)],
      ["sessions new", TL.fmt.int(r.sessions_new)],
      ["sessions already in the pool", TL.fmt.int(r.sessions_in_pool)],
      ["withdrawal token", r.withdrawal_token || "–"],
    ];
    return el("div", { id: "contribute-receipt" }, [
      el("h2", { text: "Receipt" }),
      el("table", { class: "facts" }, rows.map(function (x) {
        return el("tr", {}, [el("th", { text: x[0] }), el("td", { "data-receipt": x[0], text: x[1] })]);
      })),
      result.receipt_file ? el("p", { class: "muted", text: "Saved to " + result.receipt_file + " (readable by you only). Keep it: its withdrawal token removes the contribution from the pool and from every later release (tracelab contribute --to " + result.pool + " --withdraw " + result.receipt_file + ")." }) : null,
    ]);
  }

  function uploadForm(prep, status) {
    var url = el("input", { type: "url", id: "pool-url", placeholder: "https://pool.example.org", size: 40 });
    var token = el("input", { type: "password", id: "pool-token", placeholder: "contributor token (if the pool needs one)", size: 40, autocomplete: "off" });
    var consent = el("input", { type: "checkbox", id: "consent" });
    var send = el("button", { class: "primary", id: "contribute-send", text: "Contribute", disabled: true });
    var sync = function () { send.disabled = !(consent.checked && url.value.trim()); };
    consent.addEventListener("change", sync);
    url.addEventListener("input", sync);
    send.addEventListener("click", function () {
      send.disabled = true;
      var bar = TL.progressBar(0);
      var line = el("p", { id: "contribute-stage", text: "Starting the upload…" });
      status.replaceChildren(line, bar);
      postJSON("/api/contribute/upload", { prepared: prep.prepared, url: url.value, token: token.value || null, consent: consent.checked })
        .then(function (r) {
          return TL.pollJob(r.job.id, function (job) {
            line.textContent = TL.jobText(job) + (job.total ? " — " + TL.fmt.bytes(job.done) + " of " + TL.fmt.bytes(job.total) : "");
            bar.firstChild.style.width = (job.total ? 100 * job.done / job.total : 0) + "%";
          });
        })
        .then(function (job) {
          consent.disabled = true; // done: this prepared file is sent; prepare again to resend
          status.replaceChildren(receiptView(job.result));
        })
        .catch(function (err) {
          status.replaceChildren(el("div", { class: "error", id: "contribute-error", text: "Not contributed: " + err.message }));
          send.disabled = false;
        });
    });
    return el("div", { id: "contribute-form" }, [
      el("h2", { text: "Send it" }),
      el("p", {}, [el("label", {}, ["Pool URL ", url])]),
      el("p", {}, [el("label", {}, ["Token ", token])]),
      el("p", {}, [el("label", {}, [consent, " I agree that this file is published in the dataset under the " + prep.licence + " licence (Creative Commons Attribution 4.0)."])]),
      send,
    ]);
  }

  function showPreview(prep, box) {
    var p = prep.preview;
    var status = el("div", { id: "contribute-status" });
    box.replaceChildren(
      el("h2", { text: "What will be sent" }),
      el("p", { class: "muted", text: "Exactly this file leaves the machine, and only after you consent below; the private trace never does." }),
      facts(p),
      el("h3", { text: "Fields" }),
      el("p", { id: "contribute-fields", text: p.fields.join(", ") }),
      el("h3", { text: "A sample row" }),
      el("pre", { id: "contribute-sample", class: "sample", text: JSON.stringify(p.sample_row, null, 2) }),
      uploadForm(prep, status),
      status
    );
  }

  TL.ready().catch(function () { return null; }).then(function (traceId) {
    var box = el("div", { id: "contribute-preview" });
    if (!traceId) {
      TL.content([el("p", { class: "muted", text: "No trace yet: collect or upload one first." })]);
      return;
    }
    var prepare = el("button", { class: "primary", id: "contribute-prepare", text: "Prepare " + TL.traceName(TL.trace) });
    prepare.addEventListener("click", function () {
      prepare.disabled = true;
      var line = el("p", { id: "prepare-stage", text: "Sanitizing on this machine…" });
      box.replaceChildren(line);
      postJSON("/api/contribute/preview", { trace: traceId })
        .then(function (r) { return TL.pollJob(r.job.id, function (job) { line.textContent = TL.jobText(job); }); })
        .then(function (job) { showPreview(job.result, box); })
        .catch(function (err) {
          box.replaceChildren(el("div", { class: "error", id: "contribute-error", text: "Cannot contribute this trace: " + err.message }));
          prepare.disabled = false;
        });
    });
    TL.content([
      el("p", {}, ["Donate this trace to a contribution pool, which builds the public dataset. It is sanitized here first (identifiers become keyed pseudonyms; paths, prompts, tool inputs and outputs are dropped), and you see exactly what would be sent before anything leaves this machine."]),
      prepare,
      box,
    ]);
  });
})();
