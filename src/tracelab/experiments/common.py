"""Small helpers every experiment shares: running a query, the providers present, distributions.

Percentiles are `quantile_cont` (linear interpolation) everywhere — `dist_sql` is the one place
that spells them.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Table
from tracelab.schema import PROVIDERS

QUANTILES = (0.25, 0.5, 0.9, 0.99)
DIST_COLUMNS = ["avg", "p25", "p50", "p90", "p99"]


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


def providers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Providers present in the trace: claude, codex first (the study's order), then others."""
    present = {p for (p,) in rows(con, "SELECT DISTINCT provider FROM step_facts") if p}
    known = [p for p in PROVIDERS if p in present]
    return known + sorted(present - set(known))


def dist_sql(expr: str, quantiles: tuple[float, ...] = QUANTILES) -> str:
    """SELECT-list fragment: avg(expr) and each quantile_cont(expr, q), as avg, p25, p50 …"""
    parts = [f"avg({expr}) AS avg"]
    for q in quantiles:
        parts.append(f"quantile_cont({expr}, {q}) AS p{round(q * 100):d}")
    return ", ".join(parts)


def dist_columns(quantiles: tuple[float, ...] = QUANTILES) -> list[str]:
    return ["avg", *(f"p{round(q * 100):d}" for q in quantiles)]


def share(part: float | None, whole: float | None) -> float | None:
    """part / whole, or None when the whole is 0 or missing."""
    if part is None or not whole:
        return None
    return part / whole


#: Probability levels of a quantile curve (a CDF drawn from 201 quantiles, not from every row).
CURVE_LEVELS = tuple(i / 200 for i in range(201))


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
    return {
        str(g): [(v, q) for v, q in zip(qs, levels, strict=True)] for g, qs in data if qs
    }


def curve_table(
    name: str, title: str, curves: dict[str, list[tuple[float, float]]], value_name: str
) -> Table:
    """The points of `quantile_curve` as a long table (group, value, cumulative share)."""
    body = [[g, v, q] for g, points in curves.items() for v, q in points]
    return Table(
        name=name,
        title=title,
        columns=["group", value_name, "cumulative_share"],
        rows=body,
        kinds={value_name: "float", "cumulative_share": "pct"},
    )
