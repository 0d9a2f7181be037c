"""The traces the app serves: an open database per trace, its lock and its cache of aggregates.

Why one connection and a lock per trace: the metric fact tables (`metrics.steps.prepare`) are
DuckDB TEMP tables, which belong to one connection. Preparing them once and serializing queries
on that connection costs far less than re-preparing per request (seconds at 357k steps), and
every heavy page (dashboard, overview, compare) is cached per trace after its first request, so
the lock is held for milliseconds on a warm server. The cache is keyed by the database file's
path, size and mtime, so it is never served for a different file; the dashboard's JSON is also
kept on disk (`disk_cached`), so reopening the same file needs no fact tables for it.

Why idle stores close their connection: an open DuckDB connection keeps its buffers (hundreds
of MB for a big trace) for the life of the server. A store not used for `idle_close_s` seconds
closes it (`TraceRegistry.start_reaper`); the next request opens and prepares it again, and
the small JSON aggregates stay cached, so only pages that query live pay the re-preparing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tracelab import __version__
from tracelab.io import atomic_write_bytes
from tracelab.metrics.steps import STEP_TABLES, prepare
from tracelab.paths import cache_dir, private_dir
from tracelab.pricing import PriceSource
from tracelab.tracedb import check_tables, open_db, trace_meta

#: The fact tables a store prepares when it opens: what the Dashboard and the session pages
#: read. Others (`request_facts`) are built by the first metric that asks (`prepare` is
#: idempotent per table), off the first page's path.
PAGE_TABLES = (*STEP_TABLES, "tool_facts")


def start_idle_reaper(
    stop: threading.Event, idle_s: float, close_idle: Callable[[], object], name: str
) -> threading.Thread:
    """A daemon thread calling `close_idle()` every quarter of `idle_s` (at most every 30 s)
    until `stop` is set: how the server releases what has been unused for `idle_s`."""

    def run() -> None:
        period = min(max(idle_s / 4, 0.01), 30.0)
        while not stop.wait(period):
            close_idle()

    thread = threading.Thread(target=run, daemon=True, name=name)
    thread.start()
    return thread


@dataclass
class TraceStore:
    """One trace database opened read-only, with its fact tables prepared on first use."""

    id: str
    label: str
    db: Path
    #: Files the user can download (kind → path), e.g. normalized / sanitized traces.
    downloads: dict[str, Path] = field(default_factory=dict)
    #: The trace file the database was built from, if any (raw step content lives only there).
    source: Path | None = None
    origin: str = "served"  # served | collected | demo | upload
    #: The price source (None: the default, genai-prices); set by the registry on `add`.
    prices: PriceSource | None = None
    synthetic: bool = False
    #: When it was added (epoch seconds) and the uploaded file's size (uploads only): what the
    #: trace picker shows to tell uploads of the same name apart.
    created: float | None = None
    upload_bytes: int | None = None
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    #: The fact tables prepared on `_con` (a connection opened again starts with none).
    _prepared: set[str] = field(default_factory=set, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: Keys being computed, each with the event its computation sets when it ends.
    _pending: dict[Any, threading.Event] = field(default_factory=dict, repr=False)
    _pending_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: The thread inside `connection()` (holding `_lock`), if any.
    _holder: int | None = field(default=None, repr=False)
    _last_used: float = field(default_factory=time.monotonic, repr=False)
    #: Set when a browser has drawn a page of this trace (`POST /api/t/<id>/drawn`).
    drawn: threading.Event = field(default_factory=threading.Event, repr=False)

    @contextlib.contextmanager
    def connection(
        self, tables: Iterable[str] = PAGE_TABLES
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with its fact `tables` prepared (by default every page's), held
        exclusively for the block (opened again if an idle close released it)."""
        with self._lock:
            if self._con is None:
                con = open_db(self.db)
                try:
                    check_tables(con, self.db)
                except BaseException:
                    con.close()
                    raise
                self._con, self._prepared = con, set()
            outer, self._holder = self._holder, threading.get_ident()
            try:
                wanted = set(tables) - self._prepared
                if wanted:
                    prepare(self._con, self.prices, tables=wanted)
                    self._prepared |= wanted
                yield self._con
            finally:
                self._holder = outer
                self._last_used = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self._con is not None

    def close_if_idle(self, idle_s: float, now: float | None = None) -> bool:
        """Close the connection if unused for `idle_s` seconds; never waits for a query that
        holds it (a busy store is not idle). True when it closed one."""
        if self._con is None or not self._lock.acquire(blocking=False):
            return False
        try:
            now = time.monotonic() if now is None else now
            if self._con is None or now - self._last_used < idle_s:
                return False
            self._con.close()
            self._con = None
            return True
        finally:
            self._lock.release()

    def in_background(self, work: Callable[[], Any]) -> None:
        """Run `work` (queries on this store) as background work, and wait for it: in a thread
        of the lowest CPU priority (`lowest_priority`), with DuckDB on that thread alone
        (`threads = 1`: no worker threads run at normal priority). A browser drawing a page
        on the same small machine then keeps the cores; an idle machine still runs the work
        at full speed on one core. The thread setting is the database's, so a request
        answered meanwhile also runs on one thread."""
        with self.connection(()) as con:
            threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
            con.execute("SET threads = 1")
        failure: list[BaseException] = []

        def run() -> None:
            lowest_priority()
            try:
                work()
            except BaseException as exc:  # raised again in the caller's thread
                failure.append(exc)

        try:
            worker = threading.Thread(target=run, name=f"tracelab-background-{self.id}")
            worker.start()
            worker.join()
        finally:
            with self.connection(()) as con:
                con.execute(f"SET threads = {threads}")
        if failure:
            raise failure[0]

    def warm(self) -> None:
        """Open the database and prepare its fact tables now (the first page is then fast)."""
        with self.connection():
            pass

    def cached(
        self,
        key: Any,
        compute: Callable[[duckdb.DuckDBPyConnection], Any],
        tables: Iterable[str] = PAGE_TABLES,
    ) -> Any:
        """`compute(con)` once per key for this database file (its size and mtime included),
        on the connection with the fact `tables` it reads prepared.

        A request for a key being computed waits for that key, not for the connection: the
        warm-up computes the dashboard's parts one after the other, and the page's request for
        the first part must not wait behind the second (the connection's lock is not fair)."""
        stamp = self._stamp()
        full_key = (key, stamp)
        if full_key in self._cache:
            return self._cache[full_key]
        with self._pending_lock:
            running = self._pending.get(full_key)
            if running is None:
                self._pending[full_key] = mine = threading.Event()
        if running is not None and self._holder == threading.get_ident():
            # We hold the connection the other computation waits for: waiting would deadlock.
            return self._compute(full_key, compute, tables)
        if running is not None:
            running.wait()
            if full_key in self._cache:
                return self._cache[full_key]
            return self.cached(key, compute, tables)  # that computation failed: try ours
        try:
            return self._compute(full_key, compute, tables)
        finally:
            with self._pending_lock:
                del self._pending[full_key]
            mine.set()

    def _compute(
        self,
        full_key: Any,
        compute: Callable[[duckdb.DuckDBPyConnection], Any],
        tables: Iterable[str],
    ) -> Any:
        with self.connection(tables) as con:
            if full_key not in self._cache:  # another thread may have filled it meanwhile
                self._cache[full_key] = compute(con)
            return self._cache[full_key]

    def disk_cached(
        self,
        key: str,
        compute: Callable[[duckdb.DuckDBPyConnection], bytes],
        tables: Iterable[str] = PAGE_TABLES,
    ) -> bytes:
        """Like `cached` for encoded JSON, also kept on disk per database file, so a server
        started again on the same unchanged file answers at once — without preparing the
        fact tables. The file name covers the database's path, size and mtime, the price
        table and the TraceLab version; a write failure only costs the disk copy."""
        path = self._disk_path(key)

        def load(con: duckdb.DuckDBPyConnection) -> bytes:
            data = compute(con)
            with contextlib.suppress(OSError):
                private_dir(path.parent)
                atomic_write_bytes(path, data, mode=0o600)
            return data

        def from_disk() -> bytes | None:
            with contextlib.suppress(OSError):
                return path.read_bytes()
            return None

        memo = ("disk", key)
        stamp = self._stamp()
        if (memo, stamp) in self._cache:
            return self._cache[(memo, stamp)]
        data = from_disk()
        if data is not None:
            self._cache[(memo, stamp)] = data
            return data
        return self.cached(memo, load, tables)

    def _disk_path(self, key: str) -> Path:
        size, mtime = self._stamp()
        prices = self.prices.key if self.prices is not None else "default"
        ident = f"{self.db.resolve()}|{size}|{mtime}|{prices}|{__version__}|{key}"
        digest = hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return cache_dir() / "web" / "aggregates" / f"{digest}.json"

    def _stamp(self) -> tuple[int, int]:
        st = self.db.stat()
        return st.st_size, st.st_mtime_ns

    def meta(self) -> dict[str, Any]:
        with self.connection() as con:
            return trace_meta(con)

    def summary(self) -> dict[str, Any]:
        """What the page lists for a trace (no queries: cheap for any number of traces)."""
        return {
            "id": self.id,
            "label": self.label,
            "origin": self.origin,
            "synthetic": self.synthetic,
            "downloads": sorted(self.downloads),
            "created": self.created,
            "upload_bytes": self.upload_bytes,
        }

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (nice 19; Linux sets it per thread).
    Best effort: elsewhere, or if refused, the thread keeps its priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


