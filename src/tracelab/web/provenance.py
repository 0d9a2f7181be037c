"""What the served trace is, for the page: is it SYNTHETIC, and is its file sanitized?

`tracelab serve -i FILE` / `--db FILE` gets no word on either, so both are read from the
trace: a demo trace is recognized by its synthetic home folder beside it or by the synthetic
writers' working directories (`tracelab.synthmarks`), and the trace file offered as a download
is named by what `ingest.sniff` finds in its first records (a sanitized trace is never offered
as "normalized"). Both are cheap (one column of one table; a few dozen lines).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracelab.synthmarks import SYNTHETIC_HOME, SYNTHETIC_ROOT

if TYPE_CHECKING:
    from tracelab.web.traces import TraceStore


def download_kind(source: Path) -> str:
    """'sanitized' for a sanitized trace (ours or the public dataset's), else 'normalized'."""
    from tracelab.ingest import UploadRejected
    from tracelab.ingest.sniff import UploadKind, detect_kind

    try:
        kind = detect_kind(Path(source))
    except (UploadRejected, OSError, ValueError):
        return "normalized"
    sanitized = kind in (UploadKind.SANITIZED, UploadKind.PUBLIC_DATASET)
    return "sanitized" if sanitized else "normalized"


def _beside_synthetic_home(path: str | Path | None) -> bool:
    return path is not None and (Path(path).parent / SYNTHETIC_HOME).is_dir()


def looks_synthetic(db: Path, source: Path | None = None) -> bool:
    """The trace was made by `tracelab synth` / a demo: its database, its file or the file its
    database was built from lies beside a synthetic home, or every working directory it
    records is under the synthetic writers' root."""
    if _beside_synthetic_home(db) or _beside_synthetic_home(source):
        return True
    from tracelab.tracedb import open_db, trace_meta

    try:
        with contextlib.closing(open_db(db)) as con:
            if _beside_synthetic_home(trace_meta(con).get("source_file")):
                return True
            found = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE starts_with(cwd, ?)) "
                "FROM rounds WHERE cwd IS NOT NULL",
                [SYNTHETIC_ROOT + "/"],
            ).fetchone()
    except (duckdb.Error, OSError):
        return False
    return bool(found and found[0] > 0 and found[0] == found[1])


def apply(store: TraceStore) -> None:
    """Mark `store` SYNTHETIC if it looks so, and name its trace-file download by its kind."""
    if not store.synthetic:
        store.synthetic = looks_synthetic(store.db, store.source)
    if store.source is not None and store.downloads.get("normalized") == store.source:
        kind = download_kind(store.source)
        if kind != "normalized":
            store.downloads = {kind: store.source}
