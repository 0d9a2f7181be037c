"""Uploads are ingested in parallel; the dedup decision and the commit are not.

Two ingest threads start at the same moment on uploads that dedup must merge: whatever the
interleaving, the pool ends with the rows once, and each contributor's receipt says what
happened to theirs.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from conftest import REAL_HOME, needs_fixtures
from pool_support import KEY_A, jsonl_gz, prepared, private_traces
from tracelab.io import read_rows
from tracelab.pool.ingest import ingest_upload
from tracelab.pool.storage import Pool
from tracelab.pool.validate import Limits

pytestmark = needs_fixtures

CONSENT = {"licence": "CC-BY-4.0", "accepted": True, "accepted_at": "2026-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def public_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    traces = private_traces(REAL_HOME, tmp_path_factory.mktemp("conc-traces"))
    up = prepared(traces["all"], tmp_path_factory.mktemp("conc-prep"), KEY_A)
    return list(read_rows(up.path))


def _at_once(pool: Pool, uploads: list[bytes], tmp_path: Path) -> list[dict]:
    """Ingest every upload in its own thread, all released together; the receipts in order."""
    barrier = threading.Barrier(len(uploads))
    receipts: list[dict | BaseException] = [None] * len(uploads)  # type: ignore[list-item]

    def run(i: int, data: bytes) -> None:
        path = tmp_path / f"upload{i}.jsonl.gz"
        path.write_bytes(data)
        barrier.wait()
        try:
            receipts[i] = ingest_upload(
                pool,
                path,
                declared_sha256=hashlib.sha256(data).hexdigest(),
                contributor=f"token:c{i}",
                consent=CONSENT,
                limits=Limits(),
                upload_id=f"up_{i:032x}",
            )
        except BaseException as exc:  # re-raised below, in the test's thread
            receipts[i] = exc

    threads = [threading.Thread(target=run, args=(i, d)) for i, d in enumerate(uploads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in receipts:
        if isinstance(r, BaseException):
            raise r
    return receipts  # type: ignore[return-value]


def test_the_same_bytes_at_once_are_committed_once(tmp_path: Path, public_rows) -> None:
    pool = Pool(tmp_path / "pool")
    data = jsonl_gz(public_rows)
    receipts = _at_once(pool, [data, data], tmp_path)
    assert len(pool.contributions()) == 1
    assert pool.contributions()[0]["rows"] == len(public_rows)
    # one was committed, the other found those bytes in the pool under the commit lock
    assert sorted(r["duplicate_upload"] for r in receipts) == [False, True]
    assert {r["contribution_id"] for r in receipts} == {pool.contributions()[0]["id"]}


def test_the_same_sessions_at_once_are_stored_once(tmp_path: Path, public_rows) -> None:
    pool = Pool(tmp_path / "pool")
    sessions = {(r["provider"], r["session_id"]) for r in public_rows}
    # other bytes (the rows in reverse order), the same sessions (fingerprints sort by round)
    receipts = _at_once(pool, [jsonl_gz(public_rows), jsonl_gz(public_rows[::-1])], tmp_path)
    assert len(pool.contributions()) == 1
    assert pool.contributions()[0]["rows"] == len(public_rows)
    committed = [r for r in receipts if r["contribution_id"] is not None]
    skipped = [r for r in receipts if r["contribution_id"] is None]
    assert len(committed) == 1 and len(skipped) == 1
    assert committed[0]["sessions_new"] == len(sessions)
    assert skipped[0]["sessions_in_pool"] == len(sessions)
    assert skipped[0]["rows_accepted"] == 0
    assert len(pool.fingerprints()) == len(sessions)
