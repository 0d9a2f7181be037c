"""Present any trace database in the one canonical shape the analyses query.

Why: the public release's DuckDB (with or without `timing_events.event_index`), a database
built here, and one built by an older TraceLab all hold the same data under slightly different
names and types. Instead of teaching every query each variant, `present_canonical(con)` runs
once per connection (from `tracedb.open_db`) and creates TEMP views (or tables) named
`rounds`, `tool_calls`, `timing_events`. DuckDB resolves an unqualified name in the temp
schema before the database's own, so all SQL in metrics/, validate, export/, web/ and synth/
reads the canonical shape unchanged, and the file itself is never modified (it is open
read-only).

The canonical shape:
- `rounds`: `round_pk`, every scalar field of `tracelab.schema.ROW_FIELDS` (its schema type;
  a field the file lacks is a typed NULL — fields added to the schema later included), and
  `started_at`, `ended_at` (TIMESTAMPTZ: first / last timing event by position),
  `tool_call_count`, `timing_event_count`.
- `tool_calls`: `round_pk`, `tool_pos` (0-based position in the step's list), every public
  tools[] field (timestamps TIMESTAMPTZ), and the step's `provider`, `session_id`, `model`.
- `timing_events`: `round_pk`, `event_pos` (0-based), every timing-event field (timestamp
  TIMESTAMPTZ), and the step's `provider`, `session_id`.

Where a column comes from, in order: the canonical name itself (an older TraceLab build),
TraceLab's `tl_` extra (a current build), a derivation (`event_index` − 1; the table's row
order within a step — the first release's list order; the step's context joined from `rounds`;
counts and first/last timestamps aggregated from the child tables), else NULL. Naive
timestamps hold UTC (the release's convention) and become TIMESTAMPTZ by their epoch, which is
exact and costs no time-zone arithmetic.

Cost: a current TraceLab build needs only views (renames and cheap casts). A release database
lacks the derived columns, so its three tables are materialized once, in step order (a few
seconds at the release's 357k steps, the same order of cost as preparing the fact tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tracelab.dblayout import (
    DB_EVENT_FIELDS,
    DB_TOOL_FIELDS,
    EVENT_CONTEXT_FIELDS,
    SCALAR_ROW_FIELDS,
    TIMESTAMP_FIELDS,
    TOOL_CONTEXT_FIELDS,
    _q,
    extra,
    field_type,
)
from tracelab.schema import ROW_FIELDS, TIMING_EVENT_FIELDS, TOOL_FIELDS, Fields

TABLES = ("rounds", "tool_calls", "timing_events")
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
_MARKER = "_tracelab_canonical"


@dataclass(frozen=True)
class _Col:
    """One canonical column: its SQL over the source (alias `t`), and whether that SQL needs
    more than the table's own row (then the table is materialized, not a view)."""

    name: str
    expr: str
    derived: bool = False


def _convert(expr: str, have: str, want: str) -> str:
    """SQL for `expr` (of DuckDB type `have`) as type `want`; bad values become NULL."""
    if have == want:
        return expr
    if want == TIMESTAMPTZ and have.startswith("TIMESTAMP"):
        return f"make_timestamptz(epoch_us({expr}))"  # naive = UTC
    return f"TRY_CAST({expr} AS {'TIMESTAMPTZ' if want == TIMESTAMPTZ else want})"


def _stored(cols: dict[str, str], name: str, want: str) -> _Col | None:
    """The column `name` from its canonical or `tl_` name in the file, converted to `want`."""
    for stored in (name, extra(name)):
        if stored in cols:
            return _Col(name, _convert(f"t.{_q(stored)}", cols[stored], want))
    return None


def _field(cols: dict[str, str], name: str, want: str) -> _Col:
    return _stored(cols, name, want) or _Col(name, f"NULL::{_cast_name(want)}")


def _cast_name(want: str) -> str:
    return "TIMESTAMPTZ" if want == TIMESTAMPTZ else want


def _want(name: str, fields: Fields) -> str:
    return TIMESTAMPTZ if name in TIMESTAMP_FIELDS else field_type(fields, name)


def _context(cols: dict[str, str], rounds: dict[str, str], name: str) -> _Col:
    """A step field on a child row: stored on it, else joined from `rounds` (alias `r`)."""
    found = _stored(cols, name, "VARCHAR")
    if found is not None:
        return found
    if name in rounds:
        return _Col(name, _convert(f"r.{_q(name)}", rounds[name], "VARCHAR"), derived=True)
    return _Col(name, "NULL::VARCHAR")


def _position(cols: dict[str, str], name: str, index: str | None) -> tuple[_Col, str]:
    """0-based position within the step, and the ORDER BY that keeps the list order."""
    found = _stored(cols, name, "BIGINT")
    if found is not None:
        return found, found.expr
    if index is not None and index in cols:
        return _Col(name, f"t.{_q(index)} - 1"), f"t.{_q(index)}"
    # The first release: the table's row order within a step is the list order.
    window = "row_number() OVER (PARTITION BY t.round_pk ORDER BY t.rowid) - 1"
    return _Col(name, window, derived=True), "t.rowid"


