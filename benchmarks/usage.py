"""Benchmark `tracelab usage` on a synthetic home: the first run, and a repeat on unchanged logs.

Issue 15's target: a repeat `usage` on unchanged logs answers in well under a second. The
repeat run is collect's no-op (discover + stat every log) + the cached usage facts + one query.

Every figure is the real CLI in a subprocess (start-up included), next to baselines measured
in the same run: `tracelab --version` (the interpreter and the CLI's start-up) and a no-op
`tracelab collect -o` on the same home. The load average is printed: other processes slow
every figure alike, so compare the ratios.

    uv run python benchmarks/usage.py [--sessions 400] [--runs 7] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tracelab.synth import generate_home


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tracelab.cli", *args], env=env, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _median(args: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    samples = [_timed(args, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=400)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    opts = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracelab-bench-usage-"))
    try:
        home = work / "home"
        summary = generate_home(home, sessions=opts.sessions, seed=5)
        env = {**os.environ, "TRACELAB_CACHE_DIR": str(work / "cache"), "COLUMNS": "160"}
        steps = summary.total_steps
        size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
        print(
            f"home: {opts.sessions} sessions, {size / 1e6:.1f} MB"
            + (f", {steps:,} steps" if steps else "")
        )
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

        usage = ["usage", "--home", str(home), "-z", "UTC"]
        first = _timed(usage, env)
        collect = ["collect", "--home", str(home), "-o", str(work / "t.jsonl")]
        _timed(collect, env)  # fills collect's manifest for its own output
        startup = _median(["--version"], env, opts.runs)
        noop_collect = _median(collect, env, opts.runs)
        repeat = _median(usage, env, opts.runs)
        repeat_json = _median([*usage, "blocks", "--json"], env, opts.runs)

        print(f"{'run':<34}{'wall s':>9}{'CPU s':>9}{'× start-up':>12}")
        for name, (wall, cpu) in (
            ("tracelab --version (start-up)", startup),
            ("collect -o, no-op", noop_collect),
            ("usage, first run", first),
            ("usage, repeat (daily table)", repeat),
            ("usage, repeat (blocks --json)", repeat_json),
        ):
            print(f"{name:<34}{wall:>9.3f}{cpu:>9.3f}{wall / startup[0]:>12.1f}")
        print(f"repeat usage − no-op collect: {repeat[0] - noop_collect[0]:+.3f} s wall")
    finally:
        if opts.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
