"""Everyday usage reports — what did I spend per day, week, month, session, project, 5-hour block.

Two steps, so a repeat report is cheap:

1. `materialize(con, dst)` copies the few per-step columns the reports need out of the prepared
   fact tables (`step_facts`: tokens, cache-write tiers, the one cost definition and its price
   match; `rounds`: time, project, parent session) into table `usage_steps` of a small DuckDB
   file. Each subagent step is rolled up into its top-level session (`root_session_id`, the
   parent chain of `parent_session_id` followed to its end; a step whose parent is unknown is
   its own root).
2. The reports are SQL over `usage_steps` (`report`): a row per local day / ISO week (Monday) /
   month (`date_trunc` on the step's start in the requested IANA zone), per top-level session
   (with the subagents' share), per project, or per 5-hour block; optional per-model rows
   (`breakdown`) and a totals row.

Every row counts: steps; input as `prefix` (served from the prompt cache) and `append` (not
cached); `output` (reasoning included); `reasoning` (Codex); cache-write tokens by tier (`write
5m`, `write 1h`; a log without the split bills every write as 5-minute, as the cost does);
`tokens` = prefix + append + output; `cost` = the sum over the priced steps (null when none is
priced — never zero) and `priced_share` = priced steps / steps.

Blocks follow the providers' 5-hour usage windows, per (user, provider), by ccusage's rule: a
block starts at its first step's time floored to the UTC hour and covers [start, start + 5 h);
the first step at or after its end starts the next block (so a gap of ≥ 5 h always does). The
active block holds `now`; its burn rate is over its first to last step (tokens per minute, USD
per hour) and its projection extends that rate to the block's end.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

#: Bumped when `usage_steps` changes shape (part of the cache key of a materialized file).
USAGE_FORMAT = "usage-v1"

REPORTS = ("daily", "weekly", "monthly", "session", "project", "blocks")
PERIOD_UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
BLOCK_HOURS = 5

#: Root of every session: its parent chain followed up (depth-limited against cycles).
_ROOTS_SQL = """
WITH RECURSIVE links AS (
    SELECT session_id, min(parent_session_id) AS parent
    FROM rounds
    WHERE parent_session_id IS NOT NULL AND parent_session_id <> session_id
    GROUP BY session_id
),
chain(session_id, root, depth) AS (
    SELECT session_id, parent, 1 FROM links
    UNION ALL
    SELECT c.session_id, l.parent, c.depth + 1
    FROM chain c JOIN links l ON l.session_id = c.root
    WHERE c.depth < 32
)
SELECT session_id, arg_max(root, depth) AS root FROM chain GROUP BY session_id
"""

_USAGE_STEPS_SQL = """
CREATE TABLE dst.usage_steps AS
SELECT s.round_pk, coalesce(r.started_at, r.ended_at) AS ts,
       s.provider, s.model, r.project, s."user", s.session_id,
       coalesce(roots.root, s.session_id) AS root_session_id,
       s.prefix, s.append, s.output, s.reasoning,
       coalesce(s.cache_write_5m, 0) AS write_5m, coalesce(s.cache_write_1h, 0) AS write_1h,
       s.priced, s.cost_total AS cost
