"""Benchmark `build_db` on a synthetic normalized trace (default: 357,000 steps, like the paper).

Why: the DuckDB build must stay a few passes of DuckDB over the file (target ≤ 20 s for 357k
steps on 2 cores, bounded memory). After the build we time a baseline on the same file —
DuckDB just counting its lines — so the ratio shows how much work the build adds on top of
reading the bytes, independent of the machine.

    uv run python benchmarks/tracedb_build.py [-n 357000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from tracelab.io import write_rows
from tracelab.schema import Row, make_trace_key
from tracelab.tracedb import build_db, open_db

_CLAUDE_TOOLS = ("Bash", "Read", "Edit", "Grep", "Write", "Glob", "TodoWrite")
_CODEX_TOOLS = ("exec_command", "apply_patch", "write_stdin", "update_plan")
_N_TOOLS = (0, 0, 0, 1, 1, 1, 1, 2, 2, 3)  # mean 1.1–1.2 tools per step


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def synth_rows(n: int, seed: int = 7) -> Iterator[Row]:
    """Yield `n` plausible normalized rows: sessions of 20–400 steps, Claude and Codex mixed."""
    rnd = random.Random(seed)
    clock = datetime(2025, 9, 1, tzinfo=UTC)
    made = 0
    session_no = 0
    while made < n:
        session_no += 1
        provider = "claude" if session_no % 3 else "codex"
        session_id = f"{provider}:{session_no:08x}-5e55-4a11-9c0d-{rnd.getrandbits(48):012x}"
        project = (
            f"-home-u{session_no % 17}-proj{session_no % 41}" if provider == "claude" else None
        )
        model = "claude-opus-4-1" if provider == "claude" else "gpt-5-codex"
        turn = f"0199{rnd.getrandbits(64):016x}"
        pending: list[dict] = [
            {"event_type": "user_message", "timestamp": _iso(clock), "source": "user.message"}
        ]
        prefix = 0
        for k in range(rnd.randint(20, 400)):
            if made >= n:
                break
            t = clock + timedelta(milliseconds=rnd.randint(800, 9000))
            events = list(pending)
            if provider == "claude":
                events.append(
                    {
                        "event_type": "reasoning",
                        "timestamp": _iso(t),
                        "source": "assistant.content.thinking",
                        "content_chars": rnd.randint(0, 3000),
                    }
                )
            events.append(
                {
                    "event_type": "text",
                    "timestamp": _iso(t),
                    "source": "assistant.content.text",
                    "content_chars": rnd.randint(10, 2000),
                }
            )
            tools = []
            pending = []
            for i in range(rnd.choice(_N_TOOLS)):
                name = rnd.choice(_CLAUDE_TOOLS if provider == "claude" else _CODEX_TOOLS)
                call_id = f"call_{rnd.getrandbits(80):020x}"
                cmd = "rg -n 'pattern' src/ | head -n " + str(rnd.randint(1, 500)) * rnd.randint(
                    1, 20
                )
                wall = rnd.randint(5, 60_000)
                res_at = t + timedelta(milliseconds=wall)
                error = rnd.random() < 0.08
                result_chars = rnd.randint(0, 20_000)
                tools.append(
                    {
                        "tool_index": i,
                        "tool_name": name,
                        "tool_call_id": call_id,
                        "emitted_at": _iso(t),
                        "result_at": _iso(res_at),
                        "input": {"command": cmd, "timeout": 120000},
                        "input_chars": len(cmd) + 30,
                        "result_chars": result_chars,
                        "tool_wall_latency_ms": wall,
                        "tool_internal_latency_ms": max(0, wall - rnd.randint(0, 50)),
                        "is_error": error,
                    }
                )
                events.append(
                    {
                        "event_type": "tool_call",
                        "timestamp": _iso(t),
                        "source": "assistant.content.tool_use",
                        "tool_call_id": call_id,
                        "tool_name": name,
                        "tool_index": i,
                    }
                )
                pending.append(
                    {
                        "event_type": "tool_result",
                        "timestamp": _iso(res_at),
                        "source": "user.content.tool_result",
                        "tool_call_id": call_id,
                        "result_chars": result_chars,
                        "is_error": error,
                    }
                )
                t = max(t, res_at)
            if provider == "codex":
                events.append(
                    {
                        "event_type": "usage_report",
                        "timestamp": _iso(t),
                        "source": "event_msg.token_count",
                    }
                )
            if not pending:
                pending = [
                    {
                        "event_type": "user_message",
                        "timestamp": _iso(t + timedelta(seconds=rnd.randint(2, 120))),
                        "source": "user.message",
                        "content_chars": rnd.randint(5, 800),
                    }
                ]
            clock = t + timedelta(milliseconds=rnd.randint(1, 500))
            newly = rnd.randint(50, 6000)
            out_tokens = rnd.randint(10, 4000)
            round_id = f"msg_{rnd.getrandbits(96):024x}" if provider == "claude" else f"{turn}:{k}"
            inputs = [e for e in events if e["event_type"] in ("user_message", "tool_result")]
            chars = [e.get("content_chars", e.get("result_chars", 0)) or 0 for e in inputs]
            row: Row = {
                "provider": provider,
                "project": project,
                "session_id": session_id,
                "session_file": f"/home/u/.{provider}/sessions/{session_no}.jsonl",
                "is_subagent": session_no % 11 == 0,
                "round_index": k,
                "round_id": round_id,
                "turn_id": turn if provider == "codex" else None,
                "cwd": f"/home/u/proj{session_no % 41}" if provider == "codex" else None,
                "model": model,
                "input_tokens_total": prefix + newly,
                "prefix_tokens": prefix,
                "newly_append_tokens": newly,
                "claude_uncached_input_tokens": 3 if provider == "claude" else None,
                "claude_cache_creation_input_tokens": newly - 3 if provider == "claude" else None,
                "claude_cache_read_input_tokens": prefix if provider == "claude" else None,
                "output_tokens": out_tokens,
                "reasoning_output_tokens": out_tokens // 2 if provider == "codex" else None,
                "timing_events": events,
                "tools": tools,
                "current_user_message_count": sum(
                    e["event_type"] == "user_message" for e in inputs
                ),
                "current_tool_result_count": sum(e["event_type"] == "tool_result" for e in inputs),
                "current_input_event_count": len(inputs),
                "current_user_message_chars": sum(
                    c
                    for e, c in zip(inputs, chars, strict=True)
                    if e["event_type"] == "user_message"
                ),
                "current_tool_result_chars": sum(
                    c
                    for e, c in zip(inputs, chars, strict=True)
                    if e["event_type"] == "tool_result"
                ),
                "current_input_chars": sum(chars),
                "first_input_event_type": inputs[0]["event_type"] if inputs else None,
                "home": "/home/u",
                "user": "u",
                "store": ".claude" if provider == "claude" else ".codex",
                "trace_key": make_trace_key(provider, session_id, round_id),
            }
            prefix += newly + out_tokens
            made += 1
            yield row


def _peak_rss_mb() -> float:
    """Peak RSS of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=357_000, help="number of synthetic steps")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tracedb-bench-") as tmpdir:
        workdir = args.keep or Path(tmpdir)
        workdir.mkdir(parents=True, exist_ok=True)
        src = workdir / "trace.jsonl"
        dst = workdir / "trace.duckdb"

        t0 = time.perf_counter()
        write_rows(synth_rows(args.n), src)
        gen_s = time.perf_counter() - t0
        size_mb = src.stat().st_size / 1e6
        print(f"generated {args.n:,} rows, {size_mb:,.0f} MB JSONL in {gen_s:.1f} s")
        rss_before = _peak_rss_mb()

        t0 = time.perf_counter()
        report = build_db(src, dst)
        build_s = time.perf_counter() - t0
        peak = _peak_rss_mb()
        print(
            f"build_db: {build_s:.2f} s, {report.rows / build_s:,.0f} rows/s, "
            f"{report.tool_calls:,} tool calls, {report.timing_events:,} timing events, "
            f"{report.skipped_lines} skipped; DB {dst.stat().st_size / 1e6:,.0f} MB"
        )
        with open_db(dst) as db:
            (misordered,) = db.execute(
                "SELECT count(*) FROM (SELECT round_index, session_id,"
                " lag(round_index) OVER w AS prev_index, lag(session_id) OVER w AS prev_session"
                " FROM rounds WINDOW w AS (ORDER BY round_pk)) WHERE NOT"
                " (round_index = prev_index + 1 AND session_id = prev_session"
                " OR round_index = 0 AND session_id IS DISTINCT FROM prev_session)"
            ).fetchone()
        print(f"order check: {misordered} steps out of file order")
        t0 = time.perf_counter()
        con = duckdb.connect()
        (lines,) = con.execute(
            "SELECT count(*) FROM read_csv(?, columns={'line': 'VARCHAR'}, delim='\\x01',"
            " quote='', escape='', header=false, max_line_size=100000000)",
            [str(src)],
        ).fetchone()
        con.close()
        base_s = time.perf_counter() - t0
        print(f"baseline: DuckDB counts {lines:,} lines in {base_s:.2f} s")

        print(
            f"peak RSS after the build: {peak:,.0f} MB (before it: {rss_before:,.0f} MB); "
            f"build/baseline ratio: {build_s / base_s:.1f}x"
        )


if __name__ == "__main__":
    main()
