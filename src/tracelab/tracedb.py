"""Build and open the DuckDB analysis database of a normalized trace.

Why DuckDB, and why this shape: analyses are SQL over three flat tables — `rounds` (one row per
step), `tool_calls` (one per tools[] element) and `timing_events` (one per timing_events[]
element) — joined on `round_pk`. The file has the public release's layout (`tracelab.dblayout`:
its tables, column names, order and types, then TraceLab's extras), so a database built here
opens in tools written for the release, and the release's own database opens here: `open_db`
presents either in the one canonical shape the analyses query (`tracelab.dbadapter`).

How the build stays fast (357k steps in a few seconds on 2 cores): DuckDB does all the work.
`read_json` (explicit column types derived from `schema.ARROW_SCHEMA`, `ignore_errors`) or
`read_parquet` loads the file once into a TEMP staging table; the three tables are then
`CREATE TABLE … AS SELECT` over it, with `unnest` for the nested lists. No Python loop touches
rows. The staging table lives in DuckDB's buffer pool, bounded by `BUILD_MEMORY_LIMIT` (it spills
to a temp directory beside the database when the input is larger).

`round_pk` (= `ingest_seq`) is the ingestion ordinal: the 1-based position of the step among the
readable step rows of the input, in file order (the release's key). It relies on DuckDB's
`preserve_insertion_order` (set explicitly for the build): a `CREATE TABLE AS SELECT` without
ORDER BY stores rows in the order the scan produced them, so the staging table's `rowid` is the
file order. The build checks this assumption against the scan's `WITH ORDINALITY` counter and
fails rather than mis-numbering. Every step row is kept — the public dataset has duplicate
`round_id`s and `trace_key`s.

Unreadable input lines (invalid JSON, not an object, a truncated last line, or an object with
none of the identity fields provider/session_id/round_id/trace_key) are not steps: they are
counted in `BuildReport.skipped_lines`, never silently dropped.

The database is written atomically: built in a temp file beside `dst` and renamed over it only
when complete, so a failed build leaves the previous database untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracelab import __version__, schema
from tracelab.dbadapter import present_canonical
from tracelab.dblayout import (
    DERIVED_DOCS,
    EVENT_CONTEXT_FIELDS,
    EXTRA_EVENT_FIELDS,
    EXTRA_ROUND_FIELDS,
    EXTRA_TOOL_FIELDS,
    LIST_FIELDS,
    RELEASE_EVENT_FIELDS,
    RELEASE_ROUND_FIELDS,
    RELEASE_TOOL_FIELDS,
    TIMESTAMP_FIELDS,
    TOOL_CONTEXT_FIELDS,
    UUID_FIELDS,
    _q,
    duckdb_type,
    extra,
)
from tracelab.filecheck import check_trace_input
from tracelab.io import TraceFormatError
from tracelab.schema import (
    IDENTITY_FIELDS,
    PRIVATE_ROW_FIELDS,
    PRIVATE_TOOL_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    TOOL_FIELDS,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: DuckDB memory limit during the build; above it the staging table spills to disk.
BUILD_MEMORY_LIMIT = "512MB"
#: Largest JSONL line DuckDB parses (its default; larger buffers cost parallelism, ~+35% load).
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class BuildReport:
    """What a build produced; `skipped_lines` counts input lines that were not readable steps."""

    rows: int = 0
    tool_calls: int = 0
    timing_events: int = 0
    skipped_lines: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        text = (
            f"{self.rows} steps, {self.tool_calls} tool calls, "
            f"{self.timing_events} timing events in {self.seconds:.1f} s"
        )
        if self.skipped_lines:
            text += f"; skipped {self.skipped_lines} unreadable lines"
        return text


# --- types and SQL helpers ----------------------------------------------------------------


def _utc_timestamp(expr: str) -> str:
    """SQL turning an ISO-8601 string into a naive TIMESTAMP holding UTC (bad values → NULL).

    Parsed as TIMESTAMPTZ so an offset is honoured (a TIMESTAMP cast would drop it), then
    taken as its UTC epoch — no time-zone arithmetic, exact to the microsecond.
    """
    return f"make_timestamp(epoch_us(TRY_CAST({expr} AS TIMESTAMPTZ)))"


def _convert(expr: str, name: str, arrow_type: pa.DataType) -> str:
    """SQL turning a staged value into its database type; bad values become NULL, not errors."""
    if name in TIMESTAMP_FIELDS:
        return _utc_timestamp(expr)
    return f"TRY_CAST({expr} AS {duckdb_type(arrow_type)})"


def _json_columns() -> str:
    """The `columns={…}` argument of read_json: every row field, private tool `input` left out.

    Leaving `input` out means DuckDB never materializes it; keys not listed (unknown top-level
    fields, extra struct keys) are ignored by read_json.
    """
    fields = schema.ARROW_SCHEMA  # resolved here: reading a database needs no pyarrow
    items = (f"'{f.name}': '{duckdb_type(f.type, PRIVATE_TOOL_FIELDS)}'" for f in fields)
    return "{" + ", ".join(items) + "}"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- the staging load ---------------------------------------------------------------------


@dataclass
class _Staged:
    """Which fields the staged source has (a public or foreign Parquet file may lack some)."""

    row_fields: set[str]
    tool_fields: set[str]
    event_fields: set[str]


def _parquet_select(path: Path) -> tuple[str, _Staged]:
    """Select list for a Parquet source: known columns cast to the schema type, missing as NULL."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file_schema = pq.read_schema(path)
    present = {f.name: f.type for f in file_schema}
    exprs = []
    nested: dict[str, set[str]] = {"tools": set(), "timing_events": set()}
    for name, arrow_type in ROW_FIELDS.items():
        if name not in present:
            exprs.append(f"NULL::{duckdb_type(arrow_type, PRIVATE_TOOL_FIELDS)} AS {_q(name)}")
        elif name in LIST_FIELDS:
            # Kept as the file has it; the unnest step reads only the struct fields present.
            value_type = getattr(present[name], "value_type", None)
            if value_type is not None and pa.types.is_struct(value_type):
                nested[name] = {f.name for f in value_type}
                exprs.append(_q(name))
            else:
                exprs.append(f"NULL::{duckdb_type(arrow_type)} AS {_q(name)}")
        else:
            exprs.append(f"TRY_CAST({_q(name)} AS {duckdb_type(arrow_type)}) AS {_q(name)}")
    staged = _Staged(
        set(ROW_FIELDS) & set(present),
        nested["tools"] & set(TOOL_FIELDS),
        nested["timing_events"] & set(TIMING_EVENT_FIELDS),
    )
    return ", ".join(exprs), staged


