"""Benchmark `build_db` on a synthetic normalized trace (default: 357,000 steps, like the paper).

The trace comes from `synthtrace.py` (shared with `analyze.py`).

Why: the DuckDB build must stay a few passes of DuckDB over the file (target ≤ 20 s for 357k
steps on 2 cores, bounded memory). After the build we time a baseline on the same file —
DuckDB just counting its lines — so the ratio shows how much work the build adds on top of
reading the bytes, independent of the machine.

Then reading: opening the built database and preparing the fact tables, against the same for
copies in the public release's exact layout (with and without `timing_events.event_index`),
which `open_db` must materialize in the canonical shape first. Wall and CPU seconds (the CPU
figure is steadier on a shared machine).

    uv run python benchmarks/tracedb_build.py [-n 357000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from synthtrace import write_trace
from tracelab.dblayout import RELEASE_EVENT_FIELDS, RELEASE_ROUND_FIELDS, RELEASE_TOOL_FIELDS
from tracelab.metrics.steps import prepare
from tracelab.tracedb import build_db, open_db


def _peak_rss_mb() -> float:
    """Peak RSS of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def release_copy(db: Path, dst: Path, event_index: bool) -> None:
    """`db` in the public release's layout only (no TraceLab extras, no meta table)."""

    def cols(names: tuple[str, ...]) -> str:
        return ", ".join(f'"{n}"' for n in names)

    con = duckdb.connect(str(dst))
    con.execute(f"ATTACH '{db}' AS built (READ_ONLY)")
    con.execute(
        f"CREATE TABLE rounds AS SELECT round_pk, ingest_seq, {cols(RELEASE_ROUND_FIELDS)} "
        "FROM built.rounds"
    )
    con.execute(
        f"CREATE TABLE tool_calls AS SELECT round_pk, {cols(RELEASE_TOOL_FIELDS)} "
        "FROM built.tool_calls"
    )
    index = "event_index, " if event_index else ""
    con.execute(
        f"CREATE TABLE timing_events AS SELECT round_pk, {index}{cols(RELEASE_EVENT_FIELDS)} "
        "FROM built.timing_events"
    )
    con.execute("CREATE TABLE trace_source AS SELECT path FROM built.trace_source")
    con.close()


def open_and_prepare(db: Path, runs: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) seconds of open_db + prepare over `runs`."""
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        con = open_db(db)
        prepare(con)
        con.close()
        best = (min(best[0], time.perf_counter() - wall), min(best[1], time.process_time() - cpu))
    return best


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
        write_trace(src, args.n)
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

        variants = {"TraceLab build": dst}
        for name, with_index in (("release", True), ("first release", False)):
            copy = workdir / f"{name.replace(' ', '-')}.duckdb"
            copy.unlink(missing_ok=True)
            release_copy(dst, copy, with_index)
            variants[f"{name} layout"] = copy
        times = {name: open_and_prepare(path) for name, path in variants.items()}
        base_wall, base_cpu = times["TraceLab build"]
        for name, (wall, cpu) in times.items():
            print(
                f"open + prepare, {name}: {wall:.2f} s wall ({wall / base_wall:.2f}x), "
                f"{cpu:.2f} s CPU ({cpu / base_cpu:.2f}x)"
            )
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
