"""Query helpers the metric modules share: fetch rows/records/scalars, distributions, CDFs.

Percentiles are `quantile_cont` (linear interpolation) everywhere — `dist_sql` is the one place
that spells them; CDFs are `quantile_curve` (a fixed number of quantiles computed in DuckDB, so
their size does not grow with the trace).
"""

from __future__ import annotations

from typing import Any

import duckdb

QUANTILES = (0.25, 0.5, 0.9, 0.99)
DIST_COLUMNS = ["avg", "p25", "p50", "p90", "p99"]

#: A step, tool call or request whose model is missing is grouped under this name.
UNKNOWN_MODEL = "(unknown)"

#: The ways the per-group metrics split a trace, as the SQL of the group key of a fact-table
#: row (`step_facts`, `tool_facts`, `decode_steps` and `request_facts` all carry both columns);
#: `{t}` is an optional table alias.
GROUP_KEYS: dict[str, str] = {
    "provider": "{t}provider",
    "model": f"coalesce({{t}}model, '{UNKNOWN_MODEL}')",
}


def group_key(by: str, table: str | None = None) -> str:
    """SQL of the group key for grouping `by` ('provider' or 'model'), its columns qualified
    with `table` if given (for joins)."""
    if by not in GROUP_KEYS:
        raise ValueError(f"unknown grouping {by!r} (expected one of {', '.join(GROUP_KEYS)})")
    return GROUP_KEYS[by].format(t=f"{table}." if table else "")


def grouped_records(
    con: duckdb.DuckDBPyConnection,
    select: str,
    from_sql: str,
    by: str = "provider",
    total: str = "total",
) -> dict[str, dict[str, Any]]:
    """`SELECT <group>, <select> <from_sql>` per group (`group_key(by)`) and over all rows
    (labelled `total`), as {group: record}; one query (GROUPING SETS)."""
    key = group_key(by)
    sql = (
        f"SELECT CASE WHEN grouping({key}) = 1 THEN '{total}' ELSE {key} END AS grp, "
        f"{select} {from_sql} GROUP BY GROUPING SETS (({key}), ())"
    )
    return {r.pop("grp"): r for r in records(con, sql)}


#: Probability levels of a quantile curve (a CDF drawn from 201 quantiles, not from every row).
CURVE_LEVELS = tuple(i / 200 for i in range(201))


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def records(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def dist_sql(expr: str, quantiles: tuple[float, ...] = QUANTILES, exact: bool = False) -> str:
    """SELECT-list fragment: avg(expr) and each quantile_cont(expr, q), as avg, p25, p50 …

    The quantiles are one list-valued `quantile_cont(expr, [q, …])`, indexed per column: DuckDB
    computes an aggregate spelled the same way once, so the values are gathered and ordered
    once per group instead of once per quantile (same values, same types as the scalar form).
    `exact`: the mean of floating-point values sums them in sorted order, so it depends only
    on the values, never on the rows' order (to the last bit; costs a sort).
    """
    levels = "[" + ", ".join(repr(q) for q in quantiles) + "]"
    parts = [f"avg({expr} ORDER BY {expr}) AS avg" if exact else f"avg({expr}) AS avg"]
    for i, q in enumerate(quantiles, start=1):
        parts.append(f"quantile_cont({expr}, {levels})[{i}] AS p{round(q * 100):d}")
    return ", ".join(parts)


def dist_columns(quantiles: tuple[float, ...] = QUANTILES) -> list[str]:
    return ["avg", *(f"p{round(q * 100):d}" for q in quantiles)]


def quantile_curve(
    con: duckdb.DuckDBPyConnection,
    from_sql: str,
    value: str,
    group: str | None = None,
    levels: tuple[float, ...] = CURVE_LEVELS,
) -> dict[str, list[tuple[float, float]]]:
    """Empirical CDF as (value, cumulative share) points per group, computed in SQL.

    `from_sql` is a FROM/WHERE clause (e.g. "FROM tool_facts WHERE effective_latency_ms > 0");
    the curve is `quantile_cont(value, levels)`, so its size is fixed whatever the trace size.
    Without `group`, the single curve is keyed "all".
    """
    key = group if group is not None else "'all'"
    level_list = "[" + ", ".join(repr(q) for q in levels) + "]"
    data = rows(
        con,
        f"SELECT {key} AS g, quantile_cont({value}, {level_list}) AS qs {from_sql} "
        f"GROUP BY ALL ORDER BY g",
    )
    return {str(g): [(v, q) for v, q in zip(qs, levels, strict=True)] for g, qs in data if qs}


def summary_sql(expr: str, quantiles: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)) -> str:
    """SELECT-list fragment of the reference's audit statistics of `expr` (nulls skipped):
    n, mean, min, each linear quantile as p50, p90 …, max."""
    levels = "[" + ", ".join(repr(q) for q in quantiles) + "]"
    parts = [f"count({expr}) AS n", f"avg({expr}) AS mean", f"min({expr}) AS min"]
    for i, q in enumerate(quantiles, start=1):
        parts.append(f"quantile_cont({expr}, {levels})[{i}] AS p{round(q * 100):d}")
    parts.append(f"max({expr}) AS max")
    return ", ".join(parts)


def summary_columns(quantiles: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)) -> list[str]:
    return ["n", "mean", "min", *(f"p{round(q * 100):d}" for q in quantiles), "max"]