def _load_staging(con: duckdb.DuckDBPyConnection, src: Path, fmt: str) -> _Staged:
    """Load the source into TEMP table `staging` (all records, in file order, plus `_ord`)."""
    path = _sql_str(str(src))
    if fmt == "parquet":
        select, staged = _parquet_select(src)
        source = f"read_parquet({path})"
    else:
        select = "*"
        source = (
            f"read_json({path}, format='newline_delimited', columns={_json_columns()}, "
            f"ignore_errors=true, maximum_object_size={MAX_LINE_BYTES})"
        )
        staged = _Staged(set(ROW_FIELDS), set(TOOL_FIELDS), set(TIMING_EVENT_FIELDS))
    con.execute(
        f"CREATE TEMP TABLE staging AS SELECT {select}, ordinality AS _ord "
        f"FROM {source} WITH ORDINALITY"
    )
    return staged


@contextlib.contextmanager
def _salvaged_gzip(src: Path, workdir: Path) -> Iterator[tuple[Path, bool]]:
    """Decompress a damaged .gz into a plain JSONL beside the build, up to the damage.

    Why: DuckDB refuses a truncated gzip stream outright, but a download or an agent still
    writing leaves exactly that, and the complete lines before the damage are good rows (the
    same tolerance as `io.read_rows`). Yields (path, damaged); the partial last line is dropped.
    """
    out = workdir / f".{src.name}.{secrets.token_hex(4)}.salvage.jsonl"
    damaged = False
    written = 0
    try:
        with open(src, "rb") as fin, open(out, "wb") as fout:
            dec = zlib.decompressobj(wbits=31)
            tail = b""
            while True:
                chunk = fin.read(1 << 20)
                if not chunk:
                    damaged = not dec.eof
                    break
                try:
                    data = dec.decompress(chunk)
                    while dec.eof and dec.unused_data:  # concatenated gzip members
                        rest = dec.unused_data
                        dec = zlib.decompressobj(wbits=31)
                        data += dec.decompress(rest)
                except zlib.error:
                    damaged = True
                    break
                data = tail + data
                cut = data.rfind(b"\n") + 1
                fout.write(data[:cut])
                written += cut
                tail = data[cut:]
            if tail and not damaged:
                fout.write(tail)  # a complete stream whose last line lacks the newline
                written += len(tail)
        if damaged and not written:
            raise TraceFormatError(f"{src}: not a readable gzip stream")
        yield out, damaged
    finally:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()


