"""Hand-built normalized traces for metric tests: a few steps, every value chosen in the test.

    rows = [
        step("s1", 0, prefix=0, append=1000, output=100, first="user_message",
             events=[ev("user_message", 0), ev("text", 2)]),
        step("s1", 1, prefix=1100, append=50, output=20, first="tool_result",
             events=[ev("tool_result", 5, tool_call_id="t1"),
                     ev("tool_call", 6, tool_call_id="t2")],
             tools=[tool("t2", "Bash", emitted=6, result=9, internal_ms=2500)]),
    ]
    con = trace_db(tmp_path, rows)        # built DuckDB, opened, metric tables prepared

Times are seconds after `T0` (2026-01-05 10:00:00 UTC), written as the trace's ISO `Z` strings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tracelab.io import write_rows
from tracelab.metrics.steps import prepare
from tracelab.pricing import PriceSource
from tracelab.schema import make_trace_key
from tracelab.tracedb import build_db, open_db

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    """ISO-8601 `Z` timestamp `seconds` after T0 (millisecond precision, like the agents)."""
    t = T0 + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ev(event_type: str, at: float, **attrs: Any) -> dict[str, Any]:
    """One timing event at `at` seconds."""
    return {"event_type": event_type, "timestamp": ts(at), "source": "test", **attrs}


def tool(
    call_id: str,
    name: str = "Bash",
    emitted: float | None = 0.0,
    result: float | None = None,
    internal_ms: int | None = None,
    wall_ms: int | None = None,
    is_error: bool | None = None,
    index: int = 0,
) -> dict[str, Any]:
    """One tools[] entry; wall latency defaults to result − emitted (ms) when both are set."""
    if wall_ms is None and emitted is not None and result is not None:
        wall_ms = round((result - emitted) * 1000)
    return {
        "tool_index": index,
        "tool_name": name,
        "tool_call_id": call_id,
        "emitted_at": ts(emitted) if emitted is not None else None,
        "result_at": ts(result) if result is not None else None,
        "input_chars": 10,
        "result_chars": 100 if result is not None else None,
        "tool_wall_latency_ms": wall_ms,
        "tool_internal_latency_ms": internal_ms,
        "is_error": is_error,
    }


def step(
    session: str,
    round_index: int,
    *,
    prefix: int = 0,
    append: int = 0,
    output: int = 0,
    provider: str = "claude",
    model: str | None = None,
    first: str | None = "tool_result",
    events: list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    reasoning: int | None = None,
    uncached: int | None = None,
    cache_creation: int | None = None,
    cache_5m: int | None = None,
    cache_1h: int | None = None,
    user: str = "u1",
    is_subagent: bool = False,
) -> dict[str, Any]:
    """One normalized step row of session `<provider>:<session>`.

    For Claude, `uncached`/`cache_creation` default to all append being uncached input;
    `cache_5m`/`cache_1h` are the log's cache-write split (null: the log has none).
    """
    session_id = f"{provider}:{session}"
    round_id = f"{session}-r{round_index}"
    if model is None:
        model = "claude-opus-4-7" if provider == "claude" else "gpt-5.5"
    if provider == "claude":
        if uncached is None and cache_creation is None:
            uncached, cache_creation = append, 0
        raw = (uncached, cache_creation, prefix)
    else:
        raw = (None, None, None)
    events = events or []
    return {
        "provider": provider,
        "project": "p" if provider == "claude" else None,
        "session_id": session_id,
        "is_subagent": is_subagent,
        "round_index": round_index,
        "round_id": round_id,
        "model": model,
        "input_tokens_total": prefix + append,
        "prefix_tokens": prefix,
        "newly_append_tokens": append,
        "claude_uncached_input_tokens": raw[0],
        "claude_cache_creation_input_tokens": raw[1],
        "claude_cache_creation_5m_input_tokens": cache_5m,
        "claude_cache_creation_1h_input_tokens": cache_1h,
        "claude_cache_read_input_tokens": raw[2],
        "output_tokens": output,
        "reasoning_output_tokens": reasoning,
        "timing_events": events,
        "tools": tools or [],
        "first_input_event_type": first,
        "user": user,
        "store": ".claude" if provider == "claude" else ".codex",
        "trace_key": make_trace_key(provider, session_id, round_id),
    }


def tool_step(session: str, provider: str, calls: list[dict], index: int = 0) -> dict[str, Any]:
    """One user-initiated step emitting `calls` (tool() entries, renumbered in order)."""
    for i, call in enumerate(calls):
        call["tool_index"] = i
    return step(
        session,
        index,
        provider=provider,
        first="user_message",
        events=[ev("user_message", index * 100), ev("text", index * 100 + 1)],
        tools=calls,
    )


def trace_db(
    tmp_path: Path, rows: list[dict[str, Any]], prices: PriceSource | None = None
) -> duckdb.DuckDBPyConnection:
    """Write `rows` as a JSONL trace, build its DuckDB, open it and prepare the metric tables."""
    src = tmp_path / "trace.jsonl"
    db = tmp_path / "trace.duckdb"
    write_rows(rows, src)
    build_db(src, db)
    con = open_db(db)
    prepare(con, prices)
    return con
