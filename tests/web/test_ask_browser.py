"""The Ask page in Chromium against a real `tracelab serve` process whose Ask backend is a
scripted OpenAI-compatible endpoint on loopback (`--ask-base-url`): the real HTTP backend
path, no model. Ask, watch the answer stream in (the endpoint holds the answer half-way until
the test has seen the first half on the page), see the query, the result table and the chart,
then ask a follow-up that continues the conversation.

Expected values are counted from the small trace's rows here: a normalized row is one step,
so steps per provider = rows per provider; sessions = distinct (provider, session_id).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ask_endpoint import serving
from tracelab.io import read_rows

from .test_browser import CHROMIUM, _free_port, _shot, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing")

SESSIONS_SQL = (
    "SELECT provider, count(DISTINCT session_id) AS sessions FROM step_facts "
    "GROUP BY provider ORDER BY provider"
)


def _state_rows(prefix: str):
    def turn(messages: list[dict]) -> dict:
        result = orjson.loads(messages[-1]["content"])
        return {"content": prefix + ", ".join(f"{r[0]} {r[1]}" for r in result["rows"]) + "."}

    return turn


def _tracelab() -> list[str]:
    script = Path(sys.executable).with_name("tracelab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracelab.cli"]


def _serve(args: list[str], log: Path) -> Iterator[str]:
    """`tracelab serve … --no-browser` on a free loopback port until the test ends."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_tracelab(), "serve", *args, "--port", str(port), "--no-browser"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"tracelab serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"tracelab serve did not start: {log.read_text()}"
            try:
                if httpx.get(url + "/api/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_ask_streams_the_answer_with_query_table_and_chart(
    page,  # noqa: F811
    small_trace,
    tmp_path: Path,
) -> None:
    rows = list(read_rows(small_trace.trace))
    steps = Counter(r["provider"] for r in rows)
    sessions = Counter(p for p, _ in {(r["provider"], r["session_id"]) for r in rows})
    first = "Steps per provider: "
    expected = first + ", ".join(f"{p} {n}" for p, n in sorted(steps.items())) + "."
    hold = threading.Event()

    def held_answer(messages: list[dict]) -> dict:
        # the endpoint stops after the first four words until the test has seen them
        return {**_state_rows(first)(messages), "hold": hold, "hold_after": 4}

    turns = [
        {"tool_calls": [{"name": "sql", "arguments": {"query": "DROP TABLE rounds"}}]},
        {"tool_calls": [{"name": "metric",
                         "arguments": {"metric": "steps", "group_by": ["provider"]}}]},
        held_answer,
        {"tool_calls": [{"name": "sql", "arguments": {"query": SESSIONS_SQL}}]},
        _state_rows("Sessions per provider: "),
    ]  # fmt: skip
    with serving(turns) as endpoint:
        args = [
            "--db",
            str(small_trace.db),
            "--ask-base-url",
            endpoint.url,
            "--ask-model",
            "scripted",
        ]
        for server in _serve(args, tmp_path / "serve.log"):
            page.goto(server + "/ask")
            page.wait_for_selector("#ask-question")
            # the backend defaults are what `serve` was given; the remote switch is visible, off
            assert page.input_value("#ask-base-url") == endpoint.url
            assert page.input_value("#ask-model") == "scripted"
            assert page.is_visible("#ask-remote") and not page.is_checked("#ask-remote")
            assert page.inner_text("#ask-remote-state") == "off"

            page.fill("#ask-question", "how many steps per provider?")
            page.click("#ask-send")
            turn = page.locator(".ask-turn").nth(0)
            # streaming: the first words are on the page while the endpoint holds the rest
            turn.locator(".ask-answer", has_text="Steps per provider:").wait_for()
            assert turn.get_attribute("data-state") == "streaming"
            assert page.inner_text(".ask-turn .ask-answer") != expected
            # the evidence is there before the answer ends: the refused SQL as a tool error,
            # then the metric call, its SQL, the table
            refused = turn.locator(".ask-ev").nth(0)
            assert refused.locator(".ask-sql").inner_text() == "DROP TABLE rounds"
            assert "tool error: only a read-only query" in refused.inner_text()
            ev = turn.locator(".ask-ev").nth(1)
            assert '"metric":"steps"' in ev.locator(".ask-call").inner_text()
            assert "FROM" in ev.locator(".ask-sql").inner_text()
            cells = [c.split("\t") for c in ev.locator("tbody tr").all_inner_texts()]
            assert cells == [[p, f"{n:,}"] for p, n in sorted(steps.items())]
            # the chart: one bar per provider
            ev.locator(".js-plotly-plot .bars .point").first.wait_for()
            assert ev.locator(".js-plotly-plot .bars .point").count() == len(steps)
            _shot(page, tmp_path, "ask-1-streaming")
            hold.set()
            page.wait_for_selector(".ask-turn[data-state=done]")
            assert page.inner_text(".ask-turn .ask-answer") == expected
            assert "3 turn(s), 2 tool call(s)" in turn.locator(".ask-status").inner_text()
            assert turn.locator(".ask-warn, .ask-error").count() == 0

            # a follow-up continues the conversation
            assert page.inner_text("#ask-send") == "Ask a follow-up"
            assert page.is_disabled("#ask-base-url")
            page.fill("#ask-question", "and sessions?")
            page.click("#ask-send")
            second = page.locator(".ask-turn").nth(1)
            page.wait_for_selector(".ask-turn:nth-child(2)[data-state=done]")
            want = "Sessions per provider: "
            want += ", ".join(f"{p} {n}" for p, n in sorted(sessions.items())) + "."
            assert second.locator(".ask-answer").inner_text() == want
            assert SESSIONS_SQL in second.locator(".ask-sql").inner_text()
            assert "null" not in second.locator(".ask-ev").inner_text()  # no empty part shown
            assert second.locator(".js-plotly-plot .bars .point").count() == len(sessions)
            _shot(page, tmp_path, "ask-2-follow-up")
    # the follow-up's request carried the first question and its answer
    contents = [m.get("content") for m in endpoint.requests[3]["messages"]]
    assert "how many steps per provider?" in contents and expected in contents
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_page_says_when_no_backend_is_available_and_refuses_a_remote_one(
    server: str,  # noqa: F811 (the small trace served in-process, no Ask defaults)
    page,  # noqa: F811
    tmp_path: Path,
) -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("the ask-local extra is installed here: the local model is a backend")
    page.goto(server + "/ask")
    page.wait_for_selector("#ask-question")
    assert page.is_visible("#ask-no-backend")
    assert "ask-local" in page.inner_text("#ask-no-backend")
    page.fill("#ask-base-url", "https://api.example.invalid/v1")
    assert not page.is_visible("#ask-no-backend")  # an endpoint is named now
    page.fill("#ask-question", "how many steps?")
    page.click("#ask-send")
    page.wait_for_selector(".ask-turn[data-state=error]")
    message = page.inner_text(".ask-turn .ask-error")
    assert "not on this machine" in message and "turn on the remote switch" in message
    _shot(page, tmp_path, "ask-3-remote-refused")
    assert page.is_enabled("#ask-send") and page.is_enabled("#ask-remote")  # nothing started
    # the one error the browser logs is that refusal (the response, and its console line)
    assert all("403" in e for e in page.console_errors)  # type: ignore[attr-defined]