def _tool_columns(cols: dict[str, str], rounds: dict[str, str]) -> tuple[list[_Col], str]:
    pos, order = _position(cols, "tool_pos", None)
    fields = [_field(cols, n, _want(n, TOOL_FIELDS)) for n in DB_TOOL_FIELDS]
    context = [_context(cols, rounds, n) for n in TOOL_CONTEXT_FIELDS]
    return [_Col("round_pk", "t.round_pk"), pos, *fields, *context], order


def _event_columns(cols: dict[str, str], rounds: dict[str, str]) -> tuple[list[_Col], str]:
    pos, order = _position(cols, "event_pos", "event_index")
    fields = [_field(cols, n, _want(n, TIMING_EVENT_FIELDS)) for n in DB_EVENT_FIELDS]
    context = [_context(cols, rounds, n) for n in EVENT_CONTEXT_FIELDS]
    return [_Col("round_pk", "t.round_pk"), pos, *fields, *context], order


#: Per-step aggregates of the canonical child tables, for a database without the extras.
_ROUND_DERIVED = {
    "started_at": ("e", "arg_min_null(timestamp, event_pos)"),
    "ended_at": ("e", "arg_max_null(timestamp, event_pos)"),
    "timing_event_count": ("e", "count(*)"),
    "tool_call_count": ("c", "count(*)"),
}
_DERIVED_TYPES = {
    "started_at": TIMESTAMPTZ,
    "ended_at": TIMESTAMPTZ,
    "tool_call_count": "BIGINT",
    "timing_event_count": "BIGINT",
}


def _round_columns(cols: dict[str, str]) -> list[_Col]:
    out = [_Col("round_pk", "t.round_pk")]
    out += [_field(cols, n, field_type(ROW_FIELDS, n)) for n in SCALAR_ROW_FIELDS]
    for name, want in _DERIVED_TYPES.items():
        found = _stored(cols, name, want)
        if found is None:
            alias, _agg = _ROUND_DERIVED[name]
            expr = f"{alias}.{name}"
            if name.endswith("_count"):
                expr = f"coalesce({expr}, 0)::BIGINT"
            found = _Col(name, expr, derived=True)
        out.append(found)
    return out


def _select(columns: list[_Col]) -> str:
    return ",\n  ".join(f"{c.expr} AS {_q(c.name)}" for c in columns)


def _columns_of(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {t: {} for t in TABLES}
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = 'main' AND table_name IN ? "
        "ORDER BY table_name, column_index",
        [catalog, list(TABLES)],
    ).fetchall():
        found[table][column] = kind
    return found


def present_canonical(con: duckdb.DuckDBPyConnection) -> None:
    """Create the canonical TEMP `rounds`, `tool_calls`, `timing_events` on `con`; idempotent.

    A database that lacks one of the tables or their `round_pk` is left alone (the caller's
    `check_tables`, or the first query, says what is wrong).
    """
    (done,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [_MARKER]
    ).fetchone()
    if done:
        return
    (catalog,) = con.execute("SELECT current_database()").fetchone()
    cols = _columns_of(con, catalog)
    if any("round_pk" not in cols[t] for t in TABLES):
        return
    main = {t: f"{_q(catalog)}.main.{_q(t)}" for t in TABLES}
    rounds_join = f"LEFT JOIN {main['rounds']} r USING (round_pk)"

    for table, (columns, order) in (
        ("tool_calls", _tool_columns(cols["tool_calls"], cols["rounds"])),
        ("timing_events", _event_columns(cols["timing_events"], cols["rounds"])),
    ):
        _create(con, table, columns, f"{main[table]} t", rounds_join, f"t.round_pk, {order}")

    columns = _round_columns(cols["rounds"])
    joins = ""
    if any(c.derived for c in columns):
        aggs = {alias: [] for alias in ("e", "c")}
        for name, (alias, agg) in _ROUND_DERIVED.items():
            aggs[alias].append(f"{agg} AS {name}")
        joins = (
            f"LEFT JOIN (SELECT round_pk, {', '.join(aggs['e'])} FROM temp.main.timing_events"
            " GROUP BY round_pk) e USING (round_pk)"
            f" LEFT JOIN (SELECT round_pk, {', '.join(aggs['c'])} FROM temp.main.tool_calls"
            " GROUP BY round_pk) c USING (round_pk)"
        )
    _create(con, "rounds", columns, f"{main['rounds']} t", joins, "t.round_pk")
    con.execute(f"CREATE TEMP TABLE {_MARKER} AS SELECT 1 AS done")


def _create(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: list[_Col],
    base: str,
    joins: str,
    order: str,
) -> None:
    """A TEMP view of `base` when every column comes from the row itself; else a TEMP table of
    `base` with `joins` (what the derived columns read), in step order."""
    if not any(c.derived for c in columns):
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT\n  {_select(columns)}\nFROM {base}")
        return
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT\n  {_select(columns)}\nFROM {base} {joins}\n"
        f"ORDER BY {order}"
    )
