"""A finished upload becomes a committed contribution (or one clear rejection).

The steps, in order, each on the bytes the server holds: the content hash (an identical
upload is a no-op that returns the original receipt), validation under caps (`validate`),
session fingerprints, dedup against the pool and within the upload, then an atomic commit
(`storage.Pool.commit`). Rows stream: the validated blocks (Arrow tables) go to a staging
Parquet file as they come; fingerprints and the manifest's numbers are computed from that file
in DuckDB (bounded memory, spilling to the staging folder); only when some sessions are
duplicates is the file filtered batch by batch. Memory does not grow with the upload (only a
fingerprint per session is kept).

Uploads are validated, staged and fingerprinted in parallel (the app runs one ingest worker
per CPU; Arrow, zlib and DuckDB release the GIL); the dedup decision and the commit that
relies on it hold `Pool.commit_lock`, so they never interleave with another contribution's.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelab.pool.columnar import parquet_writer
from tracelab.pool.faults import crash_point
from tracelab.pool.fingerprint import StreamingFingerprints, session_fingerprints, step_times
from tracelab.pool.numbers import Numbers
from tracelab.pool.storage import Pool, utc_now
from tracelab.pool.validate import Limits, upload_tables
from tracelab.rejection import UploadRejected

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_HASH_READ = 1 << 20
#: DuckDB's share of the server while it sorts an upload's steps (it spills beyond this).
_DUCKDB_MEMORY = "256MB"
_DUCKDB_THREADS = 2


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_READ):
            h.update(block)
    return h.hexdigest()


def receipt(
    pool: Pool, entry: dict[str, Any], contributor: str, *, duplicate_upload: bool = False
) -> dict[str, Any]:
    """What the contributor keeps; the withdrawal token goes only to the same contributor."""
    same = entry.get("contributor") == contributor
    return {
        "contribution_id": entry["id"],
        "rows_accepted": 0 if duplicate_upload else entry["rows"],
        "sessions_new": 0 if duplicate_upload else entry["sessions"],
        "sessions_in_pool": entry["sessions"] if duplicate_upload else entry["sessions_in_pool"],
        "duplicate_upload": duplicate_upload,
        "committed_at": entry["committed_at"],
        "content_sha256": entry["content_sha256"],
        "withdrawal_token": pool.withdrawal_token(entry["id"]) if same else None,
    }


def ingest_upload(
    pool: Pool,
    path: Path,
    *,
    declared_sha256: str,
    contributor: str,
    consent: dict[str, Any],
    limits: Limits,
    upload_id: str | None = None,
) -> dict[str, Any]:
    """Validate, dedup and commit one complete upload; return the receipt.

    Raises `UploadRejected` (one line for the contributor) for anything wrong with the bytes.
    """
    actual = file_sha256(path)
    if actual != declared_sha256:
        raise UploadRejected(
            "the uploaded bytes do not match the declared sha256 (corrupted in transit); "
            "upload again"
        )
    existing = pool.by_content(actual)
    if existing is not None:  # an identical upload, or this one re-run after a crash
        again = upload_id is not None and existing.get("upload_id") == upload_id
        return receipt(pool, existing, contributor, duplicate_upload=not again)

    with (
        pool.staged_file(".all.parquet") as staged_all,
        pool.staged_file(".parquet") as kept,
        _connection(pool) as con,
    ):
        # the heavy part, on this upload's bytes alone: uploads are checked in parallel
        fingerprints, numbers = _stage(upload_tables(path, limits), staged_all)
        crash_point("ingest.validated")
        if fingerprints is None:  # some session's rows go back in round_index: sort them
            fingerprints = session_fingerprints(con, staged_all)
        # the dedup decision and the commit that relies on it: one upload at a time
        with pool.commit_lock:
            existing = pool.by_content(actual)
            if existing is not None:  # the same bytes were committed while these were checked
                return receipt(pool, existing, contributor, duplicate_upload=True)
            seen: set[str] = set()
            keep: list[tuple[str, str]] = []
            already = repeated = 0
            for session, fp in fingerprints.items():
                if pool.has_fingerprint(fp):
                    already += 1
                elif fp in seen:
                    repeated += 1
                else:
                    seen.add(fp)
                    keep.append(session)
            if not keep:
                return {
                    "contribution_id": None,
                    "rows_accepted": 0,
                    "sessions_new": 0,
                    "sessions_in_pool": already,
                    "sessions_repeated_in_upload": repeated,
                    "duplicate_upload": False,
                    "committed_at": None,
                    "content_sha256": actual,
                    "withdrawal_token": None,
                }
            if len(keep) == len(fingerprints):
                source = staged_all
            else:
                numbers = _filter_sessions(staged_all, kept, set(keep))
                source = kept
            entry = _entry(pool, numbers, actual, contributor, consent, already)
            entry["fingerprints"] = sorted(fingerprints[s] for s in keep)
            entry["sessions_repeated_in_upload"] = repeated
            entry["upload_id"] = upload_id
            crash_point("ingest.staged")
            committed = pool.commit(source, entry)
    out = receipt(pool, committed, contributor)
    out["sessions_repeated_in_upload"] = repeated
    return out


def _stage(
    tables: Iterator[pa.Table], path: Path
) -> tuple[dict[tuple[str, str], str] | None, tuple]:
    """Write the validated tables to one Parquet file as they come, computing the sessions'
    fingerprints (None when they need a sort) and the manifest's numbers in the same pass."""
    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    fingerprints, numbers = StreamingFingerprints(), Numbers()
    try:
        with parquet_writer(path, PUBLIC_ARROW_SCHEMA) as out:
            for table in tables:
                first, last = step_times(table)
                fingerprints.update(table, first)
                numbers.update(table, first, last)
                out.write_table(table)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, UploadRejected):
            raise
        raise UploadRejected(f"the rows cannot be stored: {str(exc).splitlines()[0]}") from None
    return fingerprints.result(), numbers.result()


