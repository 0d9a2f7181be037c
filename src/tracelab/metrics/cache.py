"""Prefix-cache metrics (study §7): hit rates, fresh tokens, gaps, the eviction sweep, Table 13.

Every metric is one DuckDB query over `step_facts` (see `metrics.steps`), defined here once:

- **Prefix hit rate** of a set of steps: Σ prefix / Σ (prefix + append) — `overview.HIT_RATE_SQL`
  (the same expression as Table 1 and the summary). A step's own **hit ratio** is
  prefix / (prefix + append) (steps with no input have none).
- **Fresh tokens / prefill amplification**: sums over steps that are *not* session-first (their
  `fresh` is null — nothing before them could be cached), so append and fresh cover the same
  steps: amplification = Σ append / Σ fresh.
- **Eviction sweep**: the population is the steps with a predecessor (fresh not null) *and* an
  observable idle gap; session-first steps and steps whose gap is unknown are excluded from
  every sum (`sweep_population` counts them). Negative gaps (clock skew) count as 0.
  The generation time in R(τ) is the population's positive `gen_ms`.
- **Retained-cache counterfactual** (Table 13): see `retained_cache`.

Step kinds: *user* (first input event is a user_message), *tool* (a tool_result); a step with
neither enters only the "all" rows.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb

from tracelab.metrics.overview import HIT_RATE_SQL
from tracelab.metrics.sql import group_key, records, scalar
from tracelab.metrics.steps import prepare

STEP_KIND_SQL = "CASE WHEN is_user THEN 'user' WHEN is_tool THEN 'tool' END"
STEP_HIT_RATIO_SQL = "prefix / nullif(context, 0)"
AMPLIFICATION_SQL = "sum(append) / nullif(sum(fresh), 0)"
#: Share of steps whose own hit ratio is below 50% (a mostly missed cache).
LOW_HIT_SHARE_SQL = f"avg(({STEP_HIT_RATIO_SQL} < 0.5)::DOUBLE)"
KINDS = ("all", "user", "tool")

SECOND_MS = 1000.0
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Fig. 11 gap bins: "< 1 s", then 4 log bins per decade from 1 s, the last one closed at 1 day,
#: then "≥ 1 day".
GAP_BINS_PER_DECADE = 4
#: The gap bands of the Fig. 11 summary (the paper's reading marks: 5 min, 1 h).
GAP_BANDS_MS = (5 * MINUTE_MS, HOUR_MS)

#: Fig. 12 marks (eviction times the text quotes), and the log grid size between 1 s and 1 h.
SWEEP_MARKS_MS = (MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS)
SWEEP_POINTS = 60


def _by_kind_sql(aggregates: str, where: str = "TRUE") -> str:
    """Rows per (provider | 'total') × (all | user | tool) of `aggregates` over step_facts."""
    return f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
               CASE WHEN grouping(kind) = 1 THEN 'all' ELSE kind END AS kind,
               {aggregates}
        FROM (SELECT *, {STEP_KIND_SQL} AS kind FROM step_facts WHERE {where})
        GROUP BY GROUPING SETS ((provider, kind), (provider), (kind), ())
        HAVING grouping(kind) = 1 OR kind IS NOT NULL
        ORDER BY grouping(provider), provider, grouping(kind) DESC, kind DESC
    """


def hit_rates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Table 11: steps, Σ prefix, Σ append and the token-weighted hit rate per provider × kind."""
    prepare(con)
    return records(
        con,
        _by_kind_sql(
            "count(*) AS steps, coalesce(sum(prefix), 0) AS prefix, "
            f"coalesce(sum(append), 0) AS append, {HIT_RATE_SQL} AS hit_rate"
        ),
    )


def fresh_totals(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Table 12: Σ append, Σ fresh, fresh share and amplification over non-session-first steps."""
    prepare(con)
    return records(
        con,
        _by_kind_sql(
            "count(*) AS steps, coalesce(sum(append), 0) AS append, "
            "coalesce(sum(fresh), 0) AS fresh, "
            "sum(fresh) / nullif(sum(append), 0) AS fresh_share, "
            f"{AMPLIFICATION_SQL} AS amplification",
            where="fresh IS NOT NULL",
        ),
    )


