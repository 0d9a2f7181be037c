"""Prefix-cache metrics (study §7): hit rates, fresh tokens, gaps, the eviction sweep, Table 13.

Every metric is one DuckDB query over `step_facts` (see `metrics.steps`), defined here once:

- **Prefix hit rate** of a set of steps: Σ prefix / Σ (prefix + append) — `overview.HIT_RATE_SQL`
  (the same expression as Table 1 and the summary). A step's own **hit ratio** is
  prefix / (prefix + append) (steps with no input have none).
- **Fresh tokens / prefill amplification** (Table 12, amendments §14.3; `net_fresh_steps`): a
  step S qualifies if its first timing event is a user_message or tool_result and it has a
  predecessor P — the previous step of its session in **file order** (`round_pk`). Its fresh
  tokens are `max(0, C_S − C_P) − O_P`, **not clipped** per step (a step can count negative);
  append and fresh are summed over the same qualifying steps: amplification = Σ append / Σ
  fresh. The step kind (user / tool) is that first event.
- **Eviction sweep** (Fig. 12, amendments §14.3; `eviction_steps`): steps of a session ordered by
  (round_index, first activity, file order); fresh = `max(0, C − C_P) − O_P` **clipped** to
  [0, append]. A step is *covered* if its first timing event is a user_message (gap = its first
  event time − P's last activity, the latest event or tool emitted/result time; must be ≥ 0) or
  a tool_result (gap = the longest wall duration `result_at − emitted_at` ≥ 0 of the calls, from
  earlier steps, that its leading tool_result events answer — not the internal or effective
  latency), has C > 0, a predecessor and a gap. hit(τ), prefill(τ), amplification(τ) sum over
  covered steps; R(τ) = Σ_covered min(g, τ) / G with G = Σ positive generation spans of **all**
  steps of the scope (provider or total). The *effective eviction time* is the grid τ whose
  hit(τ) is closest to the covered steps' observed hit rate Σ prefix / Σ C.
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
from tracelab.metrics.steps import ms_between, prepare

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

#: Fig. 12 grid (amendments §14.3): `SWEEP_POINTS` log-spaced from 1 s to `SWEEP_MAX_MS` (4 h),
#: plus the marks (eviction times the text quotes).
SWEEP_MAX_MS = 4 * HOUR_MS
SWEEP_MARKS_MS = (
    MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 2 * HOUR_MS, SWEEP_MAX_MS,
)  # fmt: skip
SWEEP_POINTS = 260


_STEPS_WITH_KIND = f"(SELECT *, {STEP_KIND_SQL} AS kind FROM step_facts)"


def _by_kind_sql(aggregates: str, where: str = "TRUE", source: str = _STEPS_WITH_KIND) -> str:
    """Rows per (provider | 'total') × (all | user | tool) of `aggregates` over `source` (a
    relation with `provider` and `kind` columns; default step_facts by first input event)."""
    return f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
               CASE WHEN grouping(kind) = 1 THEN 'all' ELSE kind END AS kind,
               {aggregates}
        FROM (SELECT * FROM {source} WHERE {where})
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


#: The kind of a step by its first timing event (Table 12 and the eviction sweep, §14.3).
FIRST_EVENT_KIND_SQL = (
    "CASE first_event_type WHEN 'user_message' THEN 'user' WHEN 'tool_result' THEN 'tool' END"
)

#: Table 12's steps (amendments §14.3): every step with its predecessor's context and output,
#: its kind by first timing event, and `fresh` = max(0, C_S − C_P) − O_P unclipped (null unless
#: the step qualifies: a predecessor and a user_message/tool_result first event).
#: In a session whose every step has `{in_order}` true, the predecessors in the wanted order are
#: the session-order ones (`step_facts.prev_*`, no window needed); the steps of the other
#: sessions (a few, found without grouping every step by session) go through a window ordered
#: by `{order}`.
NET_FRESH_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {{table}} AS
WITH irregular AS (SELECT DISTINCT session_id FROM step_facts WHERE NOT ({{in_order}})),
steps AS (
    SELECT s.*, NOT EXISTS (
        SELECT 1 FROM irregular i WHERE i.session_id IS NOT DISTINCT FROM s.session_id
    ) AS in_order
    FROM step_facts s
),
linked AS (
    SELECT round_pk, provider, model, append, context, first_event_type, prev_context,
           prev_output, prev_pk IS NOT NULL AS has_prev
    FROM steps WHERE in_order
    UNION ALL
    SELECT round_pk, provider, model, append, context, first_event_type,
           lag(context) OVER w, lag(output) OVER w, lag(round_pk) OVER w IS NOT NULL
    FROM steps WHERE NOT in_order
    WINDOW w AS (PARTITION BY session_id ORDER BY {{order}})
)
SELECT round_pk, provider, model, append, {FIRST_EVENT_KIND_SQL} AS kind, has_prev,
       CASE WHEN has_prev AND first_event_type IN ('user_message', 'tool_result') THEN
           greatest(context - prev_context, 0) - prev_output
       END AS fresh
FROM linked
"""
#: Predecessor orders of Table 12's fresh tokens (table, ORDER BY, a step condition: a session
#: whose every step meets it is in that order already): the reference's **file order**
#: (round_pk; the same as the session order when round_pk grows along it), and the session
#: order itself (seq) for synth calibration — a profile must not depend on the order of a
#: trace's rows; the two agree on any trace whose sessions are written in round order, as
#: collected traces are.
FRESH_ORDERS = {
    "file": ("net_fresh_steps", "round_pk", "coalesce(prev_pk < round_pk, true)"),
    "session": ("net_fresh_steps_by_seq", "seq", "true"),
}