# --- building the tables ------------------------------------------------------------------


def _uuid_fields(con: duckdb.DuckDBPyConnection, staged: _Staged) -> set[str]:
    """The UUID_FIELDS whose every non-null staged value is a UUID in canonical text form."""
    present_fields = [n for n in sorted(UUID_FIELDS) if n in staged.row_fields]
    if not present_fields:
        return set(UUID_FIELDS)
    counts = ", ".join(
        f"count(*) FILTER (WHERE {_q(n)} IS NOT NULL AND "
        f"TRY_CAST({_q(n)} AS UUID)::VARCHAR IS DISTINCT FROM {_q(n)})"
        for n in present_fields
    )
    bad = con.execute(f"SELECT {counts} FROM steps").fetchone()
    missing = set(UUID_FIELDS) - set(present_fields)
    return missing | {n for n, b in zip(present_fields, bad, strict=True) if not b}


def _private_fields_present(con: duckdb.DuckDBPyConnection, staged: _Staged) -> set[str]:
    """The private row fields with a value in some step (a sanitized trace has none: its
    database then has no such column at all, like the release's)."""
    fields = [n for n in PRIVATE_ROW_FIELDS if n in staged.row_fields]
    if not fields:
        return set()
    counts = con.execute(f"SELECT {', '.join(f'count({_q(n)})' for n in fields)} FROM steps")
    return {n for n, c in zip(fields, counts.fetchone(), strict=True) if c}


