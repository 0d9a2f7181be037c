"""The SQL sandbox: where every query of `tracelab ask` runs, the model's and the catalog's.

Why a copy: DuckDB has no column privileges, so a model that may write any SELECT could read
any column of the trace database. The sandbox therefore opens a *public copy* — the trace's
tables with the private columns (`schema.PRIVATE_ROW_FIELDS`; tool inputs never reach the
database) left out and the project reduced to its directory name — built once per database
file state in the cache dir. Its connection is
read-only, prepares the metric fact tables (`metrics.steps.prepare`, TEMP), then is locked:
one thread, a memory limit, no external access (no file, URL, or Python object), no extension
loading, and `lock_configuration` so no `SET` can undo any of it. A statement must parse (with
DuckDB's own parser) to exactly one SELECT; a timer thread interrupts a query past the time
limit; at most `max_rows` rows are fetched.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tracelab.metrics.steps import prepare
from tracelab.paths import cache_dir
from tracelab.pricing import PriceSource
from tracelab.schema import PRIVATE_ROW_FIELDS, PRIVATE_TOOL_FIELDS
from tracelab.tracedb import ANALYSIS_TABLES, check_tables, open_db
from tracelab.traceinput import cached_db_path

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_ROWS = 200
DEFAULT_MEMORY_LIMIT = "1GB"

#: A private trace's project is the working directory's path (it names the user): the public
#: copy keeps its last component only. A sanitized trace's pseudonym has no separator.
PUBLIC_EXPRESSIONS = {
    ("rounds", "project"): "regexp_replace(project, '^.*[/\\\\]', '') AS project",
}

#: The metric layer's fact tables (`metrics.steps`) the model may query beside the trace tables.
FACT_TABLES = ("step_facts", "tool_facts", "request_facts", "human_waits")

#: Columns never copied into the public database, per table.
PRIVATE_COLUMNS = {
    "rounds": set(PRIVATE_ROW_FIELDS),
    "tool_calls": set(PRIVATE_TOOL_FIELDS),
    "timing_events": set(),
}


class SandboxError(Exception):
    """A query the sandbox refused or that failed: the message is the tool error the model sees."""


@dataclass
class QueryResult:
    """What one query returned: its SQL, columns, JSON-ready rows, and whether rows were cut."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    seconds: float = 0.0
    params: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "columns": self.columns,
            "rows": self.rows,
            "truncated": self.truncated,
            "seconds": round(self.seconds, 3),
        }


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def public_db_path(db: Path) -> Path:
    """Where the public copy of `db` is cached (keyed like `traceinput`: path, size, mtime)."""
    return cache_dir() / "ask" / cached_db_path(db).name


def build_public_db(db: Path, dst: Path) -> None:
    """Copy the trace tables of `db` (in the canonical shape `tracedb.open_db` presents, so the
    public release's database works too) without their private columns into `dst` (atomic)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = open_db(db)
    out = duckdb.connect(str(tmp))
    try:
        for table in ANALYSIS_TABLES:
            cols = [
                d[0]
                for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description
                if d[0] not in PRIVATE_COLUMNS[table]
            ]
            select = ", ".join(PUBLIC_EXPRESSIONS.get((table, c), _q(c)) for c in cols)
            # streamed as Arrow record batches: the source is read-only and cannot ATTACH
            batches = con.sql(f"SELECT {select} FROM {table}").to_arrow_reader()
            out.register("batches", batches)
            out.execute(f"CREATE TABLE {table} AS SELECT * FROM batches")
            out.unregister("batches")
    finally:
        out.close()
        con.close()
    os.replace(tmp, dst)


def ensure_public_db(db: Path) -> Path:
    """The public copy of trace database `db`, built on first use; stale copies removed."""
    db = Path(db)
    con = open_db(db)
    try:
        check_tables(con, db)
    finally:
        con.close()
    dst = public_db_path(db)
    if not dst.is_file():
        build_public_db(db, dst)
        prefix = dst.name.split("-", 1)[0] + "-"
        for other in dst.parent.glob(prefix + "*.duckdb"):
            if other != dst:
                other.unlink(missing_ok=True)
    return dst


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: decimals and non-finite floats, times as ISO text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but exactly one SELECT statement, judged by DuckDB's own parser."""
    if not sql or not sql.strip():
        raise SandboxError("empty query: send one SELECT statement")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SandboxError(
            f"one statement only: got {len(statements)}; send a single SELECT without ';'"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise SandboxError(f"only a read-only query (SELECT) is allowed, not {name}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Sandbox:
    """A locked read-only connection over a public copy of a trace database."""

    def __init__(
        self,
        db: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        prices: PriceSource | None = None,
    ) -> None:
        """`prices`: the price source of the cost facts (None: the default), so the web app's
        answers price steps as its other pages do (`serve --prices`)."""
        self.source = Path(db)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.path = ensure_public_db(self.source)
        con = duckdb.connect(
            str(self.path),
            read_only=True,
            config={"autoload_known_extensions": False, "autoinstall_known_extensions": False},
        )
        try:
            con.execute("SET TimeZone = 'UTC'")
            prepare(con, prices)
            con.execute("SET threads = 1")
            con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        self._con = con
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        """Run one SELECT under the limits; any refusal or failure is a `SandboxError`."""
        sql = sql.strip().rstrip(";").strip() if sql else ""
        with self._lock:
            check_query(self._con, sql)
            finished = threading.Event()

            def stop() -> None:
                if not finished.is_set():
                    self._con.interrupt()

            timer = threading.Timer(self.timeout_s, stop)
            timer.daemon = True
            start = time.perf_counter()
            timer.start()
            try:
                cur = self._con.execute(sql, params or [])
                columns = [d[0] for d in cur.description or []]
                fetched = cur.fetchmany(self.max_rows + 1)
            except duckdb.InterruptException:
                raise SandboxError(
                    f"query stopped: it ran past the {self.timeout_s:g} s time limit"
                ) from None
            except duckdb.OutOfMemoryException as exc:
                raise SandboxError(
                    f"query stopped at the memory limit: {_first_line(exc)}"
                ) from None
            except duckdb.PermissionException:
                raise SandboxError(
                    "no file, URL or extension can be reached from a query: "
                    "query the trace tables only"
                ) from None
            except duckdb.Error as exc:
                raise SandboxError(f"SQL error: {_first_line(exc)}") from None
            finally:
                finished.set()
                timer.cancel()
            seconds = time.perf_counter() - start
        truncated = len(fetched) > self.max_rows
        rows = [[jsonable(v) for v in row] for row in fetched[: self.max_rows]]
        return QueryResult(sql, columns, rows, truncated, seconds, list(params or []))

    def table_columns(self) -> dict[str, list[tuple[str, str]]]:
        """Every table the model may query (trace tables and fact tables): (column, type)."""
        with self._lock:
            data = self._con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                f"WHERE (database_name <> 'temp' AND table_name IN {ANALYSIS_TABLES}) "
                f"   OR (database_name = 'temp' AND table_name IN {FACT_TABLES}) "
                "ORDER BY database_name = 'temp', table_name, column_index"
            ).fetchall()
        tables: dict[str, list[tuple[str, str]]] = {}
        for table, column, dtype in data:
            tables.setdefault(table, []).append((column, dtype))
        return tables
