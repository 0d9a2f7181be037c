"""Benchmark `tracelab synth`: raw-output speed, and the calibration table of the study profile.

Targets (issue: synth as a workload generator), on a 2-core machine:
  * ≥ 40,000 steps/s of raw Claude Code / Codex output written to disk, pure Python;
  * every target of the `study` profile within 10 % (relative) at 4,000 sessions.

Speed: `generate_home` writes `--sessions` sessions (default 4,000, the calibration size) with
one writer process per CPU; steps/s = distinct steps written / wall seconds. The baseline,
measured in the same run on the same disk, serializes the same number of step-sized dict
records with orjson (one record per step, about the size of an assistant line) and writes
them to one file in a single process: the cost of the output alone, without generating it.
Calibration: the home is collected, its DuckDB built, and `synth check study` measures it.

Measured on the 2-core dev VM (4,000 sessions, ~334k steps, 4,341 files, 1.2 GB): as pure
Python, after four rounds of byte-identical speed-ups (templates, timestamps from tables,
tasks sized by estimated steps, workers forked directly, per-step draws inlined), 43,600–
50,900 steps/s, most runs 44–46k: generation needs ~34 µs of CPU per step and the profile is
flat (~85 % of the time in the interpreter).
The rest of the two cores goes to the kernel, and on this VM it is not cheap: the first write
to a page of fresh guest memory faults into the hypervisor, so writing 1.2 GB of new files
runs at ~0.3 GB/s of system time (into recycled pages: 4.5 GB/s), 1.8–3 s of CPU per run.
After deleting a large home, ext4 without a journal also scans the recently freed inodes at
each create (`--keep` spares your own repeated runs that).

    uv run python benchmarks/synth.py [--sessions 4000] [--seed 0] [--keep] [--no-check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from rich.console import Console

from tracelab.synth import generate_home, load_profile

RECORD = {
    "parentUuid": "0b8c5a4e-2f7d-4c1e-9a3b-6d5e4f3a2b1c",
    "isSidechain": False,
    "message": {
        "model": "claude-opus-4-7",
        "id": "msg_01ABCDEFGHIJKLMNOPQRSTUV",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "x" * 300}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,
            "cache_creation_input_tokens": 812,
            "cache_read_input_tokens": 126_180,
            "output_tokens": 252,
        },
    },
    "type": "assistant",
    "uuid": "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c",
    "timestamp": "2026-01-05T09:00:00.000Z",
    "cwd": "/home/synthetic/projects/orbit-api",
    "sessionId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "version": "2.1.157",
}


def baseline(path: Path, records: int) -> float:
    """Seconds to orjson-dump `records` step-sized dicts (a fresh dict each) and write them."""
    start = time.perf_counter()
    with path.open("wb") as fh:
        chunk: list[bytes] = []
        for i in range(records):
            record = dict(RECORD, uuid=f"{i:036d}")
            chunk.append(orjson.dumps(record))
            if len(chunk) == 4096:
                fh.write(b"\n".join(chunk) + b"\n")
                chunk.clear()
        if chunk:
            fh.write(b"\n".join(chunk) + b"\n")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--no-check", action="store_true", help="speed only, no calibration")
    args = parser.parse_args()

    console = Console()
    work = args.dir or Path(tempfile.mkdtemp(prefix="tracelab-synth-bench-"))
    home = work / "home"
    try:
        profile = load_profile("study")
        load = os.getloadavg()[0]
        start = time.perf_counter()
        summary = generate_home(
            home, sessions=args.sessions, seed=args.seed, profile=profile, workers=args.workers
        )
        gen_s = time.perf_counter() - start
        steps = summary.total_steps
        base_s = baseline(work / "baseline.jsonl", steps)
        (work / "baseline.jsonl").unlink()
        rate = steps / gen_s
        console.print(
            f"[bold]synth[/] {args.sessions:,} sessions: {steps:,} steps, "
            f"{sum(summary.tool_calls.values()):,} tool calls, {summary.files:,} files, "
            f"{summary.bytes / 1e6:,.0f} MB in {gen_s:.1f} s "
            f"({os.cpu_count()} CPUs, load average {load:.2f} before)"
        )
        console.print(
            f"  [bold]{rate:,.0f} steps/s[/] of raw output (target ≥ 40,000), "
            f"{summary.bytes / 1e6 / gen_s:,.0f} MB/s"
        )
        console.print(
            f"  baseline: orjson-dumping and writing {steps:,} step-sized dicts in one process: "
            f"{base_s:.1f} s = {steps / base_s:,.0f} records/s → synth is "
            f"{base_s / gen_s:.2f}× the baseline's speed"
        )
        if args.no_check:
            return
        check(console, work, home, profile)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            console.print(f"kept {work}")


def check(console: Console, work: Path, home: Path, profile: object) -> None:
    from tracelab import display
    from tracelab.collect import collect
    from tracelab.sources.discover import home_for
    from tracelab.synth.calibration import compare, measure
    from tracelab.tracedb import build_db, open_db

    start = time.perf_counter()
    trace, db = work / "trace.parquet", work / "trace.duckdb"
    collect([home_for(home)], trace, cache=False)
    build_db(trace, db)
    con = open_db(db)
    verdicts = compare(list(profile.targets), measure(con))  # type: ignore[attr-defined]
    console.print(f"  collect + db build + measure: {time.perf_counter() - start:.1f} s\n")
    wide = Console(width=max(console.width, 160))
    display.synth_check_report(wide, verdicts, "profile study", home, 0.10)


if __name__ == "__main__":
    main()
