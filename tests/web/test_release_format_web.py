"""The web app over the public release's files (spec `public-dataset.md`): the release's
DuckDB with and without `timing_events.event_index`, and its JSONL.gz built the way `serve -i`
does. Every page's data is the same for the three; counts are checked against the JSONL read
with the standard library."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from tracelab.traceinput import resolve_trace

PUBLIC = FIXTURES / "public-dataset"
pytestmark = pytest.mark.skipif(
    not PUBLIC.is_dir(), reason="../shared/fixtures/public-dataset is absent"
)


def _variants() -> dict[str, tuple[Path, Path | None]]:
    """name → (database, trace source) as `serve --db` / `serve -i` pass them."""
    jsonl = PUBLIC / "public-trace.jsonl.gz"
    return {
        "duckdb": (PUBLIC / "public-schema.duckdb", None),
        "duckdb-no-event-index": (PUBLIC / "public-schema-no-event-index.duckdb", None),
        "jsonl.gz": (resolve_trace(None, jsonl).db, jsonl),
    }


def _pages(client) -> dict:
    """The JSON of every trace page, with a session and its busiest step."""
    overview = client.get("/api/t/main/overview").json()
    dashboard = client.get("/api/t/main/dashboard", params={"tz": "Europe/Berlin"}).json()
    sessions = client.get("/api/t/main/sessions", params={"sort": "tools", "limit": 100}).json()
    sid = sessions["sessions"][0]["session_id"]
    session = client.get("/api/t/main/session", params={"id": sid}).json()
    step = max(session["steps"], key=lambda s: (s["tool_calls"], -s["round_pk"]))
    detail = client.get(f"/api/t/main/steps/{step['round_pk']}").json()
    overview.pop("trace", None)  # names the served file
    overview.pop("meta", None)  # and what it was built from
    return {
        "overview": overview,
        "dashboard": dashboard,
        "sessions": sessions,
        "session": session,
        "step": detail,
    }


def test_every_page_reads_the_release_files(make_client) -> None:
    with gzip.open(PUBLIC / "public-trace.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    pages = {}
    for name, (db, source) in _variants().items():
        client = make_client(db=db, source=source)
        got = _pages(client)
        total = next(r for r in got["overview"]["headline"] if r["provider"] == "total")
        assert (total["steps"], total["tool_calls"]) == (
            len(rows),
            sum(len(r["tools"]) for r in rows),
        ), name
        assert got["sessions"]["total"] == len({r["session_id"] for r in rows}), name
        assert sum(r["steps"] for r in got["dashboard"]["cost_by_model"]) == len(rows), name
        # The busiest step's tool calls and events are the file's (round_pk = line number).
        step = got["step"]
        line = rows[step["step"]["round_pk"] - 1]
        assert [t["tool"] for t in step["tools"]] == [t["tool_name"] for t in line["tools"]]
        assert [e["event_type"] for e in step["events"]] == [
            e["event_type"] for e in line["timing_events"]
        ]
        pages[name] = got
    assert pages["duckdb"] == pages["duckdb-no-event-index"] == pages["jsonl.gz"]
