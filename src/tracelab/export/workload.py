"""What every serving export reads: one row per step, with its session order, arrival and waits.

Defined once here, on top of `step_facts` (`tracelab.metrics.steps`), and shared by
`replay_csv`, `mooncake` and `vllm_multiturn`, so a step's arrival time or the wait before it
means the same thing in every export. `WORKLOAD_SQL` is a SELECT (use it as a subquery) with:

- `session_id`, `seq` (1-based step position), `round_index` (`seq − 1`), `n_steps` (steps of
  the session), `provider`, `model`, `is_user`;
- `prefix`, `append`, `output`, `context` (C = prefix + append), `prev_context` (C of the
  session's previous step, null for its first), `fresh` (new input since the previous step, as
  in `step_facts`; null for a session's first step);
- `session_ts`: the session's arrival — its earliest step start (null when no step has a
  timestamp). Sessions are ordered by `SESSION_ORDER`: arrival, then id; untimed ones last;
- `arrival_ms`: the step's start — its first timing event, else its generation start — in ms
  since the earliest step start of the whole trace (null when the step has no timestamp);
- `wait_after_ms`: how long the session idles after this step before its next one — the next
  step's idle gap (human wait if it is user-initiated, tool latency if tool-initiated), else
  the gap from this step's last output event to the next step's start. Clamped at 0 (clock skew
  can make gaps negative; a replay cannot wait a negative time). Null for a session's last step
  and when neither gap is observable;
- `wait_before_ms`: the previous step's `wait_after_ms` (the wait before this step; null for a
  session's first step).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb

from tracelab.metrics.steps import ms_between

#: How the exports order sessions: by arrival, then id; sessions without a timestamp last.
SESSION_ORDER = "session_ts ASC NULLS LAST, session_id"

WORKLOAD_SQL = f"""
WITH steps AS (
    SELECT session_id, seq, prefix, append, output, context, prev_context, fresh, is_user,
           provider, model, idle_gap_ms, last_out_ts,
           coalesce(started_at, gen_start_ts) AS start_ts
    FROM step_facts
),
paced AS (
    SELECT *,
           min(start_ts) OVER (PARTITION BY session_id) AS session_ts,
           min(start_ts) OVER () AS trace_ts,
           count(*) OVER (PARTITION BY session_id) AS n_steps,
           lead(idle_gap_ms) OVER w AS next_gap_ms,
           lead(start_ts) OVER w AS next_start_ts
    FROM steps
    WINDOW w AS (PARTITION BY session_id ORDER BY seq)
),
gaps AS (
    SELECT *,
           coalesce(next_gap_ms, {ms_between("last_out_ts", "next_start_ts")}) AS wait_ms
    FROM paced
),
clamped AS (
    SELECT *, CASE WHEN wait_ms < 0 THEN 0.0 ELSE wait_ms END AS wait_after_ms
    FROM gaps
)
SELECT session_id, seq, seq - 1 AS round_index, n_steps, provider, model, is_user,
       prefix, append, output, context, prev_context, fresh,
       session_ts,
       {ms_between("trace_ts", "start_ts")} AS arrival_ms,
       wait_after_ms,
       lag(wait_after_ms) OVER (PARTITION BY session_id ORDER BY seq) AS wait_before_ms
FROM clamped
"""

#: Rows fetched from DuckDB at a time by `stream_rows` (bounded memory on any trace size).
FETCH_ROWS = 10_000


def stream_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> Iterator[tuple]:
    """The rows of `sql`, fetched `FETCH_ROWS` at a time: never the whole result in Python."""
    cursor = con.execute(sql, params or [])
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch
