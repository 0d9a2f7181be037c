"""Session-level metrics: context growth and compaction, per-level timing, block distributions.

Every definition here is DuckDB SQL over the fact tables of `metrics.steps` (step_facts,
tool_facts, human_waits, request_facts), written once:

`context_changes` (TEMP table, one row per step) — the step's context growth `C_i − C_{i−1}`
  classified as `change`: 'growth' (> 0), 'zero' (= 0: neither positive nor negative), or a
  reduction by its size `reduction = C_{i−1} − C_i`: 'micro' (0 < reduction ≤ 1,024),
  'ordinary' (1,024 < reduction < 65,536), 'major' (reduction ≥ 65,536). `change` is null for
  a session's first step (no growth). 64k is read as 65,536 (binary k, like the paper's
  1,024); "major" uses the same `≥` threshold as a compaction's drop, so every compaction is a
  major reduction.
  `is_compaction`: reduction ≥ 65,536, C_{i−1} ≥ 0.75 × max over the session of C, at least one
  step follows, and none of the next (up to) 3 steps rebounds to ≥ 0.75 × C_{i−1}.

`step_timing` (TEMP table, one row per step) — positive generation time (`gen_ms` if > 0, else
  0) and tool time (Σ of the step's strictly positive effective tool latencies, else 0).

`session_timing` (TEMP table, one row per session whose elapsed time is > 0; amendments §14.1) —
  `provider` = the provider of its first step; elapsed (last − first timing-event timestamp of
  the session), human thinking (Σ positive human waits) and `human_capped_ms` (each wait capped
  at 1 h), generation and tool time (Σ step_timing), and the capped total
  `total_capped_ms` = human_capped + generation + tool (not the elapsed time shortened by what
  the cap removed).

`request_timing` (TEMP table, one row per request with a positive response time) — the
  response time and the Σ generation / tool time of the request's steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from tracelab.metrics.sql import dist_columns, dist_sql, records
from tracelab.metrics.steps import ms_between, prepare

#: Largest drop (tokens) of a micro reduction; ordinary reductions start above it.
MICRO_MAX = 1_024
#: Smallest drop (tokens) of a major reduction — and of a compaction (the spec's "64k").
MAJOR_DROP = 65_536
#: A compaction's pre-drop context is at least this share of the session's maximum context.
PEAK_SHARE = 0.75
#: A drop is no compaction if a following step rebounds to this share of the pre-drop context…
REBOUND_SHARE = 0.75
#: …within this many following steps.
REBOUND_STEPS = 3
#: Cap of one human wait in the "human capped" session timing (1 h, in ms).
HUMAN_CAP_MS = 3_600_000

#: Strictly positive human input waits (spec: only positive gaps are waits).
POSITIVE_WAITS = "FROM human_waits WHERE wait_ms > 0"
#: Requests with a strictly positive response time (amendments §14.2 drops the others).
TIMED_REQUESTS = "FROM request_facts WHERE response_ms > 0"
#: Strictly positive observable generation spans.
POSITIVE_GENERATION = "FROM step_facts WHERE gen_ms > 0"
#: Strictly positive effective tool latencies.
POSITIVE_TOOL_LATENCIES = "FROM tool_facts WHERE effective_latency_ms > 0"


def _no_rebound_sql() -> str:
    """The next `REBOUND_STEPS` contexts (those that exist) all stay below the rebound level."""
    nexts = ", ".join(f"coalesce(next{k}, 0)" for k in range(1, REBOUND_STEPS + 1))
    return f"greatest({nexts}) < {REBOUND_SHARE} * prev_context"


CONTEXT_CHANGES_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS context_changes AS
WITH w AS (
    SELECT provider, session_id, round_pk, seq, is_user, is_tool, context, prev_context, growth,
           prev_context - context AS reduction,
           max(context) OVER (PARTITION BY session_id) AS session_max,
           {", ".join(f"lead(context, {k}) OVER s AS next{k}" for k in range(1, REBOUND_STEPS + 1))}
    FROM step_facts
    WINDOW s AS (PARTITION BY session_id ORDER BY seq)
)
SELECT provider, session_id, round_pk, seq, is_user, is_tool, context, prev_context, growth,
       reduction, session_max,
       CASE WHEN growth IS NULL THEN NULL
            WHEN growth > 0 THEN 'growth'
            WHEN growth = 0 THEN 'zero'
            WHEN reduction <= {MICRO_MAX} THEN 'micro'
            WHEN reduction < {MAJOR_DROP} THEN 'ordinary'
            ELSE 'major' END AS change,
       coalesce(
           reduction >= {MAJOR_DROP}
           AND prev_context >= {PEAK_SHARE} * session_max
           AND next1 IS NOT NULL
           AND {_no_rebound_sql()},
           false
       ) AS is_compaction
FROM w
"""