FROM step_facts s
JOIN rounds r USING (round_pk)
LEFT JOIN ({roots}) roots ON roots.session_id = s.session_id
ORDER BY s.round_pk
"""


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
            [table, column],
        ).fetchone()[0]
    )


def materialize(con: duckdb.DuckDBPyConnection, dst: Path) -> int:
    """Write `usage_steps` of the prepared connection `con` into the DuckDB file `dst`
    (atomically: a temp file renamed over it). Returns the number of steps."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    has_parent = _has_column(con, "rounds", "parent_session_id")
    roots = _ROOTS_SQL if has_parent else "SELECT NULL::VARCHAR AS session_id, NULL AS root"
    sql = _USAGE_STEPS_SQL.format(roots=roots)
    try:
        con.execute(f"ATTACH '{_sql_path(tmp)}' AS dst (READ_WRITE)")
        try:
            con.execute(sql)
            con.execute(
                "CREATE TABLE dst.usage_meta AS SELECT ? AS format, "
                "(SELECT label FROM price_source) AS price_source"
                if _has_table(con, "price_source")
                else "CREATE TABLE dst.usage_meta AS SELECT ? AS format, NULL AS price_source",
                [USAGE_FORMAT],
            )
            (steps,) = con.execute("SELECT count(*) FROM dst.usage_steps").fetchone()
        finally:
            con.execute("DETACH dst")
        tmp.chmod(0o600)
        tmp.replace(dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            tmp.with_name(tmp.name + ".wal").unlink()
    return steps


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[
            0
        ]
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def open_usage(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a materialized usage file (UTC session zone: hour floors)."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


# --- the reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What to report: the grouping, the zone periods are cut in, and the filters."""

    report: str = "daily"
    timezone: str = "UTC"
    since: date | None = None
    until: date | None = None
    providers: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    breakdown: bool = False
    #: the time the active block is judged against (injected by tests; default: the clock)
    now: datetime | None = None


@dataclass
class Usage:
    """A report: its rows (with per-model `models_breakdown` when asked), totals, and what was
    left out."""

    query: Query
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    undated_steps: int = 0
    price_source: str | None = None
    active_block: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


#: The measures of every row, in column order.
_MEASURES = """
    count(*) AS steps,
    coalesce(sum(prefix), 0)::BIGINT AS prefix,
    coalesce(sum(append), 0)::BIGINT AS append,
    coalesce(sum(output), 0)::BIGINT AS output,
    coalesce(sum(reasoning), 0)::BIGINT AS reasoning,
    coalesce(sum(write_5m), 0)::BIGINT AS write_5m,
    coalesce(sum(write_1h), 0)::BIGINT AS write_1h,
    coalesce(sum(prefix + append + output), 0)::BIGINT AS tokens,
    sum(cost) FILTER (WHERE priced) AS cost,
    count(*) FILTER (WHERE priced) / count(*) AS priced_share,
    list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models"""


@dataclass(frozen=True)
class _Key:
    """A report's leading columns: its select list, GROUP BY, ORDER BY, and the names that
    identify a row (to hang the per-model rows under it)."""

    select: str
    group: str
    order: str
    names: tuple[str, ...]


_KEYS = {
    "period": _Key("period", "period", "period", ("period",)),
    "session": _Key(
        "root_session_id AS session_id, min(provider) AS provider, "
        "arg_min(project, ts) AS project, min(ts) AS first_ts, max(ts) AS last_ts, "
        "count(DISTINCT session_id) FILTER (WHERE session_id <> root_session_id) AS subagents, "
        "count(*) FILTER (WHERE session_id <> root_session_id) AS subagent_steps, "
        "sum(cost) FILTER (WHERE priced AND session_id <> root_session_id) AS subagent_cost",
        "root_session_id",
        "last_ts NULLS FIRST, session_id",
        ("session_id",),
    ),
    "project": _Key(
        "project, count(DISTINCT root_session_id) AS sessions, min(ts) AS first_ts, "
        "max(ts) AS last_ts",
        "project",
        "cost DESC NULLS LAST, project NULLS LAST",
        ("project",),
    ),
    "blocks": _Key(
        '"user", provider, block_start, min(ts) AS first_ts, max(ts) AS last_ts',
        '"user", provider, block_start',
        'block_start, provider, "user"',
        ("user", "provider", "block_start"),
    ),
}


def report(con: duckdb.DuckDBPyConnection, query: Query) -> Usage:
    """The usage report `query` asks for, over `usage_steps` of `con`."""
    if query.report not in REPORTS:
        raise ValueError(f"unknown report {query.report!r}; one of {', '.join(REPORTS)}")
    where, params = _filters(query)
    dated_only = query.report in PERIOD_UNITS or query.report == "blocks"
    if dated_only:
        undated = con.execute(
            f"SELECT count(*) FROM usage_steps WHERE ts IS NULL AND {where}", params
        ).fetchone()[0]
        where = f"ts IS NOT NULL AND {where}"
    else:
        undated = 0
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE usage_sel AS SELECT * FROM usage_steps WHERE {where}",
        params,
    )
    if query.report == "blocks":
        _assign_blocks(con)
        source = "usage_blocked"
        key = "blocks"
    elif query.report in PERIOD_UNITS:
        unit = PERIOD_UNITS[query.report]
        source = (
            f"(SELECT *, date_trunc('{unit}', timezone({_lit(query.timezone)}, ts))::DATE "
            "AS period FROM usage_sel)"
        )
        key = "period"
    else:
        source = "usage_sel"
        key = query.report
    rows = _grouped(con, source, key)
    if query.breakdown:
        _attach_breakdown(con, source, key, rows)
    totals = _grouped(con, source, None)[0]
    usage = Usage(query, rows, totals, undated_steps=undated, price_source=_price_source(con))
    if query.report == "blocks":
        _finish_blocks(usage, query.now or datetime.now().astimezone())
    return usage


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _filters(query: Query) -> tuple[str, list[Any]]:
    """The WHERE clause of the selected steps (dates are local dates in the query's zone)."""
    clauses, params = ["TRUE"], []
    local_day = f"timezone({_lit(query.timezone)}, ts)::DATE"
    if query.since is not None:
        clauses.append(f"{local_day} >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append(f"{local_day} <= ?")
        params.append(query.until)
    if query.providers:
        clauses.append(f"provider IN ({', '.join('?' * len(query.providers))})")
        params.extend(query.providers)
    if query.projects:
        clauses.append(f"project IN ({', '.join('?' * len(query.projects))})")
        params.extend(query.projects)
    return " AND ".join(clauses), params


def _grouped(
    con: duckdb.DuckDBPyConnection, source: str, key: str | None, extra: str = ""
) -> list[dict[str, Any]]:
    """Rows of the measures over `source`, grouped by the report key (None: one totals row)."""
    if key is None:
        sql = f"SELECT {_MEASURES} FROM {source}"
    else:
        k = _KEYS[key]
        sql = (
            f"SELECT {k.select}, {extra} {_MEASURES} FROM {source} "
            f"GROUP BY {k.group}{', model' if extra else ''} ORDER BY {k.order}"
            f"{', model NULLS LAST' if extra else ''}"
        )
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, rec, strict=True)) for rec in cur.fetchall()]
    if key is None and rows and rows[0]["steps"] == 0:
        rows[0]["priced_share"] = None
    return rows