def _tables_sql(staged: _Staged, uuid_fields: set[str], private: set[str]) -> list[str]:
    """CREATE TABLE statements for rounds, tool_calls, timing_events (in round_pk order).

    Release columns first, in the release's order and types (`tracelab.dblayout`), then the
    schema fields the release lacks (private ones only if in `private`), then TraceLab's
    derived `tl_` columns.
    """
    extras = [n for n in EXTRA_ROUND_FIELDS if n not in PRIVATE_ROW_FIELDS or n in private]

    def row_expr(name: str) -> str:
        if name not in staged.row_fields:
            kind = "UUID" if name in uuid_fields else duckdb_type(ROW_FIELDS[name])
            return f"NULL::{kind}"
        if name in uuid_fields:
            return f"TRY_CAST({_q(name)} AS UUID)"
        return _q(name)

    def elem_expr(name: str, arrow_type: pa.DataType, present: set[str]) -> str:
        value = f"x.{_q(name)}" if name in present else "NULL"
        return f"{_convert(value, name, arrow_type)} AS {_q(name)}"

    first_ts = last_ts = "NULL"
    if "timestamp" in staged.event_fields:
        first_ts = "timing_events[1].timestamp"
        last_ts = "timing_events[-1].timestamp"
    rounds = ",\n  ".join(
        [
            "rowid + 1 AS round_pk",
            "rowid + 1 AS ingest_seq",
            *(f"{row_expr(n)} AS {_q(n)}" for n in (*RELEASE_ROUND_FIELDS, *extras)),
            f"{_utc_timestamp(first_ts)} AS {extra('started_at')}",
            f"{_utc_timestamp(last_ts)} AS {extra('ended_at')}",
            f"COALESCE(len(tools), 0)::BIGINT AS {extra('tool_call_count')}",
            f"COALESCE(len(timing_events), 0)::BIGINT AS {extra('timing_event_count')}",
        ]
    )
    tool_cols = ",\n  ".join(
        [
            "round_pk",
            *(
                elem_expr(n, TOOL_FIELDS[n], staged.tool_fields)
                for n in (*RELEASE_TOOL_FIELDS, *EXTRA_TOOL_FIELDS)
            ),
            f"(pos - 1)::BIGINT AS {extra('tool_pos')}",
            *(extra(n) for n in TOOL_CONTEXT_FIELDS),
        ]
    )
    event_cols = ",\n  ".join(
        [
            "round_pk",
            "pos::BIGINT AS event_index",
            *(
                elem_expr(n, TIMING_EVENT_FIELDS[n], staged.event_fields)
                for n in (*RELEASE_EVENT_FIELDS, *EXTRA_EVENT_FIELDS)
            ),
            *(extra(n) for n in EVENT_CONTEXT_FIELDS),
        ]
    )

    def context(fields: tuple[str, ...]) -> str:
        return ", ".join(f"{row_expr(n)} AS {extra(n)}" for n in fields)

    # unnest and generate_subscripts in one SELECT list advance in lockstep: pos = list index.
    return [
        f"CREATE TABLE rounds AS SELECT\n  {rounds}\nFROM steps",
        f"CREATE TABLE tool_calls AS SELECT\n  {tool_cols}\nFROM (SELECT rowid + 1 AS round_pk, "
        f"{context(TOOL_CONTEXT_FIELDS)}, unnest(tools) AS x, "
        f"generate_subscripts(tools, 1) AS pos FROM steps)",
        f"CREATE TABLE timing_events AS SELECT\n  {event_cols}\n"
        "FROM (SELECT rowid + 1 AS round_pk, "
        f"{context(EVENT_CONTEXT_FIELDS)}, unnest(timing_events) AS x, "
        f"generate_subscripts(timing_events, 1) AS pos FROM steps)",
    ]


def _comment_extras(con: duckdb.DuckDBPyConnection, private: set[str]) -> None:
    """Describe every column that is not the release's in the database itself (COMMENT ON)."""
    comments = [
        ("rounds", n, f"TraceLab extra: normalized-format field {n} (not in the release)")
        for n in EXTRA_ROUND_FIELDS
        if n not in PRIVATE_ROW_FIELDS or n in private
    ]
    comments += [("tool_calls", n, "TraceLab extra: tools[] field") for n in EXTRA_TOOL_FIELDS]
    comments += [
        ("timing_events", n, "TraceLab extra: timing_events[] field") for n in EXTRA_EVENT_FIELDS
    ]
    comments += [
        (table, extra(name), text)
        for table, docs in DERIVED_DOCS.items()
        for name, text in docs.items()
    ]
    for table, column, text in comments:
        con.execute(f"COMMENT ON COLUMN {table}.{_q(column)} IS '{text.replace(chr(39), '')}'")


def _is_step_sql(staged: _Staged) -> str:
    present = [n for n in IDENTITY_FIELDS if n in staged.row_fields]
    if not present:
        return "FALSE"
    return "(" + " OR ".join(f"{_q(n)} IS NOT NULL" for n in present) + ")"


