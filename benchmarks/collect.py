"""Benchmark `tracelab collect` on a synthetic raw corpus (default ≥ 200 MB).

Targets (issue: the data pipeline), on a 2-core machine:
  * cold collect ≥ 150 MB/s;
  * a re-run with no changed file ≤ 0.5 s (incremental cache);
  * memory bounded by the largest file, not the corpus.

Every figure is measured end to end through the real CLI in a subprocess (start-up included),
next to baselines measured in the same run on the same files: reading the bytes, and parsing
every line with orjson in one process (the floor a pure-Python collector cannot go below
without parallelism). Ratios against those baselines are what to compare across machines.

    uv run python benchmarks/collect.py [--mb 200] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tracelab.synth import generate_home


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*.jsonl") if p.is_file())


def baseline_read(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        path.read_bytes()
    return time.perf_counter() - start


def baseline_orjson(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        for line in path.read_bytes().split(b"\n"):
            if line:
                with contextlib.suppress(orjson.JSONDecodeError):
                    orjson.loads(line)
    return time.perf_counter() - start


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, dict, int]:
    """Run `tracelab …` in a subprocess; return wall seconds, its --json report, peak RSS KB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tracelab.cli", *args, "--json"],
        env=env,
        capture_output=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, orjson.loads(proc.stdout), max(peak, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="corpus size in MB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus afterwards")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="tracelab-bench-"))
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    t0 = time.perf_counter()
    summary = generate_home(home, sessions=10, seed=args.seed, target_bytes=int(args.mb * 1e6))
    gen_s = time.perf_counter() - t0
    files = _files(home)
    total = sum(p.stat().st_size for p in files)
    largest = max(p.stat().st_size for p in files)
    mb = total / 1e6
    print(
        f"corpus: {len(files):,} files, {mb:.1f} MB (largest {largest / 1e6:.1f} MB), "
        f"generated in {gen_s:.1f} s — SYNTHETIC"
    )

    read_s = baseline_read(files)
    parse_s = baseline_orjson(files)
    print(f"baseline read bytes:          {mb / read_s:8.0f} MB/s")
    print(f"baseline orjson every line:   {mb / parse_s:8.0f} MB/s  (1 process)")

    env = {**os.environ, "TRACELAB_CACHE_DIR": str(work / "cache")}
    # An installed TraceLab runs from bytecode after its first use; with
    # PYTHONDONTWRITEBYTECODE set (some sandboxes), every run would compile ~190 modules
    # (~0.3 s) and the timings would measure the compiler. One untimed run on a tiny home
    # writes the bytecode of everything `collect` imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    warm = work / "warm-up"
    generate_home(warm / "home", sessions=2, seed=args.seed, workers=1)
    run_cli(["collect", "--home", str(warm / "home"), "-o", str(warm / "t.jsonl")], env)
    out = work / "trace.jsonl"
    common = ["collect", "--home", str(home), "-o", str(out)]

    cold_s, report, peak_kb = run_cli([*common, "--no-cache"], env)
    steps = report["rows"]
    print(
        f"collect cold (no cache):      {mb / cold_s:8.0f} MB/s  {cold_s:6.2f} s  "
        f"= {parse_s / cold_s:.2f}× the 1-process orjson baseline; {steps:,} steps "
        f"({steps / cold_s:,.0f} steps/s; {total / steps / 1e3:.1f} KB per step)"
    )
    first_s, _, _ = run_cli(common, env)
    print(f"collect cold, filling cache:  {mb / first_s:8.0f} MB/s  {first_s:6.2f} s")
    again_s, again, _ = run_cli(common, env)
    print(f"re-run, nothing changed:      {again_s:8.2f} s  (up_to_date={again['up_to_date']})")

    grown = files[len(files) // 2]
    with grown.open("ab") as fh:
        fh.write(grown.read_bytes().split(b"\n")[0] + b"\n")  # one appended record
    grow_s, grow, _ = run_cli(common, env)
    print(
        f"re-run, one file appended:    {grow_s:8.2f} s  (parsed {grow['bytes_parsed']:,} B, "
        f"{grow['cached_files']:,} files from cache)"
    )
    print(
        f"peak RSS of a collect run:    {peak_kb / 1024:8.0f} MB  "
        f"(largest file {largest / 1e6:.1f} MB, corpus {mb:.0f} MB)"
    )
    print("targets: cold ≥ 150 MB/s, unchanged re-run ≤ 0.5 s")
    print(f"steps in summary: {sum(summary.steps.values()):,}")
    if not args.keep and args.dir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
