// Ask: a question about the trace this page shows, answered by an LLM with tools. The answer
// streams in (server-sent events read from a fetch), and every tool call is shown as evidence:
// the metric call or SQL, the SQL that ran, the result table and, where it helps, a chart.
// Follow-ups continue the conversation. Trace values only ever reach the page as text.
(function () {
  "use strict";
  var el = TL.el;
  var conversation = null; // the id follow-ups continue; null: the next question starts one
  var busy = false;

  // --- the stream ---------------------------------------------------------------------------
  function postAsk(body) {
    return fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-TraceLab-Token": TL.token },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (r.ok) return r;
      return r.text().then(function (text) { throw TL.httpError(r.status, TL.parseBody(text)); });
    });
  }
  // Calls onEvent({kind, data}) for each `data:` line of the event stream, as it arrives.
  function readEvents(response, onEvent) {
    var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(function (block) {
          block.split("\n").forEach(function (line) {
            if (line.indexOf("data:") === 0) onEvent(JSON.parse(line.slice(5)));
          });
        });
        return pump();
      });
    }
    return pump();
  }

  // --- evidence -----------------------------------------------------------------------------
  function numericColumns(ev) {
    return ev.columns.map(function (_, i) {
      var values = ev.rows.map(function (r) { return r[i]; }).filter(function (v) { return v !== null; });
      return values.length > 0 && values.every(function (v) { return typeof v === "number"; });
    });
  }
  function resultTable(ev) {
    var numeric = numericColumns(ev);
    var columns = ev.columns.map(function (name, i) {
      return { label: name, kind: numeric[i] ? "num" : "text", value: function (r) { return r[i]; } };
    });
    return TL.table(columns, ev.rows);
  }
  function drawChart(div, ev) {
    var spec = ev.chart, cols = ev.columns;
    var xi = cols.indexOf(spec.x), yi = cols.indexOf(spec.y[0]);
    var si = spec.series ? cols.indexOf(spec.series) : -1;
    var groups = {}, order = [];
    ev.rows.forEach(function (r) {
      var key = si >= 0 ? String(r[si]) : "";
      if (!groups[key]) { groups[key] = { x: [], y: [] }; order.push(key); }
      groups[key].x.push(r[xi] === null ? "–" : r[xi]);
      groups[key].y.push(r[yi]);
    });
    var line = spec.type === "line";
    var traces = order.map(function (key) {
      var g = groups[key];
      var color = si >= 0 ? TL.providerColor(key) : TL.palette.series[0];
      var trace = { x: g.x, y: g.y, name: key || spec.y[0], type: line ? "scatter" : "bar" };
      if (line) { trace.mode = "lines+markers"; trace.line = { color: color }; }
      else trace.marker = { color: si < 0 && spec.x === "provider" ? g.x.map(TL.providerColor) : color };
      return trace;
    });
    TL.plot(div, traces, {
      height: 300, barmode: "group", showlegend: si >= 0,
      xaxis: { title: { text: spec.x }, type: line ? undefined : "category" },
      yaxis: { title: { text: spec.y[0] } },
    }, {}, "No rows to draw.");
  }
  // Element.append shows a null as the text "null": the optional parts are filtered out.
  function fill(node, parts) {
    node.append.apply(node, parts.filter(function (p) { return p !== null && p !== undefined; }));
    return node;
  }
  // One tool call: what was asked (a metric call, or the SQL), the SQL that ran, the table, a chart.
  function evidenceView(ev, n) {
    var title = "Evidence " + n + " · " + ev.tool;
    var box = el("section", { class: "card ask-ev", "data-tool": ev.tool });
    if (ev.error) {
      fill(box, [el("h3", { text: title }),
        ev.tool === "metric" ? el("pre", { class: "ask-call", text: "metric " + JSON.stringify(ev.arguments) }) : null,
        ev.tool === "sql" && ev.arguments.query ? el("pre", { class: "ask-sql", text: ev.arguments.query }) : null,
        el("div", { class: "error ask-tool-error", text: "tool error: " + ev.error })]);
      return { node: box, draw: function () {} };
    }
    var sql = ev.sql + (ev.params && ev.params.length ? "\n-- parameters: " + ev.params.map(function (p) { return JSON.stringify(p); }).join(", ") : "");
    var rows = ev.rows.length + " row" + (ev.rows.length === 1 ? "" : "s") + " in " + ev.seconds.toFixed(2) + " s";
    var chart = ev.chart ? el("div", { class: "ask-chart" }) : null;
    fill(box, [
      el("h3", { text: title }),
      el("div", { class: "note", text: rows + (ev.truncated ? " (cut at the row cap)" : "") }),
      ev.tool === "metric" ? el("pre", { class: "ask-call", text: "metric " + JSON.stringify(ev.arguments) }) : null,
      el("pre", { class: "ask-sql", text: sql }),
      el("div", { class: "ask-table" }, [resultTable(ev)]),
      chart]);
    return { node: box, draw: function () { if (chart) drawChart(chart, ev); } };
  }

  // --- one question and its answer ----------------------------------------------------------
  function turnView(question) {
    var view = {
      node: el("section", { class: "ask-turn", "data-state": "streaming" }),
      status: el("p", { class: "ask-status muted", text: "Sending…" }),
      answer: el("div", { class: "ask-answer" }),
      notes: el("div", { class: "ask-notes" }),
      evidence: el("div", { class: "ask-evidence" }),
      count: 0,
    };
    view.node.append(el("p", { class: "ask-q" }, [el("strong", { text: "Q: " }), question]),
      view.answer, view.status, view.notes, view.evidence);
    return view;
  }
  function note(view, cls, text) { view.notes.append(el("div", { class: cls, text: text })); }
  function finish(view, state) {
    view.node.dataset.state = state;
    busy = false;
    syncForm();
  }
  function onEvent(view, ev) {
    var d = ev.data;
    if (ev.kind === "conversation") {
      conversation = d.id;
      document.getElementById("ask-backend-label").textContent = "Conversation with " + d.backend;
      syncForm();
    } else if (ev.kind === "status") {
      view.status.textContent = d.charAt(0).toUpperCase() + d.slice(1) + "…";
    } else if (ev.kind === "token") {
      view.answer.textContent += d;
    } else if (ev.kind === "tool_call") {
      view.status.textContent = "Running the " + d.tool + " tool…";
    } else if (ev.kind === "evidence") {
      view.count += 1;
      var shown = evidenceView(d, view.count);
      view.evidence.append(shown.node);
      shown.draw();
      view.status.textContent = "Waiting for the model…";
    } else if (ev.kind === "error") {
      note(view, "error ask-error", d);
    } else if (ev.kind === "answer") {
      view.answer.textContent = d.text;
      if (!d.evidence.length) note(view, "ask-warn", "No tool was called: this answer rests on no evidence.");
      if (d.ungrounded.length) note(view, "ask-warn", "Numbers not found in this answer's tool results: " + d.ungrounded.join(", "));
      if (d.stopped && !view.notes.querySelector(".ask-error")) note(view, "ask-warn", "Stopped: " + d.stopped);
      view.status.textContent = d.turns + " turn(s), " + d.tool_calls + " tool call(s), " +
        TL.fmt.int(d.completion_tokens) + " completion tokens, " + d.seconds.toFixed(1) + " s";
    } else if (ev.kind === "done") {
      finish(view, view.notes.querySelector(".ask-error") ? "error" : "done");
    }
  }

  // --- the form -----------------------------------------------------------------------------
  var inputs = {};
  function syncForm() {
    var locked = conversation !== null;
    ["base_url", "model", "api_key_env", "max_turns", "time_limit_s", "remote"].forEach(function (k) {
      inputs[k].disabled = locked || busy;
    });
    inputs.send.disabled = busy;
    inputs.send.textContent = locked ? "Ask a follow-up" : "Ask";
    inputs.fresh.disabled = busy || !locked;
    inputs.remoteState.textContent = inputs.remote.checked ? "on" : "off";
    inputs.remoteState.className = "pill" + (inputs.remote.checked ? " err" : "");
    inputs.lockNote.hidden = !locked;
    if (!locked) document.getElementById("ask-backend-label").textContent = "";
    var problem = TL.askSettings.no_backend;
    inputs.problem.hidden = !(problem && !inputs.base_url.value.trim());
  }
  function send(thread) {
    var question = inputs.question.value.trim();
    if (busy) return;
    var view = turnView(question);
    thread.append(view.node);
    busy = true;
    syncForm();
    var body = {
      trace: TL.traceId, question: inputs.question.value, conversation: conversation,
      base_url: inputs.base_url.value, model: inputs.model.value, api_key_env: inputs.api_key_env.value,
      allow_remote: inputs.remote.checked,
      max_turns: Number(inputs.max_turns.value), time_limit_s: Number(inputs.time_limit_s.value),
    };
    postAsk(body)
      .then(function (response) {
        inputs.question.value = "";
        return readEvents(response, function (ev) { onEvent(view, ev); });
      })
      .then(function () {
        if (view.node.dataset.state === "streaming") {
          note(view, "error ask-error", "The answer stream ended early.");
          finish(view, "error");
        }
      })
      .catch(function (err) {
        if (err.status === 404 && conversation) conversation = null; // forgotten by the server
        view.status.textContent = "";
        note(view, "error ask-error", err.message);
        finish(view, "error");
      });
  }

  function field(label, input, hint) {
    return el("label", {}, [label, input, hint ? el("span", { class: "hint", text: hint }) : null]);
  }
  function render(settings) {
    TL.askSettings = settings;
    var d = settings.defaults, lim = settings.limits;
    inputs.base_url = el("input", { id: "ask-base-url", type: "url", size: 34, value: d.base_url, placeholder: "empty: the local model (SmolLM2)" });
    inputs.model = el("input", { id: "ask-model", size: 20, value: d.model, placeholder: "model name" });
    inputs.api_key_env = el("input", { id: "ask-key-env", size: 18, value: d.api_key_env, autocomplete: "off", spellcheck: "false" });
    inputs.max_turns = el("input", { id: "ask-turns", type: "number", min: 1, max: lim.max_turns_limit, value: lim.max_turns });
    inputs.time_limit_s = el("input", { id: "ask-seconds", type: "number", min: 1, max: lim.time_limit_max_s, value: lim.time_limit_s });
    inputs.remote = el("input", { id: "ask-remote", type: "checkbox", onchange: syncForm });
    inputs.remoteState = el("span", { id: "ask-remote-state", class: "pill", text: "off" });
    inputs.problem = el("div", { id: "ask-no-backend", class: "error", text: settings.no_backend || "", hidden: true });
    inputs.lockNote = el("p", { class: "note", text: "Follow-ups continue this conversation with its backend; start a new conversation to change it.", hidden: true });
    inputs.base_url.addEventListener("input", syncForm);
    inputs.question = el("textarea", { id: "ask-question", rows: 2, maxlength: lim.question_chars, placeholder: "e.g. how many steps per provider? which tools failed most?" });
    var thread = el("div", { id: "ask-thread" });
    inputs.send = el("button", { id: "ask-send", class: "primary", text: "Ask", onclick: function () { send(thread); } });
    inputs.fresh = el("button", { id: "ask-new", text: "New conversation", onclick: function () {
      conversation = null; thread.replaceChildren(); syncForm();
    } });
    inputs.question.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(thread); }
    });
    var keyHint = d.key_set ? " (set for " + d.api_key_env + ")" : "";
    var backend = TL.card("Backend", "Any OpenAI-compatible chat endpoint with tool calling, or the local model. The key is read on the server from the environment variable you name" + keyHint + "; it is never typed here.", el("div", {}, [
      el("div", { class: "filters" }, [
        field("Base URL", inputs.base_url), field("Model", inputs.model),
        field("Key variable", inputs.api_key_env), field("Turns", inputs.max_turns),
        field("Seconds per question", inputs.time_limit_s),
      ]),
      el("p", { class: "ask-switch" }, [el("label", {}, [inputs.remote, el("strong", { text: " Remote switch: " }),
        "allow a backend that is not on this machine "]), inputs.remoteState]),
      el("p", { class: "note", text: "A backend on another machine receives the tool results (tables computed from this trace's sanitized columns); the raw logs never leave this machine. Without the switch such a backend is refused." }),
      inputs.problem, inputs.lockNote,
      el("p", { id: "ask-backend-label", class: "muted" }),
    ]));
    TL.content([
      el("p", {}, ["Ask a question about ", el("strong", { text: TL.traceName(TL.trace) }),
        ". The model answers with two tools — the project's metrics and read-only SQL over the trace's sanitized columns — and every answer shows the queries it ran and their results."]),
      backend,
      thread,
      el("div", { class: "ask-form" }, [inputs.question, el("div", {}, [inputs.send, " ", inputs.fresh])]),
    ]);
    syncForm();
  }

  TL.ready().catch(function () { return null; }).then(function (traceId) {
    if (!traceId) {
      TL.content([el("p", { class: "muted", text: "No trace yet: collect or upload one first." })]);
      return null;
    }
    return TL.api("/api/ask").then(render);
  }).catch(TL.fail);
})();
