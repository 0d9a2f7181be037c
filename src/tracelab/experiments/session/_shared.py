"""What the block tables of Tables 2, 5 and 7 share: the tail quantiles, the two-table layout
(all providers pooled, then per provider) and the lookup of a block's rows.
"""

from __future__ import annotations

from typing import Any

from tracelab.experiments.base import Table
from tracelab.experiments.common import dist_columns

#: Table 5 and Table 7 show avg, p50, p90, p99 (no p25).
TAIL_QUANTILES = (0.5, 0.9, 0.99)


def _block_tables(
    dists: list[dict[str, Any]],
    name: str,
    title: str,
    kind: str,
    quantiles: tuple[float, ...],
    share_column: str | None = None,
) -> list[Table]:
    """The distributions as two tables: all providers pooled, and one row block per provider."""
    stats = dist_columns(quantiles)
    extra = [share_column] if share_column else []
    kinds = {c: kind for c in stats} | ({share_column: "pct"} if share_column else {})

    def body(r: dict[str, Any]) -> list[Any]:
        return [r["block"], r["metric"], *(r[c] for c in stats), *([r["share"]] if extra else [])]

    pooled = Table(
        name=name,
        title=title,
        columns=["unit", "metric", *stats, *extra],
        rows=[body(r) for r in dists if r["grp"] == "all"],
        kinds=kinds,
        latex=True,
    )
    per_provider = Table(
        name=f"{name}_by_provider",
        title=f"{title}, per provider",
        columns=["provider", "unit", "metric", *stats, *extra],
        rows=[[r["grp"], *body(r)] for r in dists if r["grp"] != "all"],
        kinds=kinds,
    )
    return [pooled, per_provider]


def _lookup(dists: list[dict[str, Any]], grp: str = "all") -> dict[tuple[str, str], dict]:
    return {(r["block"], r["metric"]): r for r in dists if r["grp"] == grp}
