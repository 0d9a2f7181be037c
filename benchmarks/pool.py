"""Benchmark the contribution pool: N concurrent contributors on loopback, end to end.

The contributions look like real ones. `tracelab synth` writes a SYNTHETIC home of raw Claude
Code / Codex logs (`--sessions-per` sessions per contributor), `tracelab collect` normalizes
it, the trace is split by session into N parts (one per contributor) and each part goes
through the contributor's own `pool.client.prepare` with its own pseudonym key: sanitized,
strictly audited, a fixed-header JSONL.gz of thousands of steps and a few MB each, with
distinct sessions (none is deduplicated away). `--keep DIR` keeps them for the next run.

A real `tracelab pool serve` runs in a child process (pinned to `--cores` CPUs where the OS
allows); the contributors run in another child process (`--drive`): N threads, each a
`PoolClient.contribute` (start, chunks of `--chunk-mb`, finish, poll until accepted). The
clock runs from the first upload's start to the last receipt, so the MB/s is ingest end to
end: upload → chunks → finish → validation → dedup → commit accepted. It reports:

* accepted contributions per second and MB/s of compressed upload ingested (target ≥ 50 MB/s
  on 2 cores), p50 / p99 of one contribution's time (start → receipt);
* the server's and the clients' CPU seconds, and the server's peak RSS (VmHWM), which must not
  grow with upload size (compare a run with a larger `--sessions-per`);
* in-run baselines on the same bytes, on the same loaded machine: `gzip -dc | wc -l` (one
  inflating process), and a *sink* upload — the same driver sending the same files in the same
  chunks to a uvicorn app that only counts the bytes — the HTTP transport alone. Note the load
  average: other processes share the machine.

    uv run python benchmarks/pool.py [--contributors 50] [--sessions-per 250] [--cores 2]
                                     [--format parquet|jsonl|both] [--keep DIR] [--py-spy FILE]

Bounded: every client gives up after `--deadline` seconds, the servers are stopped at the
end. Exit status 1 when a contribution failed. A script, never a unit test.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

TARGET_MBPS = 50.0
_PREP_VERSION = "synth-collect-prepare-jsonl-2"


# --- the contributions ------------------------------------------------------------------------


def _prepare_one(args: tuple[int, str, str]) -> dict:
    """One contributor's own `prepare` (sanitize with their key, audit, describe)."""
    from tracelab.pool.client import prepare

    i, trace, workdir = args
    key = f"contributor-{i:03d}-key".encode()
    prepared = prepare(Path(trace), Path(workdir), key, fmt="jsonl")
    Path(trace).unlink()
    return {
        "path": str(prepared.path),
        "size": prepared.size,
        "sha256": prepared.sha256,
        "rows": prepared.rows,
        "sessions": prepared.sessions,
    }


def _split_by_session(trace: Path, parts: list[Path]) -> None:
    """Consecutive sessions to each part, about equal numbers of rows (streamed)."""
    with open(trace, "rb") as fh:
        lines = sum(1 for _ in fh)
    per = lines / len(parts)
    outs = [open(p, "wb") for p in parts]  # noqa: SIM115 - closed below
    try:
        part, session = 0, None
        for written, line in enumerate(open(trace, "rb")):  # noqa: SIM115 - read to the end
            sid = orjson.loads(line)["session_id"]
            if sid != session and written >= per * (part + 1) and part < len(parts) - 1:
                part += 1
            session = sid
            outs[part].write(line.rstrip(b"\n") + b"\n")
    finally:
        for out in outs:
            out.close()


def contributions(root: Path, contributors: int, sessions_per: int, seed: int) -> list[dict]:
    """The prepared uploads (cached in `root` by their parameters)."""
    stamp = {"v": _PREP_VERSION, "n": contributors, "s": sessions_per, "seed": seed}
    manifest = root / "contributions.json"
    if manifest.exists():
        data = orjson.loads(manifest.read_bytes())
        if data["stamp"] == stamp and all(Path(c["path"]).exists() for c in data["items"]):
            return data["items"]
    from tracelab.synth import generate_home

    shutil.rmtree(root / "c", ignore_errors=True)
    home, trace = root / "home", root / "trace.jsonl"
    t0 = time.perf_counter()
    summary = generate_home(home, sessions=contributors * sessions_per, seed=seed)
    print(f"  synth: {summary.steps} steps in {time.perf_counter() - t0:.0f} s")
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(root / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "tracelab.cli",
        "collect",
        "--home",
        str(home),
        "-o",
        str(trace),
        "--no-cache",
    ]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    shutil.rmtree(home)
    work = [root / "c" / f"{i:03d}" for i in range(contributors)]
    for w in work:
        w.mkdir(parents=True)
    parts = [w / "trace.jsonl" for w in work]
    _split_by_session(trace, parts)
    trace.unlink()
    jobs = [(i, str(parts[i]), str(work[i])) for i in range(contributors)]
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 2) as ex:
        items = list(ex.map(_prepare_one, jobs))
    manifest.write_bytes(orjson.dumps({"stamp": stamp, "items": items}))
    return items