def _attach_breakdown(
    con: duckdb.DuckDBPyConnection, source: str, key: str, rows: list[dict[str, Any]]
) -> None:
    """Per-model rows under each report row (`models_breakdown`, same measures)."""
    names = _KEYS[key].names
    parts = _grouped(con, source, key, extra="model,")
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for part in parts:
        by_key.setdefault(tuple(part[n] for n in names), []).append(
            {k: part[k] for k in ("model", *_MEASURE_NAMES)}
        )
    for row in rows:
        row["models_breakdown"] = by_key.get(tuple(row[n] for n in names), [])


_MEASURE_NAMES = (
    "steps",
    "prefix",
    "append",
    "output",
    "reasoning",
    "write_5m",
    "write_1h",
    "tokens",
    "cost",
    "priced_share",
)


def _price_source(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute("SELECT price_source FROM usage_meta").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


# --- 5-hour blocks ----------------------------------------------------------------------------


def block_starts(hours: list[datetime]) -> list[datetime]:
    """Block starts over the sorted, distinct UTC hours that have steps (one user and provider):
    a block starts at the first hour and covers 5 hours; the first hour at or after its end
    starts the next one. Exact on hours: a step is at or after an hour boundary iff its hour is."""
    starts: list[datetime] = []
    for hour in hours:
        if not starts or hour >= starts[-1] + timedelta(hours=BLOCK_HOURS):
            starts.append(hour)
    return starts


def _assign_blocks(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP `usage_blocked`: the selected steps with the start of their block."""
    hours = con.execute(
        "SELECT DISTINCT coalesce(\"user\", ''), provider, date_trunc('hour', ts) "
        "FROM usage_sel ORDER BY ALL"
    ).fetchall()
    by_stream: dict[tuple[str, str], list[datetime]] = {}
    for user, provider, hour in hours:
        by_stream.setdefault((user, provider), []).append(hour)
    blocks = [
        (user, provider, start)
        for (user, provider), stream in by_stream.items()
        for start in block_starts(stream)
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE usage_block_starts "
        "(u VARCHAR, provider VARCHAR, block_start TIMESTAMPTZ)"
    )
    if blocks:
        con.executemany("INSERT INTO usage_block_starts VALUES (?, ?, ?)", blocks)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE usage_blocked AS "
        "SELECT s.*, b.block_start FROM usage_sel s ASOF JOIN usage_block_starts b "
        "ON coalesce(s.\"user\", '') = b.u AND s.provider = b.provider AND s.ts >= b.block_start"
    )


def _finish_blocks(usage: Usage, now: datetime) -> None:
    """Block ends, the active block, its burn rate and projection."""
    span = timedelta(hours=BLOCK_HOURS)
    for row in usage.rows:
        start = row["block_start"]
        row["block_end"] = start + span
        row["active"] = start <= now < start + span
        if row["active"]:
            row.update(_burn(row, now))
    active = [r for r in usage.rows if r["active"]]
    usage.active_block = active[-1] if active else None


def _burn(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Burn rate over the block's first to last step; projection to the block's end."""
    minutes = (row["last_ts"] - row["first_ts"]).total_seconds() / 60
    remaining = max(0.0, (row["block_end"] - now).total_seconds() / 60)
    if minutes <= 0:
        return {
            "tokens_per_minute": None,
            "cost_per_hour": None,
            "remaining_minutes": remaining,
            "projected_tokens": None,
            "projected_cost": None,
        }
    per_min = row["tokens"] / minutes
    cost_per_min = row["cost"] / minutes if row["cost"] is not None else None
    return {
        "tokens_per_minute": per_min,
        "cost_per_hour": cost_per_min * 60 if cost_per_min is not None else None,
        "remaining_minutes": remaining,
        "projected_tokens": row["tokens"] + per_min * remaining,
        "projected_cost": row["cost"] + cost_per_min * remaining
        if cost_per_min is not None
        else None,
    }
