"""SIGKILL at 20 points of an upload, a withdrawal and a release build, then a restart: the
pool is always as it was before or after the operation, never in between; no accepted
contribution is lost; the client resumes and gets its answer.

The kill is real: `TRACELAB_POOL_CRASH=<point>[:n]` (`tracelab.pool.faults`) makes the server
(or the release command) SIGKILL itself when it reaches the point for the n-th time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import REAL_HOME, needs_fixtures
from pool_support import KEY_A, KEY_B, ServerProcess, free_port, prepared, private_traces
from tracelab.io import read_rows
from tracelab.pool.access import Tokens
from tracelab.pool.client import PoolClient
from tracelab.pool.ingest import ingest_upload
from tracelab.pool.release import build_release
from tracelab.pool.storage import Pool
from tracelab.pool.validate import Limits

pytestmark = needs_fixtures

#: An upload of 4 chunks: each chunk write, the finish, every step of ingest and commit.
UPLOAD_POINTS = [
    "append.after_write:1",
    "append.after_write:2",
    "append.after_write:3",
    "append.after_write:4",
    "finish.before_queue",
    "ingest.validated",
    "ingest.staged",
    "commit.before_rename",
    "commit.after_rename",
    "commit.before_manifest",
    "manifest.before_replace",
    "commit.after_manifest",
]
WITHDRAW_POINTS = ["withdraw.before_manifest", "manifest.before_replace", "withdraw.after_manifest"]
RELEASE_POINTS = [
    "release.after_jsonl",
    "release.after_db",
    "release.before_swap",
    "release.after_swap",
]
CONSENT = {"licence": "CC-BY-4.0", "accepted": True, "accepted_at": "2026-01-01T00:00:00Z"}


def test_at_least_20_kill_points() -> None:
    assert len(UPLOAD_POINTS) + len(WITHDRAW_POINTS) + len(RELEASE_POINTS) + 1 >= 20


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A pool holding contribution A (the Claude session), a token, and upload B (Codex)."""
    root = tmp_path_factory.mktemp("faults")
    traces = private_traces(REAL_HOME, root / "traces")
    up_a = prepared(traces["claude"], root / "a", KEY_A)
    up_b = prepared(traces["codex"], root / "b", KEY_B)
    base = root / "base"
    pool = Pool(base)
    receipt_a = ingest_upload(
        pool,
        up_a.path,
        declared_sha256=up_a.sha256,
        contributor="token:alice",
        consent=CONSENT,
        limits=Limits(),
    )
    token = Tokens(base).add("bob")
    reference = build_release(base, "v1", root / "reference")
    return {
        "base": base,
        "a": receipt_a,
        "b": up_b,
        "token": token,
        "root": root,
        "reference": reference,
    }


def _copy_pool(setup, tmp_path: Path) -> Path:
    pool_dir = tmp_path / "pool"
    shutil.copytree(setup["base"], pool_dir)
    return pool_dir


def _check_files_match_manifest(pool_dir: Path) -> list[dict]:
    pool = Pool(pool_dir, create=False)
    entries = pool.contributions()
    files = sorted(p.name for p in (pool_dir / "contributions").iterdir())
    assert files == sorted(f"{e['id']}.parquet" for e in entries)
    for e in entries:
        assert sum(1 for _ in read_rows(pool.parquet_path(e["id"]))) == e["rows"]
    return entries


@pytest.mark.parametrize("point", UPLOAD_POINTS)
def test_kill_during_upload_then_restart(setup, tmp_path, point) -> None:
    pool_dir = _copy_pool(setup, tmp_path)
    up_b = setup["b"]
    server = ServerProcess(pool_dir, free_port()).start(crash=point)
    result: dict = {}

    def contribute() -> None:
        chunk = up_b.size // 4 + 1  # four chunks
        try:
            with PoolClient(server.url, setup["token"], patience_s=120, chunk_bytes=chunk) as c:
                result["receipt"] = c.contribute(up_b)
        except Exception as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=contribute)
    thread.start()
    try:
        assert server.wait_killed() == -signal.SIGKILL
        # Right after the kill (before any recovery): the manifest is before or after.
        ids = [e["id"] for e in Pool(pool_dir, create=False).contributions()]
        assert ids in ([setup["a"]["contribution_id"]], [setup["a"]["contribution_id"], ids[-1]])
        server.start()
        thread.join(150)
    finally:
        server.stop()
    assert "error" not in result, result.get("error")
    receipt = result["receipt"]
    entries = _check_files_match_manifest(pool_dir)
    assert [e["id"] for e in entries] == [
        setup["a"]["contribution_id"],
        receipt["contribution_id"],
    ]
    assert entries[1]["rows"] == up_b.rows == receipt["rows_accepted"]
    assert not any((pool_dir / "staging").iterdir())


@pytest.mark.parametrize("point", WITHDRAW_POINTS)
def test_kill_during_withdrawal_then_restart(setup, tmp_path, point) -> None:
    pool_dir = _copy_pool(setup, tmp_path)
    server = ServerProcess(pool_dir, free_port()).start(crash=point)
    result: dict = {}

    def withdraw() -> None:
        try:
            with PoolClient(server.url, patience_s=120) as c:
                result["done"] = c.withdraw(setup["a"])
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=withdraw)
    thread.start()
    try:
        assert server.wait_killed() == -signal.SIGKILL
        server.start()
        thread.join(150)
    finally:
        server.stop()
    assert "error" not in result, result.get("error")
    assert result["done"]["status"] == "withdrawn"
    assert _check_files_match_manifest(pool_dir) == []


@pytest.mark.parametrize(
    ("point", "existing"), [(p, False) for p in RELEASE_POINTS] + [("release.before_swap", True)]
)
def test_kill_during_release_then_rebuild(setup, tmp_path, point, existing) -> None:
    pool_dir = _copy_pool(setup, tmp_path)
    manifest = (pool_dir / "manifest.json").read_bytes()
    out = tmp_path / "release"
    if existing:
        shutil.copytree(setup["root"] / "reference", out)
    env = {**os.environ, "TRACELAB_POOL_CRASH": point}
    args = [sys.executable, "-m", "tracelab.cli", "pool", "release", "--dir", str(pool_dir)]
    args += ["--version", "v1", "-o", str(out), "--json"]
    proc = subprocess.run(args, env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    reference_sums = (setup["root"] / "reference" / "SHA256SUMS").read_bytes()
    if point == "release.after_swap" or existing:
        assert (out / "SHA256SUMS").read_bytes() == reference_sums  # complete, never partial
    else:
        assert not out.exists()
    assert (pool_dir / "manifest.json").read_bytes() == manifest
    env.pop("TRACELAB_POOL_CRASH")
    proc = subprocess.run(args, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out / "SHA256SUMS").read_bytes() == reference_sums
    assert not list(tmp_path.glob(".release.release-*"))
