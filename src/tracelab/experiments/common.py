"""Small helpers experiments share: the providers present, shares, curve tables.

The query helpers (rows, records, scalar, dist_sql, quantile_curve …) live in `metrics.sql`
and are re-exported here, so experiments import everything from one place.
"""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Table
from tracelab.metrics.sql import (
    CURVE_LEVELS,
    DIST_COLUMNS,
    QUANTILES,
    dist_columns,
    dist_sql,
    quantile_curve,
    records,
    rows,
    scalar,
)
from tracelab.schema import PROVIDERS

__all__ = [
    "CURVE_LEVELS",
    "DIST_COLUMNS",
    "QUANTILES",
    "curve_table",
    "dist_columns",
    "dist_sql",
    "providers",
    "quantile_curve",
    "records",
    "rows",
    "scalar",
    "share",
]


def providers(con: duckdb.DuckDBPyConnection, table: str = "step_facts") -> list[str]:
    """Providers present in the trace (the steps of fact `table`): claude, codex first (the
    study's order), then others."""
    present = {p for (p,) in rows(con, f"SELECT DISTINCT provider FROM {table}") if p}
    known = [p for p in PROVIDERS if p in present]
    return known + sorted(present - set(known))


def share(part: float | None, whole: float | None) -> float | None:
    """part / whole, or None when the whole is 0 or missing."""
    if part is None or not whole:
        return None
    return part / whole


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
