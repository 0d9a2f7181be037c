"""Benchmark the serving exports: replay-csv, mooncake and vllm-multiturn on a synthetic trace.

Why: the exports must handle the study's 357k steps quickly and in bounded memory (mooncake
and vllm-multiturn stream rows from DuckDB in batches; vllm-multiturn holds one conversation
at a time). The unit tests only use tiny traces, so speed is measured here. This script
generates a study-shaped synthetic trace (`synthtrace.py`, default 50,000 steps), builds its
DuckDB, then runs each export in its own subprocess (pinned to `--cores` CPUs, like
`analyze.py`) and prints its time, steps per second, output size and peak RSS. `replay-csv`
(DuckDB's own `COPY`) is the baseline the others are compared with.

The time is the export call's own (the fact tables are prepared first and timed apart); the
peak RSS is the whole subprocess's (Python, DuckDB and the prepared tables included).

    uv run python benchmarks/exports.py [-n 50000] [--keep DIR] [--cores 2]
        [--max-sessions N]   (vllm-multiturn's option; default: every session)

A script, never a unit test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

from analyze import load_note, measure
from synthtrace import write_trace

EXPORT_SNIPPET = """
import sys, time, orjson
from pathlib import Path
from tracelab.metrics.steps import prepare
from tracelab.tracedb import open_db
kind, db, out, max_sessions = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
con = open_db(db)
t = time.perf_counter()
prepare(con)
prepared = time.perf_counter() - t
(steps,) = con.execute("SELECT count(*) FROM step_facts").fetchone()
t = time.perf_counter()
if kind == "replay-csv":
    from tracelab.export.replay_csv import export_replay_csv
    export_replay_csv(con, out)
elif kind == "mooncake":
    from tracelab.export.mooncake import export_mooncake
    export_mooncake(con, out)
else:
    from tracelab.export.vllm_multiturn import export_vllm_multiturn
    r = export_vllm_multiturn(con, out, max_sessions=int(max_sessions) if max_sessions else None)
    steps = r.turns
seconds = time.perf_counter() - t
print(orjson.dumps({"seconds": seconds, "prepare_s": prepared, "steps": steps,
                    "bytes": out.stat().st_size}).decode())
"""

EXPORTS = (
    ("replay-csv", "replay.csv"),
    ("mooncake", "mooncake.jsonl"),
    ("vllm-multiturn", "conversations.json"),
)


def run(workdir: Path, n: int, cores: int, max_sessions: int | None) -> int:
    from tracelab.tracedb import build_db

    src, db = workdir / "trace.jsonl", workdir / "trace.duckdb"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = write_trace(src, n)
    db.unlink(missing_ok=True)
    build_db(src, db)
    print(f"generated and built {rows:,} synthetic steps in {time.perf_counter() - started:.1f} s")
    print(f"measuring on {cores or 'all'} cores ({load_note()}):")
    results: dict[str, dict] = {}
    for kind, name in EXPORTS:
        argv = [sys.executable, "-c", EXPORT_SNIPPET, kind, str(db), str(workdir / name)]
        m = measure(kind, [*argv, str(max_sessions or "")], logs, cores)
        if m.code != 0:
            print(f"{kind} failed; see {logs}")
            return 1
        results[kind] = {**orjson.loads(m.last_line), "rss_mb": m.rss_mb}
    base = results["replay-csv"]["steps"] / results["replay-csv"]["seconds"]
    print()
    print(f"{'export':<16} {'steps':>9} {'seconds':>8} {'steps/s':>10} {'vs CSV':>7} "
          f"{'output':>9} {'peak RSS':>9}")  # fmt: skip
    for kind, r in results.items():
        rate = r["steps"] / r["seconds"]
        print(
            f"{kind:<16} {r['steps']:>9,} {r['seconds']:>8.2f} {rate:>10,.0f} "
            f"{rate / base:>6.2f}× {r['bytes'] / 1e6:>7.1f} MB {r['rss_mb']:>6.0f} MB"
        )
    prepare_s = results["replay-csv"]["prepare_s"]
    print(f"(preparing the fact tables, before each export: {prepare_s:.2f} s)")
    print(f"after the runs: {load_note()}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="synthetic steps (default 50,000)")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep everything there")
    parser.add_argument("--cores", type=int, default=2, help="CPUs for the children (0: all)")
    parser.add_argument("--max-sessions", type=int, help="vllm-multiturn: the first N sessions")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        sys.exit(run(args.keep, args.n, args.cores, args.max_sessions))
    with tempfile.TemporaryDirectory(prefix="exports-bench-") as tmp:
        code = run(Path(tmp), args.n, args.cores, args.max_sessions)
    sys.exit(code)


if __name__ == "__main__":
    main()
