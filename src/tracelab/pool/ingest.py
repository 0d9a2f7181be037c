"""A finished upload becomes a committed contribution (or one clear rejection).

The steps, in order, each on the bytes the server holds: the content hash (an identical
upload is a no-op that returns the original receipt), validation under caps (`validate`),
session fingerprints, dedup against the pool and within the upload, then an atomic commit
(`storage.Pool.commit`). Rows stream: the validated rows go to a staging Parquet file in
batches, and only when some sessions are duplicates is that file filtered batch by batch, so
memory does not grow with the upload (only a few numbers per session are kept).

Ingest runs one upload at a time (the app's single ingest worker): the dedup decision and the
commit that relies on it never interleave with another contribution's.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelab.io import write_rows
from tracelab.pool.faults import crash_point
from tracelab.pool.fingerprint import SessionIndex, first_time
from tracelab.pool.storage import Pool, utc_now
from tracelab.pool.validate import Limits, valid_rows
from tracelab.rejection import UploadRejected
from tracelab.schema import Row

_HASH_READ = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_READ):
            h.update(block)
    return h.hexdigest()


@dataclass
class _SessionFacts:
    """What the manifest and statistics need of one session (no row content)."""

    rows: int = 0
    tool_calls: int = 0
    first: str | None = None
    last: str | None = None
    models: Counter = field(default_factory=Counter)
    user: str | None = None

    def add(self, row: Row) -> None:
        self.rows += 1
        self.tool_calls += len(row.get("tools") or ())
        self.models[row.get("model") or "(none)"] += 1
        self.user = self.user or row.get("user")
        first = first_time(row)
        events = row.get("timing_events") or ()
        last = next((e["timestamp"] for e in reversed(events) if e.get("timestamp")), None)
        if first and (self.first is None or first < self.first):
            self.first = first
        if last and (self.last is None or last > self.last):
            self.last = last


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

    index = SessionIndex()
    facts: dict[tuple[str, str], _SessionFacts] = {}

    def tracked(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            index.add(row)
            facts.setdefault((row["provider"], row["session_id"]), _SessionFacts()).add(row)
            yield row

    with pool.staged_file(".all.parquet") as staged_all, pool.staged_file(".parquet") as kept:
        try:
            write_rows(tracked(valid_rows(path, limits)), staged_all)
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, UploadRejected):
                raise
            raise UploadRejected(f"the rows cannot be stored: {str(exc).splitlines()[0]}") from None
        crash_point("ingest.validated")
        fingerprints = index.fingerprints()
        in_pool = pool.fingerprints()
        seen: set[str] = set()
        keep: list[tuple[str, str]] = []
        already = repeated = 0
        for session, fp in fingerprints.items():
            if fp in in_pool:
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
            _filter_sessions(staged_all, kept, set(keep))
            source = kept
        entry = _entry(pool, actual, contributor, consent, keep, fingerprints, facts, already)
        entry["sessions_repeated_in_upload"] = repeated
        entry["upload_id"] = upload_id
        crash_point("ingest.staged")
        committed = pool.commit(source, entry)
    out = receipt(pool, committed, contributor)
    out["sessions_repeated_in_upload"] = repeated
    return out


def _entry(
    pool: Pool,
    sha256: str,
    contributor: str,
    consent: dict[str, Any],
    keep: list[tuple[str, str]],
    fingerprints: dict[tuple[str, str], str],
    facts: dict[tuple[str, str], _SessionFacts],
    already: int,
) -> dict[str, Any]:
    kept = [facts[s] for s in keep]
    models: Counter = Counter()
    providers: Counter = Counter()
    for session, f in zip(keep, kept, strict=True):
        models.update(f.models)
        providers[session[0]] += f.rows
    firsts = [f.first for f in kept if f.first]
    lasts = [f.last for f in kept if f.last]
    return {
        "id": pool.new_id(),
        "committed_at": utc_now(),
        "contributor": contributor,
        "content_sha256": sha256,
        "rows": sum(f.rows for f in kept),
        "sessions": len(keep),
        "sessions_in_pool": already,
        "tool_calls": sum(f.tool_calls for f in kept),
        "window": [min(firsts) if firsts else None, max(lasts) if lasts else None],
        "models": dict(sorted(models.items())),
        "providers": dict(sorted(providers.items())),
        "users": sorted({f.user for f in kept if f.user}),
        "fingerprints": sorted(fingerprints[s] for s in keep),
        "consent": consent,
    }


def _filter_sessions(src: Path, dst: Path, keep: set[tuple[str, str]]) -> None:
    """Copy the rows of the kept sessions, batch by batch, in their order."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array(sorted(f"{p}\x00{s}" for p, s in keep))
    source = pq.ParquetFile(src)
    with pq.ParquetWriter(dst, source.schema_arrow, compression="zstd") as out:
        for batch in source.iter_batches(batch_size=20_000):
            key = pc.binary_join_element_wise(batch["provider"], batch["session_id"], "\x00")
            out.write_table(pa.Table.from_batches([batch]).filter(pc.is_in(key, wanted)))