#: The id of the served trace (`--db` / `-i`, or the collected logs).
MAIN = "main"


def main_store(
    db: Path,
    source: Path | None = None,
    *,
    label: str | None = None,
    prices: PriceSource | None = None,
    synthetic: bool = False,
    detect: bool = True,
) -> TraceStore:
    """The store of the served trace database `db` (built from trace file `source`, if any).

    With `detect`, whether it is SYNTHETIC and what its trace file is (normalized or
    sanitized) are read from the trace now (`web.provenance.apply`, ~0.06 s); `tracelab serve`
    does it itself once its warm-up thread has started, while that thread's queries run."""
    store = TraceStore(
        id=MAIN,
        label=label or Path(source or db).name,
        db=Path(db),
        source=Path(source) if source is not None else None,
        downloads={"normalized": Path(source)} if source is not None else {},
        prices=prices,
        synthetic=synthetic,
    )
    if detect:
        from tracelab.web.provenance import apply

        apply(store)
    return store


class TraceRegistry:
    """The traces of this server: the served one ('main') and any uploaded ones."""

    def __init__(self) -> None:
        self._traces: dict[str, TraceStore] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.default_id: str | None = None
        #: Called in a thread for each added trace (the app sets `dashboard.warm`).
        self.warm_up: Callable[[TraceStore], None] | None = None
        #: The prices of every trace added (`--prices`; None: the default source).
        self.prices: PriceSource | None = None

    def add(
        self, store: TraceStore, default: bool = False, warm: bool = True, may_default: bool = True
    ) -> TraceStore:
        """Register `store`; with `warm`, its pages' data is prepared in the background.
        The first trace added becomes the default unless `may_default` is False (uploads found
        at start-up must not hide the collection of the user's own logs)."""
        added = self._add(store, default, may_default)
        if warm and self.warm_up is not None:
            threading.Thread(target=self.warm_up, args=(store,), daemon=True).start()
        return added

    def _add(self, store: TraceStore, default: bool, may_default: bool = True) -> TraceStore:
        if store.prices is None:
            store.prices = self.prices
        with self._lock:
            old = self._traces.get(store.id)
            self._traces[store.id] = store
            if default or (self.default_id is None and may_default):
                self.default_id = store.id
        if old is not None and old is not store:
            old.close()
        return store

    def get(self, trace_id: str) -> TraceStore | None:
        return self._traces.get(trace_id)

    def remove(self, trace_id: str) -> TraceStore | None:
        """Forget a trace and close its connection; the default moves to another trace."""
        with self._lock:
            store = self._traces.pop(trace_id, None)
            if self.default_id == trace_id:
                self.default_id = next(iter(self._traces), None)
        if store is not None:
            store.close()
        return store

    def start_reaper(self, idle_s: float) -> threading.Thread:
        """A daemon thread closing the connection of every store unused for `idle_s` seconds
        until `close` (`start_idle_reaper`)."""

        def close_idle() -> None:
            for store in self.all():
                store.close_if_idle(idle_s)

        return start_idle_reaper(self._stop, idle_s, close_idle, "trace-idle-close")

    def all(self) -> list[TraceStore]:
        with self._lock:
            return list(self._traces.values())

    @staticmethod
    def new_id(prefix: str = "u") -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    def close(self) -> None:
        self._stop.set()
        for store in self.all():
            store.close()
