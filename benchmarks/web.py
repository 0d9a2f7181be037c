"""Benchmark `tracelab serve` at the study's size, in a real browser.

Why: issue 16 sets the web app's budgets on a 334k–357k-step trace, as a user meets them:
`tracelab serve --db` listening ≤ 2 s on an already-built database, the Dashboard drawn ≤ 2 s
cold (the first page of a fresh server), and any session page drawn ≤ 1 s (the longest
session included). This script generates a study-shaped synthetic trace (`synthtrace.py`),
builds its DuckDB, starts the real server (`tracelab serve`, a subprocess, uvicorn on a loopback
port, an empty cache dir so it starts cold) and drives Debian's chromium with Playwright:

1. baseline (for the ratios): a page that loads the server's Plotly bundle and draws one
   10-point chart — the floor of any chart page in this browser on this machine
2. listening: from the `tracelab serve` process start to the first answer of /api/status
3. Dashboard, cold: navigation right after the server listens → every chart drawn
   (`#content[data-rendered=1]`, set by the page after its last chart)
4. Dashboard, warm (a reload: the JSON is cached)
5. session pages: the median session and the longest, first visit and again
6. API timings of the same server for reference (the page times include them)

    uv run python benchmarks/web.py [-n 334000] [--keep DIR | --reuse DIR]

Exit status 1 when a target is missed. A script, never a unit test: times depend on the
machine; the ratios against the baseline measured in the same run compare across machines.
Needs /usr/bin/chromium (Debian's package; `.ci/run` installs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from synthtrace import write_trace
from tracelab.web.chromium import ARGS, CHROMIUM

TARGET_LISTEN_S = 2.0
TARGET_DASHBOARD_S = 2.0
TARGET_SESSION_S = 1.0


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """`tracelab serve --db` as a user runs it; seconds until /api/status answers."""
    cmd = [sys.executable, "-m", "tracelab.cli", "serve", "--db", str(db), "--no-browser"]
    t = time.perf_counter()
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/status"
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, time.perf_counter() - t
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"tracelab serve exited with {proc.returncode}")
        if time.perf_counter() - t > 120:
            raise SystemExit("tracelab serve did not listen within 120 s")
        time.sleep(0.02)


def page_time(page, url: str) -> float:
    """Seconds from navigation start to the page's `data-rendered` mark (its charts drawn)."""
    t = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#content[data-rendered='1']", state="attached", timeout=120_000)
    return time.perf_counter() - t


def baseline_time(page, base: str) -> float:
    """A page with the server's Plotly bundle and one small chart: the floor of chart pages."""
    html = (
        f'<div id="c"></div><script src="{base}/static/plotly.min.js"></script>'
        "<script>Plotly.newPlot('c', [{x: [1,2,3,4,5,6,7,8,9,10], y: [3,1,4,1,5,9,2,6,5,3]}]);"
        "document.body.dataset.done = '1';</script>"
    )
    page.goto(f"{base}/api/status")  # same origin, so the script may load
    t = time.perf_counter()
    page.set_content(html, wait_until="load")
    page.wait_for_selector("body[data-done='1']", state="attached")
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=334_000, help="steps in the synthetic trace")
    parser.add_argument("--keep", type=Path, help="write the trace and database here and keep")
    parser.add_argument("--reuse", type=Path, help="reuse trace.jsonl + trace.duckdb from here")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")

    from playwright.sync_api import sync_playwright

    from tracelab.tracedb import build_db

    work = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="tracelab-bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    trace, db = work / "trace.jsonl", work / "trace.duckdb"
    cache = Path(tempfile.mkdtemp(prefix="tracelab-bench-cache-"))
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(cache)}
    proc = None
    try:
        if args.reuse is None or not db.is_file():
            t = time.perf_counter()
            write_trace(trace, n=args.n)
            print(f"generated {args.n:,} synthetic steps in {time.perf_counter() - t:.1f} s")
            report = build_db(trace, db)
            print(f"built {db.name}: {report.rows:,} steps in {report.seconds:.1f} s")
        print(f"start: {load()} ({os.cpu_count()} CPUs)")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            proc, listen_s = start_server(db, port, env)
            dash_cold_s = page_time(page, f"{base}/dashboard")
            dash_warm_s = page_time(page, f"{base}/dashboard")
            api = httpx.Client(base_url=base, timeout=60)

            def timed_get(path: str, **params) -> tuple[float, httpx.Response]:
                t = time.perf_counter()
                r = api.get(path, params=params)
                r.raise_for_status()
                return time.perf_counter() - t, r

            list_s, listing = timed_get("/api/t/main/sessions", sort="steps")
            total = listing.json()["total"]
            longest = listing.json()["sessions"][0]
            middle = timed_get("/api/t/main/sessions", sort="steps", offset=total // 2, limit=1)[
                1
            ].json()["sessions"][0]
            sess_api_s, _ = timed_get("/api/t/main/session", id=longest["session_id"])
            pages = {}
            for name, s in (("median", middle), ("longest", longest)):
                url = f"{base}/session?id={s['session_id']}"
                pages[name] = (s["steps"], page_time(page, url), page_time(page, url))
            base_s = min(baseline_time(page, base) for _ in range(3))
            browser.close()
        rows = [
            ("baseline: Plotly bundle + one small chart", base_s, None),
            ("tracelab serve --db: listening", listen_s, TARGET_LISTEN_S),
            ("Dashboard, cold (first page of the server)", dash_cold_s, TARGET_DASHBOARD_S),
            ("Dashboard, warm (reload)", dash_warm_s, None),
            ("API: sessions list, first", list_s, None),
            (f"API: session, longest ({longest['steps']:,} steps)", sess_api_s, None),
        ]
        for name, (steps, first, again) in pages.items():
            rows.append((f"session page, {name} ({steps:,} steps), first", first, TARGET_SESSION_S))
            rows.append((f"session page, {name} ({steps:,} steps), again", again, TARGET_SESSION_S))
        print(f"\n{total:,} sessions; end: {load()}\n")
        print(f"{'measurement':<56} {'time':>10} {'× baseline':>11}  target")
        missed = False
        for label, seconds, target in rows:
            verdict = ""
            if target is not None:
                ok = seconds <= target
                missed |= not ok
                verdict = f"≤ {target * 1000:.0f} ms {'ok' if ok else 'MISSED'}"
            print(f"{label:<56} {seconds * 1000:>7.0f} ms {seconds / base_s:>10.1f}×  {verdict}")
        return 1 if missed else 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(cache, ignore_errors=True)
        if args.keep is None and args.reuse is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
