"""Timing segments (amendments §1): the spans of a step that token counts might explain — in SQL.

One row per segment of a step, materialized once per connection as TEMP `timing_segments`;
the timing fit (§1) and the append-vs-prefix comparison (§2) both read it. "Latest X" is the
X event with the greatest timestamp (the first in event order on ties); events without a
timestamp are ignored.

- `T` = the step's latest `tool_call`; its start = the latest `user_message`/`tool_result`
  timestamped ≤ T. Kind `<provider>_<start type>_to_tool_call`, tokens = output O. A step
  without a tool_call (or without an input event before it) has no such row. These are the
  **full** segments (`is_full`).
- Codex only, with `Rt` = the latest `reasoning`: `codex_<start type>_to_reasoning_end` (start =
  the latest input event ≤ Rt; tokens max(0, R)) and `codex_reasoning_end_to_tool_call` (Rt → T
  when T ≥ Rt; tokens max(0, O − R)). Neither needs the other.
- Segments with a duration ≤ 0 are dropped; `duration_ms` is rounded to 3 decimals.
- `fit_group` = `provider::model::kind` (a missing model is `(unknown)`); `trim_p99` is the
  group's linear 99th percentile of duration, `in_trim` = duration ≤ it (the fits' trim).

The table keeps what the analyses read (step key `round_pk`, `round_index`, kind, start/end
event, duration, tokens, fit group, trim). The reference's segment CSV also lists the session,
ISO times, hit rate, visible tokens and the step's tool calls/errors: all in `step_facts` /
`tool_calls` by `round_pk`; carrying them here cost a third of the table's build time.
"""

from __future__ import annotations

import duckdb

from tracelab.metrics.steps import ms_between, prepare

#: The provider whose reasoning events split a step into reasoning and post-reasoning segments.
REASONING_PROVIDER = "codex"
#: Kind suffix of a full segment (input event → the latest tool call).
FULL_SUFFIX = "_to_tool_call"

#: Orders events latest first, the first in event order on ties: one integer (timestamp in µs,
#: then −position in the low 32 bits) compares faster than a struct of the two.
LATEST_KEY = "epoch_us(e.ts)::HUGEINT * 4294967296 - e.event_pos"

SEGMENTS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS timing_segments AS
WITH ev AS (
    SELECT round_pk, event_pos, event_type, timestamp AS ts
    FROM timing_events
    WHERE timestamp IS NOT NULL
      AND event_type IN ('user_message', 'tool_result', 'tool_call', 'reasoning')
),
ends AS (
    SELECT round_pk,
           max(ts) FILTER (WHERE event_type = 'tool_call') AS tc_ts,
           max(ts) FILTER (WHERE event_type = 'reasoning') AS r_ts
    FROM ev GROUP BY round_pk
),
starts AS (
    SELECT e.round_pk,
           arg_max(e.event_type, {LATEST_KEY}) FILTER (WHERE e.ts <= n.tc_ts) AS tc_start,
           max(e.ts) FILTER (WHERE e.ts <= n.tc_ts) AS tc_start_ts,
           arg_max(e.event_type, {LATEST_KEY}) FILTER (WHERE e.ts <= n.r_ts) AS r_start,
           max(e.ts) FILTER (WHERE e.ts <= n.r_ts) AS r_start_ts
    FROM ev e JOIN ends n USING (round_pk)
    WHERE e.event_type IN ('user_message', 'tool_result')
    GROUP BY e.round_pk
),
step AS (
    SELECT s.round_pk, s.provider, s.round_index, s.model, s.prefix, s.append,
           s.input_total AS total, s.output, s.reasoning,
           n.tc_ts, n.r_ts, st.tc_start, st.tc_start_ts, st.r_start, st.r_start_ts
    FROM step_facts s JOIN ends n USING (round_pk)
    LEFT JOIN starts st USING (round_pk)
),
seg AS (
    SELECT *, 0 AS seg_no, provider || '_' || tc_start || '{FULL_SUFFIX}' AS kind,
           tc_start AS start_event, tc_start_ts AS start_ts, 'tool_call' AS end_event,
           tc_ts AS end_ts, output AS segment_tokens, true AS is_full
    FROM step WHERE tc_ts IS NOT NULL AND tc_start IS NOT NULL
    UNION ALL
    SELECT *, 1, 'codex_' || r_start || '_to_reasoning_end', r_start, r_start_ts, 'reasoning',
           r_ts, greatest(0, coalesce(reasoning, 0)), false
    FROM step WHERE provider = '{REASONING_PROVIDER}' AND r_ts IS NOT NULL AND r_start IS NOT NULL
    UNION ALL
    SELECT *, 2, 'codex_reasoning_end_to_tool_call', 'reasoning', r_ts, 'tool_call', tc_ts,
           greatest(0, output - coalesce(reasoning, 0)), false
    FROM step WHERE provider = '{REASONING_PROVIDER}' AND r_ts IS NOT NULL AND tc_ts >= r_ts
),
timed AS (
    SELECT round_pk, seg_no, provider, round_index,
           coalesce(model, '(unknown)') AS model,
           kind, provider || '::' || coalesce(model, '(unknown)') || '::' || kind AS fit_group,
           is_full, start_event, end_event,
           round({ms_between("start_ts", "end_ts")}, 3) AS duration_ms,
           prefix, append, total, segment_tokens
    FROM seg
),
kept AS (SELECT * FROM timed WHERE duration_ms > 0),
p99 AS (
    SELECT fit_group, quantile_cont(duration_ms, 0.99) AS trim_p99 FROM kept GROUP BY fit_group
)
SELECT kept.*, p99.trim_p99, kept.duration_ms <= p99.trim_p99 AS in_trim
FROM kept JOIN p99 ON kept.fit_group IS NOT DISTINCT FROM p99.fit_group
"""


def prepare_segments(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `timing_segments` once per connection (after the step facts)."""
    prepare(con)
    con.execute(SEGMENTS_SQL)