def merged(items: list[dict], n: int, root: Path) -> list[dict]:
    """The contributions as `n` larger uploads: their gzip files concatenated (a valid
    multi-member gzip), to see that the server's memory does not follow upload size."""
    import hashlib

    out = []
    for k in range(n):
        group = items[k::n]
        path = root / f"merged{k}.jsonl.gz"
        h = hashlib.sha256()
        with open(path, "wb") as dst:
            for item in group:
                data = Path(item["path"]).read_bytes()
                h.update(data)
                dst.write(data)
        out.append(
            {
                "path": str(path),
                "size": path.stat().st_size,
                "sha256": h.hexdigest(),
                "rows": sum(i["rows"] for i in group),
                "sessions": sum(i["sessions"] for i in group),
            }
        )
    return out


# --- the driver (a child process): N concurrent contributors ---------------------------------


def _cpu_seconds(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def drive(url: str, plan: Path, mode: str, chunk: int, deadline: float) -> None:
    """Run every contribution of `plan` at once; print one JSON line of timings."""
    from tracelab.pool.client import PoolClient, Prepared

    data = orjson.loads(plan.read_bytes())
    items, tokens = data["items"], data["tokens"]
    times: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def sink(i: int) -> None:  # the same bytes in the same chunks, to a server that drops them
        with httpx.Client(base_url=url, timeout=60) as http, open(items[i]["path"], "rb") as fh:
            offset = 0
            while chunk_bytes := fh.read(chunk):
                http.put(f"/sink/{i}", params={"offset": offset}, content=chunk_bytes)
                offset += len(chunk_bytes)

    def pool(i: int) -> None:
        prepared = Prepared(
            path=Path(items[i]["path"]),
            size=items[i]["size"],
            sha256=items[i]["sha256"],
            rows=items[i]["rows"],
        )
        with PoolClient(url, tokens[i], patience_s=deadline, chunk_bytes=chunk) as client:
            client.contribute(prepared)

    def run(i: int) -> None:
        go.wait()
        start = time.perf_counter()
        try:
            (sink if mode == "sink" else pool)(i)
        except Exception as exc:  # counted and shown
            with lock:
                failures.append(f"{i}: {exc}")
            return
        with lock:
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(items))]
    for t in threads:
        t.start()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    go.set()
    end = started + deadline
    for t in threads:
        t.join(max(0.0, end - time.perf_counter()))
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {"wall": wall, "times": times, "failures": failures, "cpu": _cpu_seconds() - cpu}
        )
    )


