"""The incremental cache of `collect`: per raw file, what it produced and where parsing stopped.

One SQLite file (stdlib, one transaction per run) rather than one small file per session:
creating thousands of files costs more than parsing them. Per file it keeps the stat it was
parsed at, the offset after the last complete line with a digest of every byte before it, the
serialized output rows, and the pickled parser state (read only to resume a file that grew).
The cache holds private data (it is the user's own trace): the directory is created 0700.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from tracelab import __version__

#: Bumped with the package version and with any change of the pickled parser state (v6: slotted
#: `ToolCall`): a new parser never trusts an old parser's state.
CACHE_FORMAT = f"collect-v6-{__version__}"


_CREATE = (
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, format TEXT, size INTEGER,"
    " mtime INTEGER, offset INTEGER, prefix TEXT, output BLOB, state BLOB)"
)


def pack(obj: Any) -> bytes:
    """Pickle + LZ4 (Arrow's codec, already a dependency): a quarter of the bytes to move and
    store, for a tenth of the CPU that parsing them cost. (Arrow is imported here, not at
    start-up: a run with nothing to cache or a no-op never needs it.)"""
    import pyarrow as pa

    raw = pickle.dumps(obj, protocol=5)
    return len(raw).to_bytes(8, "little") + pa.compress(raw, codec="lz4", asbytes=True)


def unpack(blob: bytes) -> Any:
    """Inverse of `pack`; raises on a damaged blob (callers treat that as a cache miss)."""
    import pyarrow as pa

    size = int.from_bytes(blob[:8], "little")
    raw = pa.decompress(blob[8:], decompressed_size=size, codec="lz4", asbytes=True)
    return pickle.loads(raw)


class CacheEntry(NamedTuple):
    size: int
    mtime: int
    offset: int
    prefix: str


class CacheRecord(NamedTuple):
    """What a worker hands back for the cache after parsing one file."""

    size: int
    mtime: int
    offset: int
    prefix: str
    output: bytes
    state: bytes


class CollectCache:
    """SQLite-backed store of per-file parse results; every failure degrades to a cache miss."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / "collect.sqlite"
        try:
            self.con = self._connect()
            self.con.execute(_CREATE)
            self.con.execute("SELECT count(*) FROM files").fetchone()
        except sqlite3.DatabaseError:  # damaged (e.g. a crash mid-write): start afresh
            with contextlib.suppress(Exception):
                self.con.close()
            self.path.unlink(missing_ok=True)
            self.con = self._connect()
            self.con.execute(_CREATE)
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        """A connection tuned for a cache: no fsync, journal in memory (a crash can at worst
        damage the file, which the next run detects and rebuilds — it is only a cache)."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=MEMORY")
        con.execute("PRAGMA synchronous=OFF")
        return con

    def entries(self, paths: Iterable[str]) -> dict[str, CacheEntry]:
        """Metadata of the cached files among `paths` (one query, no blobs)."""
        wanted = set(paths)
        try:
            rows = self.con.execute(
                "SELECT path, size, mtime, offset, prefix FROM files WHERE format = ?",
                (CACHE_FORMAT,),
            ).fetchall()
        except sqlite3.DatabaseError:
            return {}
        return {r[0]: CacheEntry(*r[1:]) for r in rows if r[0] in wanted}

    def output(self, path: str) -> Any:
        """The unpacked output rows of a cached file, or None when missing or damaged."""
        blob = self._column("output", path)
        if blob is None:
            return None
        try:
            return unpack(blob)
        except Exception:  # a damaged entry is a miss, never a crash
            return None

    def state(self, path: str) -> bytes | None:
        """The packed parser state of a cached file (unpacked by the worker that resumes)."""
        return self._column("state", path)

    def _column(self, column: str, path: str) -> bytes | None:
        try:
            row = self.con.execute(
                f"SELECT {column} FROM files WHERE path = ? AND format = ?", (path, CACHE_FORMAT)
            ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return row[0] if row else None

    def put(self, path: str, record: CacheRecord) -> None:
        """Queue a record; a writer thread stores it while the run goes on (SQLite releases
        the GIL while it writes, so storing overlaps with waiting for the parsers)."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, daemon=True)
            self._writer.start()
        self._queue.put((path, CACHE_FORMAT, *record))

    def _write_loop(self) -> None:
        con = self._connect()
        try:
            done = False
            while not done:
                batch = [self._queue.get()]
                while len(batch) < 256:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is None:
                    batch.pop()
                    done = True
                if batch:
                    with contextlib.suppress(sqlite3.Error):
                        con.executemany(
                            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch
                        )
        finally:
            con.close()

    def close(self) -> None:
        """Wait for queued records to be stored, then close."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self.con.close()


def open_cache(directory: Path | None) -> CollectCache | None:
    """The cache in `directory`, or None (caching off, or the store cannot be opened)."""
    if directory is None:
        return None
    try:
        return CollectCache(directory)
    except (OSError, sqlite3.Error):
        return None
