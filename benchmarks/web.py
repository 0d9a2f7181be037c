"""Benchmark `tracelab serve` at the study's size: dashboard data and a session page.

Why: the issue sets two budgets on a 357k-step trace — the dashboard's data arrives in ≤ 2 s
once the trace database is built, and a session page in ≤ 300 ms. This script generates a
study-shaped synthetic trace (`synthtrace.py`), builds its DuckDB, creates the app and asks it
through HTTP (Starlette's test client: routing, JSON encoding and the Host/token guard
included, no socket) for:

1. baseline: a `SELECT count(*) FROM rounds` on a freshly opened connection (ratios below)
2. the first request of the server: the metric fact tables (`metrics.steps.prepare`)
3. the dashboard JSON, cold (right after prepare) and warm (cached per trace and zone)
   — "dashboard after the DB is built" is prepare + cold dashboard       target ≤ 2 s
   and from the disk cache, on a second server over the same unchanged database
4. the overview (headline KPIs), the sessions list (first: builds its per-session table),
   session pages (the median session and the longest), one step inspector  target ≤ 300 ms

It also prints the CPU time of prepare + cold dashboard (every thread of the process: DuckDB's
and the app's) and the load average before and after: on a busy machine the wall time is that
work plus the wait for a core, so the CPU time is the figure that compares across runs.

    uv run python benchmarks/web.py [-n 357000] [--keep DIR | --reuse DIR]

Measured at 357,000 steps (4,048 sessions) on a 2-vCPU machine shared with other jobs (load
average 1.9–2.3). When the other jobs left a core free, DuckDB's second thread ran (wall < CPU);
when they did not, wall ≈ CPU time. Eleven runs, by those two conditions:

    measurement                                 both cores free    busy (wall ≈ CPU)
    prepare (metric fact tables)                0.98–1.0 s         1.74–1.96 s
    dashboard JSON, cold                        0.53 s             0.75–1.00 s
    prepare + cold dashboard                    1.50–1.76 s        2.50–2.96 s
      its CPU time                              2.35–2.50 s        2.38–2.56 s
      the same before the speed-ups             1.93–2.16 s        3.21–3.78 s (CPU 3.24–3.35 s)

    dashboard, next server on the same DB (disk cache)   15–39 ms
    dashboard, cached in memory                          2.5–3.5 ms
    overview (headline KPIs)                             103–171 ms
    sessions list, first / warm                          67–127 ms / 11–30 ms
    session page: median (15 steps) / longest (9,148)    16–25 ms / 160–186 ms   (≤ 300 ms)
    step inspector                                       9–12 ms                 (≤ 300 ms)

(A twelfth run, while the load rose, took 4.0 s for 2.87 s of CPU.) So the ≤ 2 s budget holds
when the dashboard's DuckDB work gets the machine's two cores, and is missed by 0.5–1 s when
another job holds one of them.

Exit status 1 when a target is missed. A script, never a unit test: times depend on the machine;
the ratios against the baseline measured in the same run are what compare across machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synthtrace import write_trace

TARGET_DASHBOARD_S = 2.0
TARGET_SESSION_S = 0.300
TOKEN = "bench"
BASE = "http://127.0.0.1:8765"


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median wall time of `repeat` calls (seconds) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def cpu_timed(fn) -> tuple[float, float, object]:
    """Wall and CPU time (seconds, every thread of this process: DuckDB's and the app's) of
    one call, and its result. CPU time is the work done; on a busy machine the wall time is
    that work plus the waiting for a core."""
    t, c = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - t, time.process_time() - c, result


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=357_000, help="steps in the synthetic trace")
    parser.add_argument("--keep", type=Path, help="write the trace and database here and keep")
    parser.add_argument("--reuse", type=Path, help="reuse trace.jsonl + trace.duckdb from here")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from tracelab.tracedb import build_db, open_db
    from tracelab.web.app import create_app

    # The dashboard's disk cache lives in the cache dir: a private one, so runs start cold.
    os.environ["TRACELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="tracelab-bench-cache-")
    work = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="tracelab-bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    trace, db = work / "trace.jsonl", work / "trace.duckdb"
    try:
        if args.reuse is None or not db.is_file():
            t = time.perf_counter()
            write_trace(trace, n=args.n)
            print(f"generated {args.n:,} synthetic steps in {time.perf_counter() - t:.1f} s")
            report = build_db(trace, db)
            print(f"built {db.name}: {report.rows:,} steps in {report.seconds:.1f} s")

        def baseline() -> int:
            with open_db(db) as con:
                return con.execute("SELECT count(*) FROM rounds").fetchone()[0]

        print(f"start: {load()} ({os.cpu_count()} CPUs)")
        base_s, steps = timed(baseline, repeat=5)
        app = create_app(db, source=None, token=TOKEN)
        client = TestClient(app, base_url=BASE)

        def get(path: str, **params):
            r = client.get(path, params=params)
            r.raise_for_status()
            return r

        store = app.state.tracelab.traces.get("main")
        prepare_s, prepare_cpu, _ = cpu_timed(store.warm)
        dash_cold_s, dash_cpu, dash = cpu_timed(
            lambda: get("/api/t/main/dashboard", tz="Europe/Paris")
        )
        dash_warm_s, _ = timed(lambda: get("/api/t/main/dashboard", tz="Europe/Paris"), 5)
        overview_s, _ = timed(lambda: get("/api/t/main/overview"))
        list_cold_s, _ = timed(lambda: get("/api/t/main/sessions", sort="steps"))
        list_warm_s, listing = timed(lambda: get("/api/t/main/sessions", sort="steps"), 5)
        total = listing.json()["total"]
        longest = listing.json()["sessions"][0]
        middle = get("/api/t/main/sessions", sort="steps", offset=total // 2, limit=1).json()
        median_session = middle["sessions"][0]
        sess_med_s, _ = timed(
            lambda: get("/api/t/main/session", id=median_session["session_id"]), 5
        )
        sess_long_s, page = timed(lambda: get("/api/t/main/session", id=longest["session_id"]), 5)
        step_pk = page.json()["steps"][len(page.json()["steps"]) // 2]["round_pk"]
        step_s, _ = timed(lambda: get(f"/api/t/main/steps/{step_pk}"), 5)
        app.state.tracelab.traces.close()
        # A second server on the same, unchanged database: the dashboard from the disk cache.
        again = create_app(db, source=None, token=TOKEN)
        client = TestClient(again, base_url=BASE)
        dash_disk_s, _ = timed(lambda: get("/api/t/main/dashboard", tz="Europe/Paris"))
        again.state.tracelab.traces.close()

        after_build = prepare_s + dash_cold_s
        rows = [
            ("baseline: SELECT count(*) FROM rounds", base_s, None),
            ("prepare (metric fact tables)", prepare_s, None),
            ("dashboard JSON, cold", dash_cold_s, None),
            ("dashboard after the DB is built (prepare + cold)", after_build, TARGET_DASHBOARD_S),
            ("dashboard JSON, warm (cached)", dash_warm_s, None),
            ("dashboard, next server on the same DB (disk cache)", dash_disk_s, TARGET_DASHBOARD_S),
            ("overview (headline KPIs)", overview_s, None),
            ("sessions list, first (builds web_sessions)", list_cold_s, None),
            ("sessions list, warm", list_warm_s, None),
            (f"session page, median ({median_session['steps']:,} steps)", sess_med_s,
             TARGET_SESSION_S),
            (f"session page, longest ({longest['steps']:,} steps)", sess_long_s, TARGET_SESSION_S),
            ("step inspector", step_s, TARGET_SESSION_S),
        ]  # fmt: skip
        print(
            f"\n{steps:,} steps, {total:,} sessions; dashboard JSON {len(dash.content):,} bytes; "
            f"end: {load()}\n"
        )
        print(
            f"CPU time: prepare {prepare_cpu:.2f} s + cold dashboard {dash_cpu:.2f} s = "
            f"{prepare_cpu + dash_cpu:.2f} s (wall {after_build:.2f} s)\n"
        )
        print(f"{'measurement':<52} {'time':>10} {'× baseline':>11}  target")
        missed = False
        for label, seconds, target in rows:
            verdict = ""
            if target is not None:
                ok = seconds <= target
                missed |= not ok
                verdict = f"≤ {target * 1000:.0f} ms {'ok' if ok else 'MISSED'}"
            print(f"{label:<52} {seconds * 1000:>7.1f} ms {seconds / base_s:>10.0f}×  {verdict}")
        return 1 if missed else 0
    finally:
        if args.keep is None and args.reuse is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