def prepare_fresh(con: duckdb.DuckDBPyConnection, order: str = "file") -> str:
    """Materialize Table 12's steps for a predecessor `order` ('file' or 'session') once per
    connection; returns the table's name."""
    prepare(con)
    table, order_by, in_order = FRESH_ORDERS[order]
    con.execute(NET_FRESH_SQL.format(table=table, order=order_by, in_order=in_order))
    return table


def fresh_totals(con: duckdb.DuckDBPyConnection, order: str = "file") -> list[dict[str, Any]]:
    """Table 12: qualifying steps, Σ append, Σ fresh (unclipped), fresh share and amplification
    per provider × kind (kind = the step's first timing event); predecessors in file order
    (`order="session"`: in session order, see `FRESH_ORDERS`)."""
    table = prepare_fresh(con, order)
    return records(
        con,
        _by_kind_sql(
            "count(*) AS steps, coalesce(sum(append), 0) AS append, "
            "coalesce(sum(fresh), 0) AS fresh, "
            "sum(fresh) / nullif(sum(append), 0) AS fresh_share, "
            f"{AMPLIFICATION_SQL} AS amplification",
            where="fresh IS NOT NULL",
            source=table,
        ),
    )


def session_first_totals(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """What Table 12 leaves out, per provider: steps and append of session-first steps (no
    predecessor), and of the other steps whose first timing event is no user_message or
    tool_result."""
    prepare_fresh(con)
    return records(
        con,
        """
        SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
               'all' AS kind,
               count(*) FILTER (WHERE NOT has_prev) AS steps,
               coalesce(sum(append) FILTER (WHERE NOT has_prev), 0) AS append,
               count(*) FILTER (WHERE has_prev AND kind IS NULL) AS other_steps,
               coalesce(sum(append) FILTER (WHERE has_prev AND kind IS NULL), 0) AS other_append
        FROM net_fresh_steps WHERE fresh IS NULL
        GROUP BY ROLLUP (provider)
        """,
    )


def _group_scalar(
    con: duckdb.DuckDBPyConnection,
    expr: str,
    where: str,
    group: str | None,
    by: str,
    source: str = "step_facts",
) -> Any:
    prepare(con)
    return scalar(
        con,
        f"SELECT {expr} FROM {source} WHERE {where} AND ({group_key(by)} = ? OR ? IS NULL)",
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
    """Table 12's Σ append / Σ fresh over its qualifying steps (of one provider, or of one model
    with `by="model"`); None when Σ fresh = 0."""
    prepare_fresh(con)
    return _group_scalar(
        con, AMPLIFICATION_SQL, "fresh IS NOT NULL", provider, by, "net_fresh_steps"
    )


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
    """τ values: `points` log-spaced from 1 s to 4 h, plus the marks (ms, sorted, unique)."""
    lo, hi = math.log10(SECOND_MS), math.log10(SWEEP_MAX_MS)
    grid = {round(10 ** (lo + (hi - lo) * i / (points - 1)), 3) for i in range(points)}
    return sorted(grid | set(SWEEP_MARKS_MS))


#: The eviction sweep's steps (amendments §14.3), one row per step: its order in the session
#: (round_index, first activity, file order), fresh clipped to [0, append] against that
#: predecessor, the idle gap by its first timing event, and whether it is covered.
#: In a session whose round_index values are distinct (at most one null), that order is the
#: session order of `step_facts` (seq: round_index, then file order), so a step's predecessor is
#: its `prev_pk` and no window is needed; ties sit next to each other in that order, so a
#: session has one iff a step's predecessor has its round_index. Only the steps of such
#: sessions go through the window. The order (`links`: position and predecessor) is three
#: integers per step; the predecessor's columns and last activity are joined by key.
EVICTION_STEPS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS eviction_steps AS
WITH tc AS (
    SELECT round_pk, min(least(emitted_at, result_at)) AS first_tool,
           max(greatest(emitted_at, result_at)) AS last_tool
    FROM tool_calls GROUP BY round_pk
),
tied AS (
    SELECT DISTINCT s.session_id FROM step_facts s JOIN step_facts p ON p.round_pk = s.prev_pk
    WHERE p.round_index IS NOT DISTINCT FROM s.round_index
),
links AS (
    SELECT s.round_pk, s.seq AS ord, s.prev_pk AS pred FROM step_facts s
    WHERE NOT EXISTS (SELECT 1 FROM tied t WHERE t.session_id IS NOT DISTINCT FROM s.session_id)
    UNION ALL
    SELECT s.round_pk, row_number() OVER w, lag(s.round_pk) OVER w
    FROM step_facts s LEFT JOIN tc USING (round_pk)
    WHERE EXISTS (SELECT 1 FROM tied t WHERE t.session_id IS NOT DISTINCT FROM s.session_id)
    WINDOW w AS (PARTITION BY s.session_id
                 ORDER BY s.round_index, least(s.first_ts, tc.first_tool) NULLS LAST, s.round_pk)
),
tool_gap AS (
    SELECT rc.round_pk, max(rc.wall_ms) AS gap_ms
    FROM result_calls rc
    JOIN step_facts f ON f.round_pk = rc.round_pk
    JOIN step_events ev ON ev.round_pk = rc.round_pk
    JOIN links s ON s.round_pk = rc.round_pk
    JOIN links c ON c.round_pk = rc.call_round_pk
    WHERE f.first_event_type = 'tool_result' AND c.ord < s.ord
      AND (ev.lead_end IS NULL OR rc.event_pos < ev.lead_end)
    GROUP BY rc.round_pk
),
gaps AS (
    SELECT o.round_pk, o.provider, o.context, o.prefix, o.append, o.gen_ms,
           {FIRST_EVENT_KIND_SQL.replace("first_event_type", "o.first_event_type")} AS kind,
           l.pred IS NOT NULL AS has_prev,
           CASE WHEN l.pred IS NOT NULL THEN
               least(greatest(greatest(o.context - p.context, 0) - p.output, 0), o.append)
           END AS fresh,
           CASE WHEN o.first_event_type = 'user_message'
                     AND o.first_ts >= greatest(pev.max_ts, ptc.last_tool)
                THEN {ms_between("greatest(pev.max_ts, ptc.last_tool)", "o.first_ts")}
                WHEN o.first_event_type = 'tool_result' THEN tg.gap_ms END AS gap_ms
    FROM links l JOIN step_facts o USING (round_pk)
    LEFT JOIN step_facts p ON p.round_pk = l.pred
    LEFT JOIN step_events pev ON pev.round_pk = l.pred
    LEFT JOIN tc ptc ON ptc.round_pk = l.pred
    LEFT JOIN tool_gap tg ON tg.round_pk = l.round_pk
)
SELECT provider, round_pk, kind, has_prev, context, prefix, append, fresh, gap_ms,
       CASE WHEN gen_ms > 0 THEN gen_ms ELSE 0 END AS gen,
       has_prev AND kind IS NOT NULL AND context > 0 AND gap_ms IS NOT NULL AS covered
FROM gaps
"""


def prepare_eviction(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `eviction_steps` once per connection (after the base fact tables)."""
    prepare(con)
    con.execute(EVICTION_STEPS_SQL)


SWEEP_SQL = """
WITH pop AS (
    SELECT provider, gap_ms AS gap, context, prefix, fresh
    FROM eviction_steps WHERE covered
),
grid AS (SELECT unnest(?::DOUBLE[]) AS tau),
gen AS (
    SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS grp,
           sum(gen) AS gen_sum
    FROM eviction_steps GROUP BY GROUPING SETS ((provider), ())
),
totals AS (
    SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS grp,
           count(*) AS n, sum(context) AS c_sum, sum(fresh) AS fresh_sum,
           sum(prefix) / nullif(sum(context), 0) AS observed_hit
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
    SELECT t.grp, g.tau, t.n, t.c_sum, t.fresh_sum, t.observed_hit, gen.gen_sum,
           coalesce(sum(b.n) OVER w, 0) AS hits,
           coalesce(sum(b.reusable) OVER w, 0) AS hit_tokens,
           coalesce(sum(b.gap_sum) OVER w, 0) AS gap_le
    FROM totals t CROSS JOIN grid g
    LEFT JOIN gen USING (grp)
    LEFT JOIN per_bucket b ON b.grp = t.grp AND b.bucket = g.tau
    WINDOW w AS (PARTITION BY t.grp ORDER BY g.tau ROWS UNBOUNDED PRECEDING)
)
SELECT grp AS provider, tau AS tau_ms, n AS steps, hits AS hit_steps,
       hit_tokens / nullif(c_sum, 0) AS hit_rate,
       fresh_sum + (c_sum - fresh_sum - hit_tokens) AS prefill,
       (fresh_sum + (c_sum - fresh_sum - hit_tokens)) / nullif(fresh_sum, 0) AS amplification,
       (gap_le + tau * (n - hits)) / nullif(gen_sum, 0) AS storage_ratio,
       1 / (1 + (gap_le + tau * (n - hits)) / nullif(gen_sum, 0)) AS active_ratio,
       observed_hit
FROM swept ORDER BY grp = 'total', grp, tau
"""


def eviction_sweep(
    con: duckdb.DuckDBPyConnection, taus_ms: list[float] | None = None
) -> list[dict[str, Any]]:
    """hit(τ), prefill(τ), amplification(τ), R(τ) and 1/(1+R) per provider and 'total', with the
    covered steps' observed hit rate Σ prefix / Σ C (`observed_hit`).

    One query for every τ: each covered step falls in the bucket of the smallest τ ≥ its gap
    (ASOF join; a gap equal to τ is a hit at τ), buckets are summed, and cumulative sums over
    the τ grid give the hits and the capped gaps Σ min(g, τ) = Σ_{g ≤ τ} g + τ · #{g > τ}.
    """
    prepare_eviction(con)
    taus = taus_ms if taus_ms is not None else sweep_grid_ms()
    return records(con, SWEEP_SQL, [[float(t) for t in taus]])


def effective_eviction_times(sweep: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per provider / 'total': the grid τ (ms) whose hit(τ) is closest to the observed hit rate
    (the smallest such τ on ties); None without covered steps."""
    best: dict[str, tuple[float, float] | None] = {}
    for r in sweep:
        grp = r["provider"]
        best.setdefault(grp, None)
        if r["hit_rate"] is None or r["observed_hit"] is None:
            continue
        dist = abs(r["hit_rate"] - r["observed_hit"])
        if best[grp] is None or dist < best[grp][0]:
            best[grp] = (dist, r["tau_ms"])
    return {g: (b[1] if b else None) for g, b in best.items()}


def sweep_population(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Steps in the sweep (covered) and those left out, by reason (first that applies)."""
    prepare_eviction(con)
    return records(
        con,
        """
        SELECT count(*) AS steps,
               count(*) FILTER (WHERE covered) AS swept,
               count(*) FILTER (WHERE NOT has_prev) AS session_first,
               count(*) FILTER (WHERE has_prev AND kind IS NULL) AS other_first_event,
               count(*) FILTER (WHERE has_prev AND kind IS NOT NULL AND NOT context > 0)
                   AS no_context,
               count(*) FILTER (WHERE has_prev AND kind IS NOT NULL AND context > 0
                                AND gap_ms IS NULL) AS unknown_gap,
               count(*) FILTER (WHERE gen > 0) AS with_generation_time
        FROM eviction_steps
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