def sink_app():
    """The transport baseline: a uvicorn app that reads each chunk and drops it."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        received, more = 0, True
        while more:
            message = await receive()
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = orjson.dumps({"received": received})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


# --- where one upload's CPU goes ---------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process, every thread (Arrow and DuckDB work in their own)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parquet_items(items: list[dict], root: Path) -> list[dict]:
    """The same contributions as the Parquet uploads `prepare` writes by default (converted
    from their JSONL.gz with the client's own writer; cached beside them)."""
    import hashlib

    from tracelab.pool.client import _to_parquet

    out = []
    for item in items:
        path = Path(item["path"]).with_name("contribution.parquet")
        if not path.exists():
            _to_parquet(Path(item["path"]), path)
        data = path.read_bytes()
        out.append(
            {
                **item,
                "path": str(path),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return out


def breakdown(items: list[dict], root: Path) -> list[tuple[str, float, float]]:
    """CPU of each ingest stage, run one after the other in this process on the same uploads
    (the server interleaves them; their sum is its floor): (stage, ms per MB of this format's
    upload, µs per row)."""
    import hashlib
    import io
    import zlib

    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from tracelab.pool import columnar, fastcheck
    from tracelab.pool.fingerprint import StreamingFingerprints, step_times
    from tracelab.pool.numbers import Numbers
    from tracelab.pool.validate import Limits, inflate_blocks, upload_tables
    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    paths = [Path(c["path"]) for c in items]
    mb = sum(p.stat().st_size for p in paths) / 1e6
    rows = sum(c["rows"] for c in items)
    parquet = columnar.is_parquet(paths[0])
    limits = Limits()
    out: list[tuple[str, float, float]] = []

    def stage(name: str, fn) -> object:
        started = _cpu()
        result = fn()
        spent = _cpu() - started
        out.append((name, spent / mb * 1000, spent / rows * 1e6))
        return result

    def raw_inflate() -> None:
        for p in paths:
            d, data = zlib.decompressobj(wbits=31), p.read_bytes()
            while data:
                d.decompress(data, 1 << 20)
                data = d.unconsumed_tail

    def read_batches() -> list:
        return [
            pa.Table.from_batches([b])
            for p in paths
            for b in pq.ParquetFile(p).iter_batches(batch_size=columnar.BATCH_ROWS)
        ]

    stage("sha256 of the upload", lambda: [hashlib.sha256(p.read_bytes()) for p in paths])
    if parquet:
        stage("Parquet read, batch by batch (floor)", read_batches)
    else:
        stage("zlib inflate alone (floor)", raw_inflate)
        blocks = stage(
            "inflate to blocks, byte caps",
            lambda: [b.data for p in paths for b in inflate_blocks(p, limits)],
        )
        opts = fastcheck.parse_options()
        stage(
            "Arrow JSON parse, public schema",
            lambda: [pj.read_json(io.BytesIO(b), parse_options=opts) for b in blocks],
        )
    tables = stage(
        "all checks: read/parse, caps, schema, audit",
        lambda: [t for p in paths for t in upload_tables(p, limits)],
    )
    stage("the audit alone (check_table)", lambda: [fastcheck.check_table(t) for t in tables])

    def one_pass() -> None:
        fp, numbers = StreamingFingerprints(), Numbers()
        for t in tables:
            first, last = step_times(t)
            fp.update(t, first)
            numbers.update(t, first, last)
        assert fp.result() is not None

    stage("fingerprints + manifest numbers (one pass)", one_pass)

    def write() -> None:
        for i, table in enumerate(tables):
            with columnar.parquet_writer(root / f"stage{i}.parquet", PUBLIC_ARROW_SCHEMA) as w:
                w.write_table(table)

    stage("the pool's Parquet file (zstd)", write)
    return out


# --- the run --------------------------------------------------------------------------------


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


def _wait_healthy(url: str, path: str) -> None:
    for _ in range(600):
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}{path}", timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"error: the server at {url} did not start")


def _run_driver(url: str, plan: Path, mode: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--drive",
        url,
        "--plan",
        str(plan),
        "--mode",
        mode,
        "--chunk-mb",
        str(args.chunk_mb),
        "--deadline",
        str(args.deadline),
    ]
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=args.deadline + 60
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _serve(cmd: list[str], cores: int) -> subprocess.Popen:
    return subprocess.Popen(cmd, preexec_fn=_pin(cores), stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _gzip_baseline(items: list[dict]) -> float:
    """Wall seconds of `gzip -dc FILES | wc -l`: inflating every upload once."""
    started = time.perf_counter()
    paths = " ".join(f"'{c['path']}'" for c in items)
    subprocess.run(f"gzip -dc {paths} | wc -l", shell=True, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contributors", type=int, default=50)
    parser.add_argument(
        "--sessions-per",
        type=int,
        default=250,
        help="synthetic sessions per contributor (~100 steps each)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--chunk-mb", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the contributions here")
    parser.add_argument("--py-spy", type=Path, help="record the server's profile (raw stacks)")
    parser.add_argument(
        "--merge",
        type=int,
        default=0,
        metavar="K",
        help="send the contributions as K larger uploads (memory vs upload size)",
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=0,
        metavar="N",
        help="also time each ingest stage in-process on N contributions",
    )
    parser.add_argument(
        "--format",
        choices=("parquet", "jsonl", "both"),
        default="both",
        help="what the contributors send (both: one run each, Parquet first)",
    )
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="pool", help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    chunk = args.chunk_mb << 20
    if args.drive:
        drive(args.drive, args.plan, args.mode, chunk, args.deadline)
        return 0
    if args.sink:
        import uvicorn

        uvicorn.run(sink_app(), host="127.0.0.1", port=args.sink, log_level="warning")
        return 0

    with tempfile.TemporaryDirectory(prefix="tracelab-pool-bench-") as tmp:
        root = Path(tmp)
        cache = args.keep or root / "contributions"
        cache.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        print("preparing the contributions (synth → collect → each contributor's prepare) …")
        jsonl = contributions(cache, args.contributors, args.sessions_per, args.seed)
        if args.merge:
            jsonl = merged(jsonl, args.merge, root)
        print(f"  ready in {time.perf_counter() - t0:.0f} s")
        formats = ["parquet", "jsonl"] if args.format == "both" else [args.format]
        gzip_wall = _gzip_baseline(jsonl)
        gzip_mb = sum(c["size"] for c in jsonl) / 1e6
        print(
            f"baseline gzip -dc | wc -l on the JSONL.gz uploads: {gzip_mb / gzip_wall:.1f} MB/s "
            f"({sum(c['rows'] for c in jsonl) / gzip_wall:,.0f} rows/s)"
        )
        failed = False
        for n, fmt in enumerate(formats):
            items = parquet_items(jsonl, cache) if fmt == "parquet" else jsonl
            failed |= run_format(fmt, items, root / fmt, 18000 + (os.getpid() + 2 * n) % 1000, args)
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


def run_format(fmt: str, items: list[dict], root: Path, port: int, args) -> bool:
    """The sink baseline and the pool on these uploads; print the figures. True on failures."""
    root.mkdir(parents=True)
    total_bytes = sum(c["size"] for c in items)
    total_rows = sum(c["rows"] for c in items)
    sizes = sorted(c["size"] for c in items)
    print(
        f"\n== {fmt}: {len(items)} contributions, {total_rows:,} steps, "
        f"{total_bytes / 1e6:.1f} MB (each {sizes[0] / 1e6:.1f}–{sizes[-1] / 1e6:.1f} MB, "
        f"{total_bytes / total_rows:.0f} bytes per step)"
    )
    stages = breakdown(items[: args.breakdown], root) if args.breakdown else []

    from tracelab.pool.access import Tokens
    from tracelab.pool.storage import Pool

    pool_dir = root / "pool"
    tokens = Tokens(Pool(pool_dir).root)
    plan = root / "plan.json"
    plan.write_bytes(
        orjson.dumps(
            {"items": items, "tokens": [tokens.add(f"c{i:03d}") for i in range(len(items))]}
        )
    )
    sink = _serve([sys.executable, __file__, "--sink", str(port)], args.cores)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", "/")
        sink_cpu0 = _cpu_seconds(sink.pid)
        sink_run = _run_driver(f"http://127.0.0.1:{port}", plan, "sink", args)
        sink_cpu = _cpu_seconds(sink.pid) - sink_cpu0
    finally:
        _stop(sink)

    port += 1
    url = f"http://127.0.0.1:{port}"
    server = _serve(
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
        args.cores,
    )
    spy = None
    try:
        _wait_healthy(url, "/v1/health")
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--threads",
                    "--native",
                    "-o",
                    f"{args.py_spy}.{fmt}",
                ],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(1)
        load_before = os.getloadavg()[0]
        cpu0 = _cpu_seconds(server.pid)
        run = _run_driver(url, plan, "pool", args)
        cpu = _cpu_seconds(server.pid) - cpu0
        rss = _peak_rss_mb(server.pid)
        stats = httpx.get(f"{url}/v1/stats").json()
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        _stop(server)

    wall, times, failures = run["wall"], sorted(run["times"]), run["failures"]
    mb = total_bytes / 1e6
    mbps = mb / wall
    accepted = len(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))] if times else float("nan")
    print(
        f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
        f"{os.cpu_count()} CPUs; servers pinned to {args.cores} cores"
    )
    print(
        f"contributors: {len(items)}, accepted: {accepted}, failed: {len(failures)}; "
        f"pool holds {stats['contributions']} contributions, {stats['steps']:,} steps"
    )
    print(
        f"end to end: {wall:.2f} s; {accepted / wall:.2f} accepted/s; "
        f"{mbps:.1f} MB/s of {fmt} upload ingested, {total_rows / wall:,.0f} rows/s"
    )
    if times:
        print(f"contribution time p50: {statistics.median(times):.2f} s, p99: {p99:.2f} s")
    print(
        f"server: peak RSS {rss:.0f} MB, CPU {cpu:.1f} s ({cpu / mb * 1000:.0f} ms per MB, "
        f"{cpu / total_rows * 1e6:.1f} µs per row); clients CPU {run['cpu']:.1f} s"
    )
    print(
        f"baseline sink upload (HTTP only) {mb / sink_run['wall']:.1f} MB/s (server CPU "
        f"{sink_cpu:.1f} s, clients {sink_run['cpu']:.1f} s); end to end = "
        f"{sink_run['wall'] / wall:.2f}x sink"
    )
    print(f"target ≥ {TARGET_MBPS:.0f} MB/s: {'met' if mbps >= TARGET_MBPS else 'NOT met'}")
    if stages:
        print(f"CPU per stage ({args.breakdown} contributions, in-process):")
        for name, ms, us in stages:
            print(f"  {name:44s} {ms:6.1f} ms per MB  {us:5.2f} µs per row")
    for failure in failures[:5]:
        print("failed:", failure)
    return bool(failures)


if __name__ == "__main__":
    sys.exit(main())
