"""Benchmark the contribution pool: N concurrent contributors on loopback, end to end.

What it does: a synthetic study-shaped trace (`synthtrace.py`) is sanitized once and split by
session into N contributions (distinct sessions, so none is deduplicated away). A real
`tracelab pool serve` runs in a child process (pinned to `--cores` CPUs where the OS allows),
and N threads each run `tracelab.pool.client.PoolClient.contribute` (chunked upload, finish,
poll until accepted) at the same time. It reports:

* accepted contributions per second and MB/s of compressed upload ingested end to end
  (first byte sent → last receipt), target ≥ 50 MB/s on 2 cores;
* p50 / p99 of one contribution's time (start → receipt);
* the server's peak RSS (VmHWM of the child), which must not grow with upload size: run with
  a larger `--rows` to compare;
* the in-run baseline: inflating and parsing the same bytes in one process (`zlib` +
  `orjson`), the floor any validating server pays; the end-to-end time is shown as a ratio of
  it. Note the load average: other processes share the machine.

    uv run python benchmarks/pool.py [--contributors 50] [--rows 60000] [--cores 2]

Bounded: every client gives up after `--deadline` seconds, the server is stopped at the end.
Exit status 1 when a contribution failed. A script, never a unit test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from synthtrace import write_trace
from tracelab.io import read_rows, write_rows
from tracelab.pool.access import Tokens
from tracelab.pool.client import PoolClient, prepare
from tracelab.pool.storage import Pool
from tracelab.sanitize import sanitize_file

TARGET_MBPS = 50.0


def _pin(cores: int):
    def pin() -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))

    return pin


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _contributions(root: Path, rows: int, n: int) -> list[Path]:
    trace = root / "trace.jsonl"
    write_trace(trace, n=rows)
    public = root / "public.jsonl"
    sanitize_file(trace, public, b"benchmark-key-0123456789abcdef")
    buckets: list[list[dict]] = [[] for _ in range(n)]
    slot: dict[str, int] = {}
    for row in read_rows(public):
        index = slot.setdefault(row["session_id"], len(slot) % n)
        buckets[index].append(row)
    out = []
    for i, bucket in enumerate(buckets):
        path = root / f"c{i:03d}.jsonl.gz"
        write_rows(bucket, path)
        out.append(path)
    return out


def _baseline(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        for line in zlib.decompress(path.read_bytes(), wbits=31).splitlines():
            orjson.loads(line)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contributors", type=int, default=50)
    parser.add_argument("--rows", type=int, default=60_000, help="steps over all contributors")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tracelab-pool-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        files = _contributions(root, args.rows, args.contributors)
        prepared = [
            prepare(p, root / f"prep{i}", b"unused-key-0123456789")
            for i, p in enumerate(files)
            if (root / f"prep{i}").mkdir() is None
        ]
        total_bytes = sum(p.size for p in prepared)
        total_rows = sum(p.rows for p in prepared)
        print(
            f"prepared {len(prepared)} contributions, {total_rows:,} rows, "
            f"{total_bytes / 1e6:.1f} MB compressed in {time.perf_counter() - t0:.1f} s"
        )
        baseline = _baseline([p.path for p in prepared])

        pool_dir = root / "pool"
        tokens = Tokens(Pool(pool_dir).root)
        names = [tokens.add(f"c{i:03d}") for i in range(args.contributors)]
        port = 18000 + os.getpid() % 1000
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracelab.cli",
                "pool",
                "serve",
                "--dir",
                str(pool_dir),
                "--port",
                str(port),
                "--max-uploads",
                str(args.contributors + 8),
                "--address-rate",
                "100000",
            ],
            preexec_fn=_pin(args.cores),
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            times: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()

            def contribute(i: int) -> None:
                start = time.perf_counter()
                try:
                    with PoolClient(url, names[i], patience_s=args.deadline) as client:
                        client.contribute(prepared[i])
                except Exception as exc:  # counted and shown
                    with lock:
                        failures.append(f"{i}: {exc}")
                    return
                with lock:
                    times.append(time.perf_counter() - start)

            threads = [threading.Thread(target=contribute, args=(i,)) for i in range(len(prepared))]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.deadline)
            wall = time.perf_counter() - started
            rss = _peak_rss_mb(server.pid)
            stats = httpx.get(f"{url}/v1/stats").json()
        finally:
            server.terminate()
            server.wait(30)

    accepted = len(times)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))] if times else float("nan")
    mbps = total_bytes / 1e6 / wall
    load = os.getloadavg()[0]
    print(
        f"load average (1 min): {load:.1f} on {os.cpu_count()} CPUs; server pinned to "
        f"{args.cores} cores"
    )
    print(
        f"contributors: {len(prepared)}, accepted: {accepted}, failed: {len(failures)}; "
        f"pool holds {stats['contributions']} contributions, {stats['steps']:,} steps"
    )
    print(
        f"wall: {wall:.2f} s; accepted/s: {accepted / wall:.1f}; "
        f"ingested: {mbps:.2f} MB/s compressed ({total_rows / wall:,.0f} rows/s)"
    )
    if times:
        print(f"upload time p50: {statistics.median(times):.2f} s, p99: {p99:.2f} s")
    print(f"server peak RSS: {rss:.0f} MB")
    print(
        f"baseline (inflate + parse in one process): {baseline:.2f} s; "
        f"end to end = {wall / baseline:.1f}x baseline"
    )
    print(f"target ≥ {TARGET_MBPS:.0f} MB/s: {'met' if mbps >= TARGET_MBPS else 'NOT met'}")
    for failure in failures[:5]:
        print("failed:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
