"""Shared setup of the web tests: one small SYNTHETIC trace, its database, an app over it."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracelab.collect import collect
from tracelab.sources.discover import Home
from tracelab.synth import generate_home
from tracelab.tracedb import build_db

TOKEN = "test-token-0123456789"
HOST = "127.0.0.1"
PORT = 8765
BASE = f"http://{HOST}:{PORT}"
#: A few experiments (one with a figure) keep the Experiments tests fast.
EXPERIMENTS = ["trace_facts/overview", "session/context_growth"]


@dataclass(frozen=True)
class SmallTrace:
    home: Path
    trace: Path
    db: Path


@pytest.fixture(scope="session")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> SmallTrace:
    """12 synthetic sessions (Claude and Codex) → trace.jsonl.gz → trace.duckdb."""
    root = tmp_path_factory.mktemp("web-trace")
    home = root / "home"
    generate_home(home, sessions=12, seed=3, workers=1)
    trace = root / "trace.jsonl.gz"
    with tempfile.TemporaryDirectory() as cache:
        collect([Home(home, "synthetic")], trace, cache=Path(cache), workers=1)
    db = root / "trace.duckdb"
    build_db(trace, db)
    return SmallTrace(home=home, trace=trace, db=db)


@pytest.fixture(scope="session")
def home_zip(small_trace: SmallTrace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .zip of the synthetic home's .claude/projects and .codex/sessions (an upload)."""
    out = tmp_path_factory.mktemp("web-upload") / "agent-logs.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(small_trace.home.rglob("*.jsonl")):
            zf.write(path, path.relative_to(small_trace.home).as_posix())
    return out


@pytest.fixture
def make_client(small_trace: SmallTrace) -> Iterator:
    """Build a TestClient for an app (default: over the small trace) with the test token."""
    from fastapi.testclient import TestClient

    from tracelab.web.app import create_app

    clients = []

    def make(**kwargs):
        options = {
            "source": small_trace.trace,
            "token": TOKEN,
            "host": HOST,
            "port": PORT,
            "experiment_ids": EXPERIMENTS,
        }
        options.update(kwargs)
        db = options.pop("db", small_trace.db)
        client = TestClient(create_app(db, **options), base_url=BASE)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.app.state.tracelab.traces.close()


@pytest.fixture
def client(make_client):
    return make_client()


def auth() -> dict[str, str]:
    return {"X-TraceLab-Token": TOKEN}


def wait_job(client, job_id: str, timeout: float = 120.0) -> dict:
    """Poll a job until it ends; return its JSON."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def one_step_row() -> dict:
    """One Claude step without tools: a user message, then text (generation 4 s, no human
    wait: nothing comes before the message). Every token count chosen by hand."""
    return {
        "provider": "claude",
        "project": "/home/me/solo",
        "session_id": "claude:one-step",
        "is_subagent": False,
        "round_index": 0,
        "round_id": "msg_one",
        "model": "claude-sonnet-4-6",
        "input_tokens_total": 1500,
        "prefix_tokens": 1000,
        "newly_append_tokens": 500,
        "claude_uncached_input_tokens": 500,
        "claude_cache_creation_input_tokens": 0,
        "claude_cache_read_input_tokens": 1000,
        "output_tokens": 40,
        "timing_events": [
            {
                "event_type": "user_message",
                "timestamp": "2026-02-03T10:00:00.000Z",
                "source": "user.content.text",
                "content_chars": 12,
            },
            {
                "event_type": "text",
                "timestamp": "2026-02-03T10:00:04.000Z",
                "source": "assistant.content.text",
                "content_chars": 80,
            },
        ],
        "tools": [],
        "current_user_message_count": 1,
        "current_tool_result_count": 0,
        "current_input_event_count": 1,
        "current_user_message_chars": 12,
        "current_tool_result_chars": 0,
        "current_input_chars": 12,
        "first_input_event_type": "user_message",
        "user": "me",
        "store": ".claude",
        "trace_key": "claude:one-step:msg_one",
    }


@pytest.fixture(scope="session")
def one_step_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace database of exactly one step, no tool calls (the empty states' trace)."""
    import orjson

    root = tmp_path_factory.mktemp("one-step")
    trace = root / "one.jsonl"
    trace.write_bytes(orjson.dumps(one_step_row()) + b"\n")
    db = root / "one.duckdb"
    build_db(trace, db)
    return db


@pytest.fixture(scope="session")
def partial_prices(tmp_path_factory: pytest.TempPathFactory):
    """A price table (CSV `--prices FILE`) of the Claude models and gpt-5.5 only, with no
    family fallback: the small trace's other Codex models are unpriced."""
    from tracelab.pricing import resolve_source

    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    path.write_text(
        "provider,model_group,model_glob,match,input,cache_write_5m,cache_read,output\n"
        "claude,Opus,claude-opus-4-*,exact,5.00,6.25,0.50,25.00\n"
        "claude,Sonnet,claude-sonnet-4-6,exact,3.00,3.75,0.30,15.00\n"
        "codex,GPT-5.5,gpt-5.5,exact,5.00,,0.50,30.00\n"
    )
    return resolve_source(path)
