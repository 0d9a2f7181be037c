"""The Ask page's API (`POST /api/ask`, `GET /api/ask`) through the test client: the streamed
answer with its evidence and a follow-up, against a scripted OpenAI-compatible endpoint on
loopback (the real HTTP backend path); the refusal of a remote endpoint without the switch;
bad input answered 4xx with one clear message; the key never leaving the server.

Expected values come from the small trace's rows, counted here: a normalized row is one step,
so steps per provider = rows per provider.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from ask_endpoint import serving
from tracelab.ask.settings import BackendSettings
from tracelab.io import read_rows

from .conftest import auth

STEPS_BY_PROVIDER = {"metric": "steps", "group_by": ["provider"]}


def _events(response) -> list[dict]:
    """The `data:` events of a server-sent event stream."""
    out = []
    for block in response.text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                out.append(orjson.loads(line[5:]))
    return out


def _state_rows(messages: list[dict]) -> dict:
    """A final turn stating the last tool result's rows, as a model would."""
    result = orjson.loads(messages[-1]["content"])
    return {"content": "; ".join(f"{r[0]}: {r[1]}" for r in result["rows"])}


def _ask(client, **body):
    return client.post("/api/ask", json={"trace": "main", **body}, headers=auth())


def test_streamed_answer_with_evidence_and_a_follow_up(
    make_client, small_trace, monkeypatch
) -> None:
    by_provider = Counter(r["provider"] for r in read_rows(small_trace.trace))
    monkeypatch.setenv("TL_TEST_ASK_KEY", "s3cret-key-value")
    turns = [
        {"tool_calls": [{"name": "metric", "arguments": STEPS_BY_PROVIDER}]},
        _state_rows,
        {"tool_calls": [{"name": "sql", "arguments": {"query": "SELECT * FROM rounds LIMIT 1"}}]},
        {"content": "That is one step."},
    ]
    with serving(turns) as endpoint:
        client = make_client(
            ask_defaults=BackendSettings(endpoint.url, "scripted", "TL_TEST_ASK_KEY")
        )
        r = _ask(
            client,
            question="how many steps per provider?",
            base_url=endpoint.url,
            model="scripted",
            api_key_env="TL_TEST_ASK_KEY",
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "conversation" and kinds[-1] == "done"
        assert kinds.index("tool_call") < kinds.index("evidence") < kinds.index("token")
        assert kinds.index("token") < kinds.index("answer")
        expected = "; ".join(f"{p}: {n}" for p, n in sorted(by_provider.items()))
        tokens = "".join(e["data"] for e in events if e["kind"] == "token")
        assert tokens == expected and kinds.count("token") > 1  # streamed piece by piece
        answer = next(e["data"] for e in events if e["kind"] == "answer")
        assert answer["text"] == expected and answer["ungrounded"] == []
        (ev,) = answer["evidence"]
        assert ev["tool"] == "metric" and ev["arguments"] == STEPS_BY_PROVIDER
        assert "step_facts" in ev["sql"]
        assert ev["rows"] == [[p, n] for p, n in sorted(by_provider.items())]
        assert ev["chart"] == {"type": "bar", "x": "provider", "y": ["steps"]}
        # the key went to the endpoint only, as the Authorization header
        assert endpoint.headers[0]["Authorization"] == "Bearer s3cret-key-value"
        assert "s3cret-key-value" not in r.text

        # a follow-up continues the conversation (its settings are the conversation's)
        conv = events[0]["data"]["id"]
        r2 = _ask(client, question="and one row of rounds?", conversation=conv)
        events2 = _events(r2)
        assert events2[0]["data"]["id"] == conv
        answer2 = next(e["data"] for e in events2 if e["kind"] == "answer")
        assert answer2["text"] == "That is one step."
        # the model sees sanitized columns only: no private column in the table it queried
        columns = answer2["evidence"][0]["columns"]
        assert "project" in columns and not {"cwd", "session_file", "home"} & set(columns)
        contents = [m.get("content") for m in endpoint.requests[2]["messages"]]
        assert "how many steps per provider?" in contents and expected in contents


def test_settings_name_the_key_variable_never_its_value(make_client, monkeypatch) -> None:
    monkeypatch.setenv("TL_TEST_ASK_KEY", "s3cret-key-value")
    client = make_client(
        ask_defaults=BackendSettings("http://127.0.0.1:9/v1", "m", "TL_TEST_ASK_KEY")
    )
    r = client.get("/api/ask")
    assert r.status_code == 200
    d = r.json()["defaults"]
    assert (d["base_url"], d["model"], d["api_key_env"], d["key_set"]) == (
        "http://127.0.0.1:9/v1", "m", "TL_TEST_ASK_KEY", True,
    )  # fmt: skip
    assert "s3cret-key-value" not in r.text
    assert r.json()["no_backend"] is None  # a default endpoint is a backend


def test_a_remote_backend_is_refused_without_the_switch(client) -> None:
    r = _ask(client, question="steps?", base_url="https://api.example.invalid/v1", model="m")
    assert r.status_code == 403
    message = r.json()["error"]
    assert "not on this machine" in message and "remote switch" in message
    # with the switch on it is no longer refused: the answer starts streaming (only the
    # first event is read: nothing is expected to answer at that address)
    with client.stream(
        "POST",
        "/api/ask",
        json={"trace": "main", "question": "steps?", "base_url": "https://api.example.invalid/v1",
              "model": "m", "allow_remote": True, "time_limit_s": 5},
        headers=auth(),
    ) as s:  # fmt: skip
        assert s.status_code == 200
        first = orjson.loads(next(s.iter_lines())[5:])
    assert first["kind"] == "conversation"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": ""}, 422, "the question is empty"),
        ({"question": "   \n "}, 422, "the question is empty"),
        (
            {"question": "x" * 2001},
            422,
            "the question is too long: 2,001 characters, at most 2,000",
        ),
        ({"question": "steps?", "trace": "nope"}, 404, "no trace 'nope'"),
        ({"question": "steps?", "conversation": "feedc0de"}, 404, "this conversation is gone"),
        ({"question": "steps?", "base_url": "ftp://127.0.0.1/v1"}, 422, "http:// or https://"),
        ({"question": "steps?", "max_turns": 0}, 422, "max_turns"),
        ({"question": "steps?", "time_limit_s": 10_000}, 422, "time_limit_s"),
        ({"trace": "main"}, 422, "question"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, body: dict, status: int, message: str) -> None:
    r = client.post("/api/ask", json={"trace": "main", **body}, headers=auth())
    assert r.status_code == status
    assert message in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        ({"base_url": "http://user:pa55word@127.0.0.1:9/v1"}, "pa55word"),
        ({"base_url": "http://127.0.0.1:9/v1", "api_key_env": "sk-proj-abc123xyz"}, "abc123xyz"),
    ],
)
def test_a_key_typed_into_the_page_is_refused_unechoed(client, body: dict, secret: str) -> None:
    r = _ask(client, question="steps?", **body)
    assert r.status_code == 422
    assert secret not in r.text and "environment variable" in r.json()["error"]