def _build_into(
    con: duckdb.DuckDBPyConnection,
    src: Path,
    read_path: Path,
    fmt: str,
    report: BuildReport,
    progress: Callable[[int], None] | None,
) -> None:
    con.execute("SET preserve_insertion_order = true")  # round_pk = file order (module doc)
    con.execute("SET TimeZone = 'UTC'")  # a timestamp string without an offset means UTC
    con.execute(f"SET memory_limit = '{BUILD_MEMORY_LIMIT}'")
    con.execute("SET enable_progress_bar = false")  # a library must not draw on the terminal
    staged = _load_staging(con, read_path, "parquet" if fmt == "parquet" else "jsonl")

    (misordered,) = con.execute("SELECT count(*) FROM staging WHERE rowid <> _ord - 1").fetchone()
    if misordered:
        raise RuntimeError(f"DuckDB did not keep the input order ({misordered} rows moved)")

    is_step = _is_step_sql(staged)
    (records, steps) = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {is_step}) FROM staging"
    ).fetchone()
    report.skipped_lines += records - steps
    if records and not steps:
        raise TraceFormatError(f"{src}: no line is a normalized step row; is it a trace?")
    if steps == records:
        con.execute("CREATE TEMP VIEW steps AS SELECT rowid, * FROM staging")
    else:  # compact, so round_pk stays dense: 0..rows-1 in file order
        con.execute(f"CREATE TEMP TABLE steps_t AS SELECT * FROM staging WHERE {is_step}")
        con.execute("DROP TABLE staging")
        con.execute("CREATE TEMP VIEW steps AS SELECT rowid, * FROM steps_t")
    report.rows = steps
    if progress is not None:
        progress(steps)

    private = _private_fields_present(con, staged)
    for statement in _tables_sql(staged, _uuid_fields(con, staged), private):
        con.execute(statement)
    _comment_extras(con, private)
    con.execute("CREATE TABLE trace_source (path VARCHAR)")
    con.execute("INSERT INTO trace_source VALUES (?)", [src.name])  # the name only: no path
    (report.tool_calls,) = con.execute("SELECT count(*) FROM tool_calls").fetchone()
    (report.timing_events,) = con.execute("SELECT count(*) FROM timing_events").fetchone()
    con.execute("DROP VIEW steps")
    con.execute("DROP TABLE IF EXISTS staging")
    con.execute("DROP TABLE IF EXISTS steps_t")

    meta = {
        "tracelab_version": __version__,
        "duckdb_version": duckdb.__version__,
        "source_file": src.name,
        "source_format": fmt,
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": str(report.rows),
        "tool_calls": str(report.tool_calls),
        "timing_events": str(report.timing_events),
        "skipped_lines": str(report.skipped_lines),
        "round_pk": "1-based ingestion order of the step rows in the source file",
    }
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
    con.execute("CHECKPOINT")


