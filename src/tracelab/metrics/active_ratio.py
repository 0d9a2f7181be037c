"""KV-cache active ratio as a cut-off grows (amendments §4; related to study §7.4, not Fig. 12).

Per provider, over the positive generation spans (`step_facts.gen_ms`), the positive per-call
effective tool latencies (`tool_facts`) and the positive human waits (`human_waits`) — the same
three value sets as the duration CDFs (`metrics.duration_bins`) — with G = Σ generation spans:

    active(T) = G / (G + Σ_{eff ≤ T} eff + Σ_{w ≤ T} w)

A gap longer than T contributes **nothing** (the reference's code; not `min(g, T)` as the
eviction sweep's storage ratio). Everything is summed in DuckDB: each value falls in the
bucket of the smallest grid T ≥ it (ASOF join) and cumulative sums over the grid give the
Σ_{≤ T} terms, so the cost does not grow with the grid.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from tracelab.metrics.session import POSITIVE_GENERATION, POSITIVE_TOOL_LATENCIES, POSITIVE_WAITS
from tracelab.metrics.sql import records
from tracelab.metrics.steps import prepare

#: Log-spaced points of the grid (1 s … 1 h) and the marks added to it (seconds).
GRID_POINTS = 229
GRID_MAX_S = 3600.0
GRID_MARKS_S = (60.0, 300.0, 600.0, 1800.0, 3600.0)
ALL = "all"


def grid_seconds() -> list[float]:
    """T values (s): `logspace(0, log10 3600, 229)` ∪ the marks, as the reference builds it
    (`np.unique` of the concatenation, so a log point within a rounding error of a mark stays)."""
    grid = np.logspace(0.0, np.log10(GRID_MAX_S), GRID_POINTS)
    return [float(t) for t in np.unique(np.concatenate([grid, np.array(GRID_MARKS_S)]))]


#: The three positive time sets in seconds, one row per value (kind, provider, seconds).
VALUES_SQL = f"""
SELECT 'gen' AS kind, provider, gen_ms / 1000.0 AS s {POSITIVE_GENERATION}
UNION ALL
SELECT 'tool', provider, effective_latency_ms / 1000.0 {POSITIVE_TOOL_LATENCIES}
UNION ALL
SELECT 'human', provider, wait_ms / 1000.0 {POSITIVE_WAITS}
"""

ACTIVE_RATIO_SQL = f"""
WITH vals AS (
    SELECT kind, provider AS grp, s FROM ({VALUES_SQL})
    UNION ALL
    SELECT kind, '{ALL}', s FROM ({VALUES_SQL})
),
totals AS (
    SELECT grp,
           coalesce(sum(s) FILTER (WHERE kind = 'gen'), 0) AS gen_s,
           count(*) FILTER (WHERE kind = 'gen') AS gen_n,
           count(*) FILTER (WHERE kind = 'tool') AS tool_n,
           count(*) FILTER (WHERE kind = 'human') AS human_n
    FROM vals GROUP BY grp
),
grid AS (SELECT unnest(?::DOUBLE[]) AS t),
bucketed AS (
    -- each idle value's bucket: the smallest T ≥ it (it counts from that T on); null above
    SELECT v.grp, v.kind, v.s, g.t AS bucket
    FROM (SELECT * FROM vals WHERE kind <> 'gen') v ASOF LEFT JOIN grid g ON v.s <= g.t
),
per_bucket AS (
    SELECT grp, bucket,
           sum(s) FILTER (WHERE kind = 'tool') AS tool_sum,
           sum(s) FILTER (WHERE kind = 'human') AS human_sum
    FROM bucketed WHERE bucket IS NOT NULL GROUP BY grp, bucket
),
swept AS (
    SELECT tt.*, g.t,
           coalesce(sum(b.tool_sum) OVER w, 0) AS tool_le_s,
           coalesce(sum(b.human_sum) OVER w, 0) AS human_le_s
    FROM totals tt CROSS JOIN grid g
    LEFT JOIN per_bucket b ON b.grp = tt.grp AND b.bucket = g.t
    WINDOW w AS (PARTITION BY tt.grp ORDER BY g.t ROWS UNBOUNDED PRECEDING)
)
SELECT grp AS provider, t AS t_s, gen_n, tool_n, human_n, gen_s, tool_le_s, human_le_s,
       gen_s / nullif(gen_s + tool_le_s + human_le_s, 0) AS active_ratio
FROM swept ORDER BY grp = '{ALL}', grp, t
"""


def active_ratio(
    con: duckdb.DuckDBPyConnection, grid_s: list[float] | None = None
) -> list[dict[str, Any]]:
    """Per provider and 'all', per T (s): the value counts, G (`gen_s`), the idle sums Σ_{≤T}
    of tool latencies and human waits (s) and active(T) (None when there is no time at all)."""
    prepare(con)
    grid = grid_s if grid_s is not None else grid_seconds()
    return records(con, ACTIVE_RATIO_SQL, [[float(t) for t in grid]])