def test_asking_needs_the_token(client) -> None:
    r = client.post("/api/ask", json={"trace": "main", "question": "steps?"})
    assert r.status_code == 403


def test_no_backend_available_is_a_clear_message(client) -> None:
    """No base URL and no local model (the ask-local extra is not installed in tests)."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("the ask-local extra is installed here")
    assert "ask-local" in client.get("/api/ask").json()["no_backend"]
    r = _ask(client, question="steps?")
    assert r.status_code == 503
    assert r.json()["error"].startswith("no backend available: the local model needs the ask-local")


def test_the_page_is_served_and_in_the_nav(client) -> None:
    r = client.get("/ask")
    assert r.status_code == 200 and "/static/pages/ask.js" in r.text
    assert 'href="/ask"' in client.get("/").text


def test_ask_an_uploaded_trace_then_delete_it(make_client, small_trace) -> None:
    """An upload is askable like the served trace; deleting it also closes its Ask sandbox and
    deletes the sanitized copy the sandbox queried (nothing of a removed upload stays)."""
    from .test_upload_lifecycle import _upload

    sessions = len({(r["provider"], r["session_id"]) for r in read_rows(small_trace.trace)})
    turns = [
        {"tool_calls": [{"name": "metric", "arguments": {"metric": "sessions"}}]},
        {"content": f"There are {sessions} sessions."},
    ]
    with serving(turns) as endpoint:
        client = make_client()
        tid = _upload(client, "trace.jsonl.gz", small_trace.trace.read_bytes())["trace_id"]
        r = client.post(
            "/api/ask",
            json={"trace": tid, "question": "how many sessions?", "base_url": endpoint.url},
            headers=auth(),
        )
        answer = next(e["data"] for e in _events(r) if e["kind"] == "answer")
    assert answer["evidence"][0]["rows"] == [[sessions]] and answer["ungrounded"] == []
    service = client.app.state.tracelab.ask
    copy = service._sandboxes[tid].sandbox.path
    assert copy.is_file()
    assert client.delete(f"/api/uploads/{tid}", headers=auth()).status_code == 200
    assert tid not in service._sandboxes and not copy.exists()


def test_an_idle_sandbox_is_closed_and_a_follow_up_opens_it_again(make_client) -> None:
    turns = [
        {"tool_calls": [{"name": "metric", "arguments": {"metric": "steps"}}]},
        {"content": "Counted."},
        {"tool_calls": [{"name": "metric", "arguments": {"metric": "steps"}}]},
        {"content": "Counted again."},
    ]
    with serving(turns) as endpoint:
        client = make_client(idle_close_s=None)  # no reaper thread: closed by hand below
        service = client.app.state.tracelab.ask
        first = _events(_ask(client, question="steps?", base_url=endpoint.url))
        rows = next(e["data"] for e in first if e["kind"] == "answer")["evidence"][0]["rows"]
        assert service.close_idle(3600) == 0  # just used: kept
        assert service.close_idle(0) == 1 and service._sandboxes == {}
        conv = first[0]["data"]["id"]
        again = _events(_ask(client, question="again?", conversation=conv))
    answer = next(e["data"] for e in again if e["kind"] == "answer")
    assert answer["text"] == "Counted again." and answer["evidence"][0]["rows"] == rows
    assert "main" in service._sandboxes  # opened again for the follow-up
