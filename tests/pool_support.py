"""What the pool tests share: fixture traces per contributor, a real server process on
loopback, and a raw-bytes uploader for hostile requests."""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from tracelab.collect import collect
from tracelab.io import read_rows, write_rows
from tracelab.pool.client import PoolClient, Prepared, prepare
from tracelab.sources.discover import Home

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def private_traces(real_home: Path, out: Path) -> dict[str, Path]:
    """The real fixture home collected, then split by provider into one private trace each
    (two contributors: one has the Claude session, the other the Codex one)."""
    out.mkdir(parents=True, exist_ok=True)
    full = out / "home.jsonl"
    with tempfile.TemporaryDirectory() as cache:
        collect([Home(real_home, "fixture")], full, cache=Path(cache), workers=1)
    rows = list(read_rows(full))
    traces = {}
    for provider in sorted({r["provider"] for r in rows}):
        path = out / f"{provider}.jsonl"
        write_rows([r for r in rows if r["provider"] == provider], path)
        traces[provider] = path
    traces["all"] = full
    return traces


def prepared(trace: Path, workdir: Path, key: bytes) -> Prepared:
    workdir.mkdir(parents=True, exist_ok=True)
    return prepare(trace, workdir, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`tracelab pool serve` in a child process (so it can be SIGKILLed and restarted)."""

    def __init__(self, pool_dir: Path, port: int, *, open_mode: bool = False) -> None:
        self.pool_dir = pool_dir
        self.port = port
        self.open_mode = open_mode
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, crash: str | None = None, wait: bool = True) -> ServerProcess:
        env = {**os.environ}
        env.pop("TRACELAB_POOL_CRASH", None)
        if crash:
            env["TRACELAB_POOL_CRASH"] = crash
        args = [sys.executable, "-m", "tracelab.cli", "pool", "serve", "--dir", str(self.pool_dir)]
        args += ["--port", str(self.port), "--address-rate", "1000"]
        if self.open_mode:
            args.append("--open")
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pool server exited: {self.proc.stderr.read().decode()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("pool server did not start")

    def wait_killed(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def running(pool_dir: Path, *, open_mode: bool = False) -> Iterator[ServerProcess]:
    server = ServerProcess(pool_dir, free_port(), open_mode=open_mode).start()
    try:
        yield server
    finally:
        server.stop()


def client(url: str, token: str | None = None, **kw) -> PoolClient:
    return PoolClient(url, token, **kw)


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(lines), mtime=0)


def jsonl_gz(rows: list[dict]) -> bytes:
    return gz([orjson.dumps(r) + b"\n" for r in rows])
