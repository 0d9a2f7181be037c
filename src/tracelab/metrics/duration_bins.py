"""Duration CDFs by count and by total time (amendments §10; Table 7's individual block, §4.4,
§6.2, Fig. 8's narrative) — the reference's fine log bins.

Three value sets, each the one definition used everywhere else (`metrics.session`):
generation spans (s, `step_facts.gen_ms` > 0), per-call effective tool latencies (ms,
`tool_facts` > 0) and human waits (s, `human_waits` > 0: a `user_message`'s gap from the
session's previous event).

**Fine edges** per metric over all providers' values: `lo = floor(log10 min)`,
`hi = ceil(log10 max)` (+1 if equal), `logspace(lo, hi, max(16, int(64 (hi − lo))) + 1)`; the
edges strictly inside (min, max) are kept, the landmarks inside are added, and min and max close
the range. The total-time CSVs of tool latency and human wait add a 300 s edge. Bins are
half-open `[lo, hi)`, the last closed. Values are binned in DuckDB (ASOF join on the edges);
Python only builds the few edges and cumulates the per-bin sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from tracelab.metrics.session import POSITIVE_GENERATION, POSITIVE_TOOL_LATENCIES, POSITIVE_WAITS
from tracelab.metrics.sql import dist_sql, records
from tracelab.metrics.steps import prepare

LANDMARKS_MS = (10.0, 100.0, 1e3, 1e4, 6e4, 6e5, 3.6e6)
LANDMARKS_S = (0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604800.0)
FIVE_MIN_S = 300.0
SUMMARY_QUANTILES = (0.25, 0.5, 0.9, 0.95, 0.99)
ALL = "all"


@dataclass(frozen=True)
class Metric:
    """One value set: its rows (`from_sql`), value expression, unit and bin landmarks."""

    name: str
    label: str
    from_sql: str
    value: str
    unit: str  # 's' or 'ms'
    landmarks: tuple[float, ...]
    five_min_edge: bool  # the total-time CSV adds a 300 s edge

    @property
    def plural(self) -> str:
        return self.label.replace("latency", "latencie") + "s"

    @property
    def per_hour(self) -> float:
        """Units in one hour."""
        return 3600.0 if self.unit == "s" else 3_600_000.0

    @property
    def five_min(self) -> float:
        return FIVE_MIN_S if self.unit == "s" else FIVE_MIN_S * 1000.0


METRICS = (
    Metric(
        "generation",
        "generation span",
        POSITIVE_GENERATION,
        "gen_ms / 1000.0",
        "s",
        LANDMARKS_S,
        False,
    ),
    Metric(
        "tool_latency",
        "tool latency",
        POSITIVE_TOOL_LATENCIES,
        "effective_latency_ms",
        "ms",
        LANDMARKS_MS,
        True,
    ),
    Metric("human_wait", "human wait", POSITIVE_WAITS, "wait_ms / 1000.0", "s", LANDMARKS_S, True),
)


def fine_edges(
    vmin: float, vmax: float, landmarks: tuple[float, ...], extra: tuple[float, ...] = ()
) -> list[float]:
    """The reference's fine log edges for values in [vmin, vmax] (see module), plus `extra`
    edges strictly inside the range; a single value gives one closed bin [v, v]."""
    lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
    if hi == lo:
        hi += 1
    grid = np.logspace(lo, hi, max(16, int(64 * (hi - lo))) + 1)
    inside = [float(e) for e in grid if vmin < e < vmax]
    marks = [m for m in (*landmarks, *extra) if vmin < m < vmax]
    edges = sorted({vmin, vmax, *inside, *marks})
    return edges if len(edges) > 1 else [vmin, vmax]


def _values(metric: Metric) -> str:
    return f"SELECT provider, {metric.value} AS v {metric.from_sql}"


def value_range(con: duckdb.DuckDBPyConnection, metric: Metric) -> tuple[float, float] | None:
    """(min, max) of the metric over all providers; None when it has no value."""
    prepare(con)
    vmin, vmax = con.execute(f"SELECT min(v), max(v) FROM ({_values(metric)})").fetchone()
    return None if vmin is None else (float(vmin), float(vmax))


def histogram(
    con: duckdb.DuckDBPyConnection, metric: Metric, edges: list[float]
) -> list[dict[str, Any]]:
    """Per (provider, bin): lo, hi, landmark (hi is a landmark), count, share of the provider's
    values, cumulative count/share, time (metric unit), hours, time share and cumulatives."""
    prepare(con)
    lows = edges[:-1]
    data = con.execute(
        f"""
        SELECT v.provider, b.lo, count(*) AS n, sum(v.v) AS total
        FROM ({_values(metric)}) v ASOF JOIN (SELECT unnest(?::DOUBLE[]) AS lo) b ON v.v >= b.lo
        GROUP BY ALL ORDER BY ALL
        """,
        [lows],
    ).fetchall()
    index = {lo: i for i, lo in enumerate(lows)}
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for provider, lo, n, total in data:
        counts, totals = groups.setdefault(
            provider, (np.zeros(len(lows), dtype=np.int64), np.zeros(len(lows)))
        )
        counts[index[lo]] = n
        totals[index[lo]] = total
    marks = set(metric.landmarks)
    out: list[dict[str, Any]] = []
    for provider in sorted(groups):
        counts, totals = groups[provider]
        cum_n, cum_t = np.cumsum(counts), np.cumsum(totals)
        n_all, t_all = int(cum_n[-1]), float(cum_t[-1])
        for i, lo in enumerate(lows):
            out.append(
                {
                    "provider": provider,
                    "bin_lo": float(lo),
                    "bin_hi": edges[i + 1],
                    "landmark": edges[i + 1] in marks,
                    "count": int(counts[i]),
                    "share": float(counts[i] / n_all),
                    "cum_count": int(cum_n[i]),
                    "cum_share": float(cum_n[i] / n_all),
                    "time": float(totals[i]),
                    "hours": float(totals[i]) / metric.per_hour,
                    "time_share": float(totals[i] / t_all) if t_all else None,
                    "cum_hours": float(cum_t[i]) / metric.per_hour,
                    "cum_time_share": float(cum_t[i] / t_all) if t_all else None,
                }
            )
    return out


def summary(con: duckdb.DuckDBPyConnection, metric: Metric) -> list[dict[str, Any]]:
    """Per provider and 'all' (last): count, mean, p25/p50/p90/p95/p99 (linear), max, total
    and the hours of values ≤ 5 min."""
    prepare(con)
    return records(
        con,
        f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN '{ALL}' ELSE provider END AS provider,
               count(v) AS n, {dist_sql("v", SUMMARY_QUANTILES)}, max(v) AS max,
               sum(v) / {metric.per_hour} AS hours,
               coalesce(sum(v) FILTER (WHERE v <= {metric.five_min}), 0) / {metric.per_hour}
                   AS hours_le_5min
        FROM ({_values(metric)}) GROUP BY ROLLUP (provider)
        ORDER BY grouping(provider), provider
        """,
    )