STEP_TIMING_SQL = """
CREATE TEMP TABLE IF NOT EXISTS step_timing AS
SELECT s.provider, s.session_id, s.request_no, s.round_pk, s.seq,
       greatest(coalesce(s.gen_ms, 0), 0) AS gen_ms,
       coalesce(t.tool_ms, 0) AS tool_ms
FROM step_facts s
LEFT JOIN (
    SELECT round_pk, sum(effective_latency_ms) AS tool_ms
    FROM tool_facts WHERE effective_latency_ms > 0 GROUP BY round_pk
) t USING (round_pk)
"""

SESSION_TIMING_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS session_timing AS
WITH ev AS (
    SELECT session_id, {ms_between("min(timestamp)", "max(timestamp)")} AS elapsed_ms
    FROM timing_events GROUP BY session_id
),
hw AS (
    SELECT session_id, sum(wait_ms) AS human_ms,
           sum(least(wait_ms, {HUMAN_CAP_MS})) AS human_capped_ms
    {POSITIVE_WAITS} GROUP BY session_id
),
st AS (
    SELECT session_id, arg_min(provider, seq) AS provider, sum(gen_ms) AS gen_ms,
           sum(tool_ms) AS tool_ms
    FROM step_timing GROUP BY session_id
)
SELECT st.provider, st.session_id, ev.elapsed_ms,
       coalesce(hw.human_ms, 0) AS human_ms,
       coalesce(hw.human_capped_ms, 0) AS human_capped_ms,
       st.gen_ms, st.tool_ms,
       coalesce(hw.human_capped_ms, 0) + st.gen_ms + st.tool_ms AS total_capped_ms
