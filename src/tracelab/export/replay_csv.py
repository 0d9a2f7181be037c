"""The multi-round replay CSV: one row per step, the workload a serving simulator replays.

Every column comes from `step_facts` (`tracelab.metrics.steps`) through the serving exports'
shared step view (`tracelab.export.workload`, where a step's clock — arrival, duration, wait —
is defined once), so token counts, step order and user/tool initiation mean exactly what they
mean in the analyses and in the other exports:

- `session_id`; rows are ordered by session arrival (the session's first step), then session
  id, then step. Sessions without any timestamp come last.
- `arrival_time_ms`: when the step's request is sent — its generation start (the latest user
  message or tool result before its first model output), else its first timing event — in ms
  since the trace's earliest arrival, never before the session's previous step ended (clock
  skew); a step without timestamps takes its predecessor's end.
- `round_index`: 0-based position of the step in its session (`seq − 1`).
- `prefix_length`, `input_length`, `output_length`: prefix (cached), append (new input) and
  output tokens.
- `duration_ms`: arrival → the step's last model-output event (0 when it has none).
- `wait_after_ms`: the idle time after the step's response before the session's next request
  (think time before a user-initiated step, tool run time before a tool-initiated one). Empty
  for a session's last step. Within a session, exactly:
  `arrival_time_ms + duration_ms + wait_after_ms = next arrival_time_ms`.
- `is_user_initiated`, `provider`, `model`.
- Sessions without any timestamp: empty arrival, duration and wait.

`--format reference` writes the study's own CSV instead (`tracelab.export.reference_csv`).
The file is written by DuckDB's `COPY` into a temp file beside the output and renamed into
place, so a failed export never leaves a partial file or touches an existing one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tracelab.export.workload import SESSION_ORDER, WORKLOAD_SQL
from tracelab.io import atomic_path
from tracelab.metrics.steps import STEP_TABLES, prepare

COLUMNS = (
    "session_id",
    "arrival_time_ms",
    "round_index",
    "prefix_length",
    "input_length",
    "output_length",
    "duration_ms",
    "wait_after_ms",
    "is_user_initiated",
    "provider",
    "model",
)

REPLAY_SQL = f"""
SELECT session_id,
       arrival_ms AS arrival_time_ms,
       round_index,
       prefix AS prefix_length,
       append AS input_length,
       output AS output_length,
       duration_ms,
       wait_after_ms,
       is_user AS is_user_initiated,
       provider,
       model
FROM ({WORKLOAD_SQL})
ORDER BY {SESSION_ORDER}, seq
"""

#: Sessions, and the steps of timed sessions whose times were all filled in from the clock.
COUNTS_SQL = f"""
SELECT count(DISTINCT session_id),
       count(*) FILTER (WHERE NOT timed AND session_ts IS NOT NULL)
FROM ({WORKLOAD_SQL})
"""


@dataclass
class ExportReport:
    """What an export wrote: step rows, distinct sessions, the file, and how long it took."""

    rows: int
    sessions: int
    path: Path
    seconds: float
    columns: tuple[str, ...] = COLUMNS
    untimed_steps: int = 0


def export_replay_csv(con: duckdb.DuckDBPyConnection, output: Path) -> ExportReport:
    """Write the replay CSV of the trace on `con` to `output` (atomically); `.gz` compresses."""
    started = time.perf_counter()
    prepare(con, tables=STEP_TABLES)  # no tool or request facts needed
    output = Path(output)
    compression = "gzip" if output.name.endswith(".gz") else "none"
    with atomic_path(output) as tmp:
        (rows,) = con.execute(
            f"COPY ({REPLAY_SQL}) TO ? (FORMAT csv, HEADER, COMPRESSION {compression})",
            [str(tmp)],
        ).fetchone()
    sessions, untimed = con.execute(COUNTS_SQL).fetchone()
    return ExportReport(
        rows=rows,
        sessions=sessions,
        path=output,
        seconds=time.perf_counter() - started,
        untimed_steps=untimed,
    )