def session_first_totals(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """What Table 12 leaves out: steps and append of session-first steps, per provider × kind."""
    prepare(con)
    return records(
        con,
        _by_kind_sql(
            "count(*) AS steps, coalesce(sum(append), 0) AS append", where="fresh IS NULL"
        ),
    )


def _group_scalar(
    con: duckdb.DuckDBPyConnection, expr: str, where: str, group: str | None, by: str
) -> Any:
    prepare(con)
    return scalar(
        con,
        f"SELECT {expr} FROM step_facts WHERE {where} AND ({group_key(by)} = ? OR ? IS NULL)",
        [group, group],
    )


#: The steps of each kind (`KINDS`): every step, user-initiated, tool-initiated.
KIND_WHERE = {"all": "TRUE", "user": "is_user", "tool": "is_tool"}


def prefix_hit_rate(
    con: duckdb.DuckDBPyConnection,
    provider: str | None = None,
    *,
    by: str = "provider",
    kind: str = "all",
) -> float | None:
    """Token-weighted prefix hit rate of the steps of `kind` (all, user- or tool-initiated; of
    one provider, or of one model with `by="model"`); None without input."""
    return _group_scalar(con, HIT_RATE_SQL, KIND_WHERE[kind], provider, by)


def prefill_amplification(
    con: duckdb.DuckDBPyConnection, provider: str | None = None, *, by: str = "provider"
) -> float | None:
    """Σ append / Σ fresh over non-session-first steps (of one provider, or of one model with
    `by="model"`); None when Σ fresh = 0."""
    return _group_scalar(con, AMPLIFICATION_SQL, "fresh IS NOT NULL", provider, by)


# --- Fig. 11: hit ratio vs the preceding idle gap -------------------------------------------


def gap_bin_edges_ms() -> list[float]:
    """Edges of the regular gap bins: 10^(k/4) s from 1 s, closed by 1 day (ms)."""
    top = math.floor(math.log10(DAY_MS / SECOND_MS) * GAP_BINS_PER_DECADE)
    edges = [SECOND_MS * 10 ** (k / GAP_BINS_PER_DECADE) for k in range(top + 1)]
    return [*edges, DAY_MS]


def gap_bin_sql(gap: str = "idle_gap_ms") -> str:
    """Bin index of a gap: -1 below 1 s, k for [10^(k/4) s, 10^((k+1)/4) s), last = ≥ 1 day."""
    n_regular = len(gap_bin_edges_ms()) - 1
    return f"""CASE WHEN {gap} < {SECOND_MS} THEN -1
                    WHEN {gap} >= {DAY_MS} THEN {n_regular}
                    ELSE floor(log10({gap} / {SECOND_MS}) * {GAP_BINS_PER_DECADE})::INTEGER END"""


def gap_band_sql(gap: str = "idle_gap_ms") -> str:
    """Band index of a gap: 0 below 5 min, 1 from 5 min to 1 h, 2 from 1 h (`GAP_BANDS_MS`)."""
    lo, hi = GAP_BANDS_MS
    return f"CASE WHEN {gap} < {lo} THEN 0 WHEN {gap} < {hi} THEN 1 ELSE 2 END"


#: Steps of Fig. 11: a predecessor in the session and an observable idle gap.
GAP_POPULATION = "fresh IS NOT NULL AND idle_gap_ms IS NOT NULL"


def hit_by_gap(con: duckdb.DuckDBPyConnection, bin_sql: str) -> list[dict[str, Any]]:
    """Per provider (and 'total') × user/tool × gap bin (`bin_sql`, e.g. `gap_bin_sql()`):
    steps, their share of the provider's steps of that kind, the token-weighted hit rate, the
    median step hit ratio and the share of steps whose hit ratio is below 50%."""
    prepare(con)
    ratio = STEP_HIT_RATIO_SQL
    return records(
        con,
        f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
               kind, bin, count(*) AS steps,
               count(*) / sum(count(*)) OVER (PARTITION BY grouping(provider), provider, kind)
                   AS step_share,
               {HIT_RATE_SQL} AS hit_rate,
               quantile_cont({ratio}, 0.5) AS median_ratio,
               {LOW_HIT_SHARE_SQL} AS low_share
        FROM (
            SELECT *, {STEP_KIND_SQL} AS kind, {bin_sql} AS bin FROM step_facts
            WHERE {GAP_POPULATION} AND (is_user OR is_tool)
        )
        GROUP BY GROUPING SETS ((provider, kind, bin), (kind, bin))
        ORDER BY grouping(provider), provider, kind DESC, bin
        """,
    )


# --- Fig. 12: idealized eviction-time sweep -------------------------------------------------


def sweep_grid_ms(points: int = SWEEP_POINTS) -> list[float]:
    """τ values: `points` log-spaced from 1 s to 1 h, plus the marks (ms, sorted, unique)."""
    lo, hi = math.log10(SECOND_MS), math.log10(HOUR_MS)
    grid = {round(10 ** (lo + (hi - lo) * i / (points - 1)), 3) for i in range(points)}
    return sorted(grid | set(SWEEP_MARKS_MS))


_SWEEP_POP = f"""
    SELECT provider, greatest(idle_gap_ms, 0) AS gap, context, fresh,
           CASE WHEN gen_ms > 0 THEN gen_ms ELSE 0 END AS gen
    FROM step_facts WHERE {GAP_POPULATION}
"""

SWEEP_SQL = f"""
WITH pop AS ({_SWEEP_POP}),
grid AS (SELECT unnest(?::DOUBLE[]) AS tau),
totals AS (
    SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS grp,
           count(*) AS n, sum(context) AS c_sum, sum(fresh) AS fresh_sum, sum(gen) AS gen_sum
    FROM pop GROUP BY GROUPING SETS ((provider), ())
),
bucketed AS (
    -- each step's bucket: the smallest τ ≥ its gap (a hit from that τ on); null above the grid
    SELECT p.*, g.tau AS bucket FROM pop p ASOF LEFT JOIN grid g ON p.gap <= g.tau
),
per_bucket AS (
    SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS grp, bucket,
           count(*) AS n, sum(context - fresh) AS reusable, sum(gap) AS gap_sum
    FROM bucketed WHERE bucket IS NOT NULL
    GROUP BY GROUPING SETS ((provider, bucket), (bucket))
),
swept AS (
    SELECT t.grp, g.tau, t.n, t.c_sum, t.fresh_sum, t.gen_sum,
           coalesce(sum(b.n) OVER w, 0) AS hits,
           coalesce(sum(b.reusable) OVER w, 0) AS hit_tokens,
           coalesce(sum(b.gap_sum) OVER w, 0) AS gap_le
    FROM totals t CROSS JOIN grid g
    LEFT JOIN per_bucket b ON b.grp = t.grp AND b.bucket = g.tau
    WINDOW w AS (PARTITION BY t.grp ORDER BY g.tau ROWS UNBOUNDED PRECEDING)
)
SELECT grp AS provider, tau AS tau_ms, n AS steps, hits AS hit_steps,
       hit_tokens / nullif(c_sum, 0) AS hit_rate,
       fresh_sum + (c_sum - fresh_sum - hit_tokens) AS prefill,
       (fresh_sum + (c_sum - fresh_sum - hit_tokens)) / nullif(fresh_sum, 0) AS amplification,
       (gap_le + tau * (n - hits)) / nullif(gen_sum, 0) AS storage_ratio,
       1 / (1 + (gap_le + tau * (n - hits)) / nullif(gen_sum, 0)) AS active_ratio
FROM swept ORDER BY grp = 'total', grp, tau
"""


def eviction_sweep(
    con: duckdb.DuckDBPyConnection, taus_ms: list[float] | None = None
) -> list[dict[str, Any]]:
    """hit(τ), prefill(τ), amplification(τ), R(τ) and 1/(1+R) per provider and 'total'.

    One query for every τ: each step falls in the bucket of the smallest τ ≥ its gap (ASOF
    join; a gap equal to τ is a hit at τ), buckets are summed, and cumulative sums over the τ
    grid give the hits and the capped gaps Σ min(g, τ) = Σ_{g ≤ τ} g + τ · #{g > τ}.
    """
    prepare(con)
    taus = taus_ms if taus_ms is not None else sweep_grid_ms()
    return records(con, SWEEP_SQL, [[float(t) for t in taus]])


def sweep_population(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Steps in the sweep and those left out (session-first; unknown idle gap)."""
    prepare(con)
    return records(
        con,
        f"""
        SELECT count(*) AS steps,
               count(*) FILTER (WHERE {GAP_POPULATION}) AS swept,
               count(*) FILTER (WHERE fresh IS NULL) AS session_first,
               count(*) FILTER (WHERE fresh IS NOT NULL AND idle_gap_ms IS NULL) AS unknown_gap,
               count(*) FILTER (WHERE {GAP_POPULATION} AND idle_gap_ms < 0) AS negative_gap,
               count(*) FILTER (WHERE {GAP_POPULATION} AND NOT coalesce(gen_ms > 0, false))
                   AS no_generation_time
        FROM step_facts
        """,
    )[0]


# --- Table 13: the human-thinking cost counterfactual ---------------------------------------

RETAINED_CACHE_SQL = """
WITH cf AS (
    SELECT s.*, s.is_user AND s.prev_context IS NOT NULL AS eligible,
           CASE WHEN s.is_user AND s.prev_context IS NOT NULL
                THEN least(s.append, greatest(s.growth, 0)) ELSE s.append END AS new_append
    FROM step_facts s
),
moved AS (
    SELECT cf.*, cf.append - cf.new_append AS moved,
           least(greatest(cf.cache_write - (cf.append - cf.new_append), 0), cf.new_append)
               AS new_write
    FROM cf
),
after AS (
    SELECT m.*,
           append_cost(m.new_append, m.new_write,
                       CASE WHEN m.cache_write > 0
                            THEN m.cache_write_1h * m.new_write / m.cache_write ELSE 0 END,
                       m.p_input, m.p_write_5m, m.p_write_1h)
               + prefix_cost(m.prefix + m.moved, m.p_read)
               + output_cost(m.output, m.p_output) AS cost_after
    FROM moved m
)
SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
       count(*) FILTER (WHERE eligible) AS user_steps,
       coalesce(sum(append), 0) AS append_before,
       coalesce(sum(new_append), 0) AS append_after,
       count(*) FILTER (WHERE moved > 0) AS reduced_steps,
       count(*) FILTER (WHERE NOT priced) AS unpriced_steps,
       count(*) FILTER (WHERE eligible AND NOT priced) AS unpriced_user_steps,
       sum(cost_total) FILTER (WHERE priced) AS cost_before,
       sum(cost_after) FILTER (WHERE priced) AS cost_after,
       count(*) FILTER (WHERE moved > 0 AND priced) AS reduced_priced_steps
FROM after
GROUP BY ROLLUP (provider)
ORDER BY grouping(provider), provider
"""


def retained_cache(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Table 13 per provider and 'total': append and cost before/after retaining the cache.

    Each user-initiated step with a predecessor keeps its input C_i but its append is capped at
    the net growth max(0, C_i − C_{i−1}); the rest moves to prefix (cache-read price). Other
    steps are unchanged. The moved tokens leave the cache-write slice first (amendments §14.7):
    W' = min(max(0, W − moved), append'); the 1-hour share of W' is that of W. Tokens count
    every step; cost counts priced steps only, with the step's own rates and the cost macros
    of `metrics.costs`.
    """
    prepare(con)
    return records(con, RETAINED_CACHE_SQL)