FROM st JOIN ev USING (session_id) LEFT JOIN hw USING (session_id)
WHERE ev.elapsed_ms > 0
"""

#: Per request (`request_facts`: a session's steps grouped by `request_no` ≥ 1; the steps before
#: its first opening step belong to no request, amendments §14.2): user-initiated (`is_user`),
#: tool-initiated (`is_tool`, the spec's definition) steps and tool calls.
REQUEST_COUNTS = "FROM request_facts"

#: Per session: its requests, and its steps and tool calls counted over all of its steps (those
#: before the first request included).
SESSION_COUNTS = """
FROM (
    SELECT provider, session_id, max(request_no) AS requests,
           count(*) FILTER (WHERE is_user) AS user_steps,
           count(*) FILTER (WHERE is_tool) AS tool_steps, sum(tool_call_count) AS tool_calls
    FROM step_facts GROUP BY provider, session_id
)
"""

#: Cost per session: Σ over its priced steps (sessions without a priced step have no cost).
SESSION_COSTS = """
FROM (
    SELECT provider, session_id, sum(cost_total) AS cost_total, sum(cost_append) AS cost_append,
           sum(cost_prefix) AS cost_prefix, sum(cost_output) AS cost_output
    FROM step_facts WHERE priced GROUP BY provider, session_id
)
"""
#: Cost per request: request_facts' sums, which also cover priced steps only.
REQUEST_COSTS = "FROM request_facts WHERE cost_total IS NOT NULL"
#: Cost per priced step.
STEP_COSTS = "FROM step_facts WHERE priced"

REQUEST_TIMING_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS request_timing AS
SELECT r.provider, r.session_id, r.request_no, r.response_ms, st.gen_ms, st.tool_ms
FROM (SELECT * {TIMED_REQUESTS}) r
JOIN (
    SELECT session_id, request_no, sum(gen_ms) AS gen_ms, sum(tool_ms) AS tool_ms
    FROM step_timing GROUP BY session_id, request_no
) st USING (session_id, request_no)
"""


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize the session tables once per connection (after the base fact tables)."""
    prepare(con)
    for sql in (CONTEXT_CHANGES_SQL, STEP_TIMING_SQL, SESSION_TIMING_SQL, REQUEST_TIMING_SQL):
        con.execute(sql)


# --- Distributions over blocks of metrics (Tables 2, 5, 7) -----------------------------------


@dataclass(frozen=True)
class Block:
    """A group of metrics measured on one unit (session, request, step …).

    `source` is a FROM clause whose rows are the units and that has a `provider` column;
    `metrics` maps a row label to a SQL value expression. `share_of` names how each metric's
    share column is computed: None (no shares), "parts" (Σ metric / Σ over the `parts`) or a
    metric label (Σ metric / Σ that metric); only the metrics in `parts` get a share.
    `sources` overrides `source` for single metrics (e.g. one block of unrelated latencies).
    """

    name: str
    source: str
    metrics: dict[str, str]
    parts: tuple[str, ...] = ()
    share_of: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


def block_distributions(
    con: duckdb.DuckDBPyConnection, blocks: list[Block], quantiles: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Avg and quantiles of every metric of every block, over all providers and per provider.

    One row per (group, block, metric) with `group` 'all' or the provider, `n` (units with a
    value), `total` (Σ value) and `share` (see `Block.share_of`), in block and metric order.
    """
    parts = []
    for b_i, block in enumerate(blocks):
        for m_i, (label, expr) in enumerate(block.metrics.items()):
            source = block.sources.get(label, block.source)
            parts.append(f"SELECT provider, {b_i} AS b, {m_i} AS m, ({expr})::DOUBLE AS v {source}")
    if not parts:
        return []
    sql = f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'all' ELSE provider END AS grp,
               b, m, count(v) AS n, sum(v) AS total, {dist_sql("v", quantiles)}
        FROM ({" UNION ALL ".join(parts)})
        GROUP BY GROUPING SETS ((b, m), (provider, b, m))
    """
    out = records(con, sql)
    seen = {(r["b"], r["m"]) for r in out if r["grp"] == "all"}
    for b_i, block in enumerate(blocks):  # an empty block still gets its (empty) pooled rows
        for m_i in range(len(block.metrics)):
            if (b_i, m_i) not in seen:
                out.append(
                    {"grp": "all", "b": b_i, "m": m_i, "n": 0, "total": None}
                    | dict.fromkeys(dist_columns(quantiles))
                )
    out.sort(key=lambda r: (r["grp"] != "all", str(r["grp"]), r["b"], r["m"]))
    totals = {(r["grp"], r["b"], r["m"]): r["total"] for r in out}
    for r in out:
        block = blocks[r["b"]]
        label = list(block.metrics)[r["m"]]
        r["block"], r["metric"] = block.name, label
        r["share"] = _share(block, label, r["grp"], r["b"], totals)
    return out


def _share(block: Block, label: str, grp: str, b: int, totals: dict) -> float | None:
    """Σ metric over the block's denominator (Σ parts or Σ of the named metric)."""
    if block.share_of is None or label not in block.parts:
        return None
    labels = list(block.metrics)

    def total(name: str) -> float:
        return totals.get((grp, b, labels.index(name))) or 0.0

    if block.share_of == "parts":
        whole = sum(total(p) for p in block.parts)
    else:
        whole = total(block.share_of)
    return total(label) / whole if whole else None