def _remove_db_files(db: Path) -> None:
    """Remove a DuckDB file and its companions (write-ahead log, spill directory)."""
    for path in (db, db.with_name(db.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    shutil.rmtree(db.with_name(db.name + ".tmp"), ignore_errors=True)


def build_db(src: Path, dst: Path, progress: Callable[[int], None] | None = None) -> BuildReport:
    """Build the analysis database `dst` from a normalized trace `src` (JSONL, .gz or Parquet).

    `progress`, if given, is called with the number of step rows loaded. Raises
    `TraceFormatError` if `src` is not a trace; `dst` is only replaced by a complete build.
    """
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    fmt = check_trace_input(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    report = BuildReport()
    try:
        con = duckdb.connect(str(tmp))
        try:
            try:
                _build_into(con, src, src, fmt, report, progress)
            except duckdb.IOException:
                if fmt != "jsonl.gz":
                    raise
                # A truncated/corrupt gzip stream: start over from what can be decompressed.
                con.close()
                _remove_db_files(tmp)
                con = duckdb.connect(str(tmp))
                report = BuildReport()
                with _salvaged_gzip(src, dst.parent) as (plain, damaged):
                    report.skipped_lines = int(damaged)
                    _build_into(con, src, plain, fmt, report, progress)
        finally:
            con.close()
        # The replaced database's WAL (if one was left behind) must not be replayed on ours.
        with contextlib.suppress(FileNotFoundError):
            dst.with_name(dst.name + ".wal").unlink()
        os.chmod(tmp, 0o600)  # owner only, like every file TraceLab writes (io.atomic_path)
        os.replace(tmp, dst)
    finally:
        _remove_db_files(tmp)
    report.seconds = time.perf_counter() - started
    return report


#: The tables every analysis reads.
ANALYSIS_TABLES = ("rounds", "tool_calls", "timing_events")


def check_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise `TraceFormatError` naming what is missing if `con` is not a trace database."""
    present = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    missing = [t for t in ANALYSIS_TABLES if t not in present]
    if missing:
        raise TraceFormatError(
            f"{path}: not a TraceLab trace database (no table {', '.join(missing)}); build one "
            "with `tracelab db build TRACE`, or pass the trace file itself with -i"
        )


#: DuckDB memory limit of an analysis connection (`TRACELAB_MEMORY_LIMIT` overrides it). Its
#: TEMP fact tables and the analyses' queries live in DuckDB's buffer pool, which by default may
#: grow to 80 % of RAM; bounded, the larger operators spill to a private folder instead. At
#: 357k steps the process peaks near 1.6 GB unbounded, about 0.84 GB (RSS) at 700 MB and 0.75 GB
#: at this limit; with the figure workers `analyze --report` then stays under 1 GB in all (PSS
#: 0.95 GB, 1.04 GB at 700 MB) for about 2 % more CPU.
ANALYSIS_MEMORY_LIMIT = "600MB"
#: The limit of `analyze --no-figures` (no drawing processes share the machine's memory with
#: it): at 357k steps its fact tables take ~410 MB, so under 600 MB its queries spill ~100 MB
#: and the run takes 10.2 s (0.74 GB RSS); at this limit 8.6 s (1.39 GB RSS; 1 GB: 8.9 s,
#: 1.11 GB).
TABLES_MEMORY_LIMIT = "1500MB"


def _bound_memory(con: duckdb.DuckDBPyConnection, limit: str | None = None) -> None:
    """Cap DuckDB's memory on `con` (at `limit`, default `ANALYSIS_MEMORY_LIMIT`), spilling to
    the user's private cache (the database's own folder may be read-only, e.g. a downloaded
    release)."""
    from tracelab.paths import cache_dir, private_dir

    limit = os.environ.get("TRACELAB_MEMORY_LIMIT") or limit or ANALYSIS_MEMORY_LIMIT
    con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    try:
        spill = private_dir(cache_dir() / "duckdb-spill")
    except OSError:  # no writable cache: DuckDB's default place (beside the database)
        return
    con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")


def open_db(
    path: Path, read_only: bool = True, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open an analysis database (read-only by default, so several readers can share it).

    Any trace database — built here, the public release's, with or without
    `timing_events.event_index` — is presented in the canonical shape the analyses query
    (`dbadapter.present_canonical`: TEMP views or tables; the file is never modified). A
    writable connection (`read_only=False`, to change the file itself) sees the file's own
    tables instead. The session time zone is set to UTC so TIMESTAMPTZ columns print and
    truncate (date_trunc, hour-of-day) the same on every machine. `memory_limit`: DuckDB's
    limit on a read-only connection (default `ANALYSIS_MEMORY_LIMIT`; `TRACELAB_MEMORY_LIMIT`
    overrides both).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if read_only:
            _bound_memory(con, memory_limit)
            present_canonical(con)
    except BaseException:
        con.close()
        raise
    return con


def trace_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str | int]:
    """What the database says about its source.

    A TraceLab build has a `meta` table; the release has only `trace_source(path)` — then the
    file name of that path and the row counts are reported (never the path's directories).
    """
    keep = ("source_file", "rows", "tool_calls", "built_at", "tracelab_version")
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    except duckdb.Error:
        meta = {}
        with contextlib.suppress(duckdb.Error):
            source = con.execute("SELECT any_value(path) FROM trace_source").fetchone()[0]
            if source:
                meta["source_file"] = source.replace("\\", "/").rsplit("/", 1)[-1]
            for key, table in (("rows", "rounds"), ("tool_calls", "tool_calls")):
                (meta[key],) = con.execute(f"SELECT count(*)::VARCHAR FROM {table}").fetchone()
    out: dict[str, str | int] = {k: meta[k] for k in keep if k in meta}
    for key in _COUNT_KEYS:  # stored as text (one VARCHAR column); they are counts
        value = out.get(key)
        if isinstance(value, str) and value.isdigit():
            out[key] = int(value)
    return out


_COUNT_KEYS = ("rows", "tool_calls")
