"""What every serving export reads: one row per step, with its session order and its clock.

Defined once here, on top of `step_facts` (`tracelab.metrics.steps`), and shared by
`replay_csv`, `mooncake` and `vllm_multiturn`, so a step's arrival time or the wait after it
means the same thing in every export. `WORKLOAD_SQL` is a SELECT (use it as a subquery) with:

- `session_id`, `seq` (1-based step position), `round_index` (`seq − 1`), `n_steps` (steps of
  the session), `provider`, `model`, `is_user`;
- `prefix`, `append`, `output`, `context` (C = prefix + append), `prev_context` (C of the
  session's previous step, null for its first), `fresh` (new input since the previous step, as
  in `step_facts`; null for a session's first step);
- the step's clock, in ms since the trace's earliest arrival: `arrival_ms`, `duration_ms`,
  `wait_after_ms` (and `wait_before_ms`, the previous step's `wait_after_ms`), `timed`.

THE CLOCK. A step is a model request: it is sent when its input is complete — its generation
start `gen_start_ts` (the latest user message / tool result before its first model output),
else its first timing event — and it ends with its last model-output event (`last_out_ts`).
Observed times can disagree with step order (clock skew, a step without timestamps), so each
session's times are read as one running clock, in step order, start then end of each step:

    arrival_i = max(start_i, every start and end observed before it in the session)
    end_i     = max(end_i, arrival_i)

A missing time takes the clock's value at that point (a step without timestamps: its
predecessor's end; steps before the session's first timestamp: that first time), so every
step of a session with any timestamp has all three values, and

    duration_ms_i   = end_i − arrival_i                       (≥ 0)
    wait_after_ms_i = arrival_{i+1} − end_i                   (≥ 0; null on the last step)
    arrival_i + duration_ms_i + wait_after_ms_i = arrival_{i+1}   exactly

(all computed in integer microseconds, then divided by 1000, so the printed values add up
exactly). The wait is what a closed-loop replay sleeps between a response and the next
request: a human's think time before a user-initiated step, the tools' run time before a
tool-initiated one, measured on the same two anchors as the arrivals. (It was once the next
step's idle gap — the longest tool latency or the human wait, measured from other events —
which could exceed the time to the next arrival: a step is sent when its last tool result
is in, not its first.) `timed` is false for a step whose times were all filled in.
Sessions with no timestamp at all have null arrival, duration and waits; `session_ts` (the
session's first arrival) orders sessions (`SESSION_ORDER`): by arrival, then id, untimed last.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb

#: How the exports order sessions: by arrival, then id; sessions without a timestamp last.
SESSION_ORDER = "session_ts ASC NULLS LAST, session_id"

#: One window pass over the session's steps: the running maximum of its times before each step
#: (`before_us`), its first time (`first_us`, which fills leading untimed steps) and the next
#: step's raw start give every value without a second pass (`max` ignores nulls):
#:   arrival_i     = coalesce(max(start_i, before_i), first)
#:   end_i         = coalesce(max(before_i, start_i, end_i), first)
#:   arrival_{i+1} = coalesce(max(start_{i+1}, before_i, start_i, end_i), first)
#:   end_{i−1}     = coalesce(before_i, first)
WORKLOAD_SQL = """
WITH steps AS (
    SELECT session_id, seq, prefix, append, output, context, prev_context, fresh, is_user,
           provider, model,
           epoch_us(coalesce(gen_start_ts, started_at)) AS start_raw,
           epoch_us(last_out_ts) AS end_raw
    FROM step_facts
),
runs AS (
    SELECT *,
           count(*) OVER session AS n_steps,
           arg_min(coalesce(start_raw, end_raw), seq) OVER session AS first_us,
           max(greatest(start_raw, end_raw)) OVER before AS before_us,
           lead(start_raw) OVER ord AS next_start,
           lead(seq) OVER ord AS next_seq
    FROM steps
    WINDOW session AS (PARTITION BY session_id),
           ord AS (PARTITION BY session_id ORDER BY seq),
           before AS (PARTITION BY session_id ORDER BY seq
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
clock AS (
    SELECT *,
           coalesce(greatest(start_raw, before_us), first_us) AS arrival_us,
           coalesce(greatest(before_us, start_raw, end_raw), first_us) AS end_us,
           CASE WHEN next_seq IS NOT NULL
                THEN coalesce(greatest(next_start, before_us, start_raw, end_raw), first_us)
           END AS next_us,
           CASE WHEN seq > 1 THEN coalesce(before_us, first_us) END AS prev_end_us,
           min(first_us) OVER () AS trace_us
    FROM runs
)
SELECT session_id, seq, seq - 1 AS round_index, n_steps, provider, model, is_user,
       prefix, append, output, context, prev_context, fresh,
       (first_us - trace_us) / 1000.0 AS session_ts,
       (arrival_us - trace_us) / 1000.0 AS arrival_ms,
       (end_us - arrival_us) / 1000.0 AS duration_ms,
       (next_us - end_us) / 1000.0 AS wait_after_ms,
       (arrival_us - prev_end_us) / 1000.0 AS wait_before_ms,
       start_raw IS NOT NULL OR end_raw IS NOT NULL AS timed
FROM clock
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
