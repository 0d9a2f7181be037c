"""The multi-round replay CSV: one row per step, the workload a serving simulator replays.

Every column comes from `step_facts` (`tracelab.metrics.steps`) through the serving exports'
shared step view (`tracelab.export.workload`, where arrival times and waits are defined once),
so token counts, step order, user/tool initiation and idle gaps mean exactly what they mean in
the analyses and in the other exports:

- `session_id`; rows are ordered by session arrival (the session's earliest step start), then
  session id, then step. Sessions without any timestamp come last.
- `arrival_time_ms`: the step's start — its first timing event, else its generation start —
  in ms since the earliest step start of the whole trace (empty when the step has no timestamp).
- `round_index`: 0-based position of the step in its session (`seq − 1`).
- `prefix_length`, `input_length`, `output_length`: prefix (cached), append (new input) and
  output tokens.
- `wait_after_ms`: how long the session idles after this round before its next round — the
  next step's idle gap (human wait if that step is user-initiated, tool latency if
  tool-initiated), else the gap from this step's last output event to the next step's first
  event. Clamped at 0 (clock skew can make gaps negative; a replay cannot wait a negative time).
  Empty for a session's last step, and when neither gap is observable.
- `is_user_initiated`, `provider`, `model`.

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
from tracelab.metrics.steps import prepare

COLUMNS = (
    "session_id",
    "arrival_time_ms",
    "round_index",
    "prefix_length",
    "input_length",
    "output_length",
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
       wait_after_ms,
       is_user AS is_user_initiated,
       provider,
       model
FROM ({WORKLOAD_SQL})
ORDER BY {SESSION_ORDER}, seq
"""


@dataclass
class ExportReport:
    """What an export wrote: step rows, distinct sessions, the file, and how long it took."""

    rows: int
    sessions: int
    path: Path
    seconds: float
    columns: tuple[str, ...] = COLUMNS


def export_replay_csv(con: duckdb.DuckDBPyConnection, output: Path) -> ExportReport:
    """Write the replay CSV of the trace on `con` to `output` (atomically); `.gz` compresses."""
    started = time.perf_counter()
    prepare(con)
    output = Path(output)
    compression = "gzip" if output.name.endswith(".gz") else "none"
    with atomic_path(output) as tmp:
        (rows,) = con.execute(
            f"COPY ({REPLAY_SQL}) TO ? (FORMAT csv, HEADER, COMPRESSION {compression})",
            [str(tmp)],
        ).fetchone()
    (sessions,) = con.execute("SELECT count(DISTINCT session_id) FROM step_facts").fetchone()
    return ExportReport(
        rows=rows, sessions=sessions, path=output, seconds=time.perf_counter() - started
    )