_local = threading.local()
_opened: list[duckdb.DuckDBPyConnection] = []


@atexit.register
def _close_connections() -> None:
    """Close the ingest threads' connections at exit (a daemon thread never does)."""
    while _opened:
        with contextlib.suppress(Exception):
            _opened.pop().close()


@contextmanager
def _connection(pool: Pool) -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's in-memory DuckDB (bounded memory, spilling into the pool's staging
    folder), kept between uploads: opening one costs more than checking a small upload."""
    import duckdb

    spill = str(pool.staging_dir / ".duckdb-spill")
    con = getattr(_local, "con", None)
    if con is None or getattr(_local, "spill", None) != spill:
        if con is not None:
            con.close()
        con = duckdb.connect(
            config={
                "memory_limit": _DUCKDB_MEMORY,
                "threads": _DUCKDB_THREADS,
                "temp_directory": spill,
                "preserve_insertion_order": False,
            }
        )
        _local.con, _local.spill = con, spill
        _opened.append(con)
    yield con  # DuckDB deletes its spill files itself; `Pool.recover` clears what a crash left


def _entry(
    pool: Pool,
    numbers: tuple,
    sha256: str,
    contributor: str,
    consent: dict[str, Any],
    already: int,
) -> dict[str, Any]:
    """The manifest entry of the kept rows (`numbers` from `Numbers.result`)."""
    rows, sessions, tool_calls, first, last, models, providers, users = numbers
    return {
        "id": pool.new_id(),
        "committed_at": utc_now(),
        "contributor": contributor,
        "content_sha256": sha256,
        "rows": rows,
        "sessions": sessions,
        "sessions_in_pool": already,
        "tool_calls": int(tool_calls),
        "window": [first, last],
        "models": dict(sorted(models.items())),
        "providers": dict(sorted(providers.items())),
        "users": users or [],
        "consent": consent,
    }


def _filter_sessions(src: Path, dst: Path, keep: set[tuple[str, str]]) -> tuple:
    """Copy the rows of the kept sessions, batch by batch, in their order; return their
    manifest numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array(sorted(f"{p}\x00{s}" for p, s in keep))
    source = pq.ParquetFile(src)
    numbers = Numbers()
    with parquet_writer(dst, source.schema_arrow) as out:
        for batch in source.iter_batches(batch_size=20_000):
            key = pc.binary_join_element_wise(batch["provider"], batch["session_id"], "\x00")
            table = pa.Table.from_batches([batch]).filter(pc.is_in(key, wanted))
            numbers.update(table, *step_times(table))
            out.write_table(table)
    return numbers.result()
