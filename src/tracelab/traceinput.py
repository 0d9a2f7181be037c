"""Turn the user's trace option (`--db FILE.duckdb` or `-i TRACE`) into a database to open.

Every command that reads a trace takes the same two options. A JSONL / JSONL.gz / Parquet trace
is built into a DuckDB once and cached in the user cache directory, keyed by the input's
absolute path, size and mtime: a second command on the same unchanged file opens the cached
database at once, and a changed file gets a fresh build (the stale one is removed).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracelab.filecheck import check_database_input, check_trace_input
from tracelab.paths import cache_dir, private_dir
from tracelab.tracedb import BuildReport, build_db

DB_SUFFIXES = (".duckdb", ".db")


class TraceInputError(ValueError):
    """No input given, both given, or the input does not exist."""


@dataclass
class ResolvedTrace:
    """The database to open; `built` is the build report when this call had to build it."""

    db: Path
    source: Path
    built: BuildReport | None = None
    cached: bool = False


def db_cache_dir() -> Path:
    return cache_dir() / "db"


def cached_db_path(src: Path) -> Path:
    """Cache location for `src`: <hash of its absolute path>-<size>-<mtime_ns>.duckdb."""
    src = src.resolve()
    st = src.stat()
    digest = hashlib.sha256(str(src).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return db_cache_dir() / f"{digest}-{st.st_size}-{st.st_mtime_ns}.duckdb"


def resolve_trace(
    db: Path | None,
    input_path: Path | None,
    progress: Callable[[int], None] | None = None,
) -> ResolvedTrace:
    """The database for `--db` or `-i` (building and caching it from a trace file if needed)."""
    if db is not None and input_path is not None:
        raise TraceInputError("give either --db or -i, not both")
    if db is None and input_path is None:
        raise TraceInputError(
            "no trace given: use --db FILE.duckdb or -i TRACE (.jsonl, .jsonl.gz, .parquet). "
            "Make one with `tracelab collect -o trace.jsonl.gz`, or try `tracelab demo`."
        )
    path = Path(db if db is not None else input_path)
    if not path.exists():
        raise TraceInputError(f"{path}: no such file")
    if db is not None or path.suffix.lower() in DB_SUFFIXES:
        check_database_input(path)
        return ResolvedTrace(db=path, source=path)
    check_trace_input(path)
    target = cached_db_path(path)
    if target.is_file():
        return ResolvedTrace(db=target, source=path, cached=True)
    private_dir(target.parent)
    report = build_db(path, target, progress=progress)
    _remove_stale(target)
    return ResolvedTrace(db=target, source=path, built=report)


def _remove_stale(current: Path) -> None:
    """Delete cached builds of the same input path with another size/mtime."""
    prefix = current.name.split("-", 1)[0] + "-"
    for other in current.parent.glob(prefix + "*.duckdb"):
        if other != current:
            with contextlib.suppress(OSError):
                other.unlink()
