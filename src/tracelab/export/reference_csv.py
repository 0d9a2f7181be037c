"""The reference toolkit's canonical multi-round CSV (`export replay-csv --format reference`).

The study's own exporter (`csv_export`) writes a CSV that serving simulators built around the
study already read. Its definitions differ from our replay CSV (`replay_csv`); they are those of
the analyses amendments, §12, reproduced exactly here:

- columns `id,input_len,output_len,arrival_time,round_idx,tool_wait_after_ms,prefix_len`;
- `id`: 0-based session ordinal after a seeded shuffle. The sessions in file order (of their
  first step, `round_pk`) are permuted by `numpy.random.default_rng(0).permutation(n)`: the
  session at file position `perm[j]` gets id `j`. Rows are ordered by id, then round.
- `arrival_time`: SYNTHETIC, per session (repeated on every row of the session), ms, 6
  decimals. Session id `k` arrives at `Σ_{j<k} x_j` (0 for id 0), `x` = the draws of
  `default_rng(1).exponential(1000 / rate, n)` (a Poisson process of `rate` sessions/s,
  default 1), or at `k · 1000 / rate` with `arrival="uniform"`. The trace's own times are not
  used (our replay CSV has them).
- `round_idx`: 0…N−1, the step's position in its session sorted by (round_index, file order)
  — `step_facts.seq − 1`, as everywhere.
- `input_len = max(append, 1)`, `output_len = max(output, 1)`, `prefix_len = max(prefix, 0)`
  (a simulator cannot send an empty request or ask for zero tokens).
- `tool_wait_after_ms`: Σ of the step's own tool calls' **wall** latencies (`result_at −
  emitted_at`, the non-null ones ≥ 0), 0 on a session's last step. Tool time only: no human
  wait, no internal latency (the reference's default).

Where §12 leaves a choice open, the choice above is ours: ids in shuffled order of the file's
session order, and the Poisson process starting at 0 for the first id. numpy (a dependency of
matplotlib) draws the numbers, so the generator is the reference's bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tracelab.io import atomic_path
from tracelab.metrics.steps import STEP_TABLES, prepare

COLUMNS = (
    "id",
    "input_len",
    "output_len",
    "arrival_time",
    "round_idx",
    "tool_wait_after_ms",
    "prefix_len",
)
#: The session arrival processes: a seeded Poisson process, or evenly spaced sessions.
ARRIVALS = ("poisson", "uniform")
ID_SEED = 0
ARRIVAL_SEED = 1

#: Sessions in file order: the position of each session's first step.
SESSIONS_SQL = """
SELECT session_id FROM step_facts GROUP BY session_id ORDER BY min(round_pk)
"""

REFERENCE_SQL = """
WITH tool_wall AS (
    SELECT round_pk, sum(tool_wall_latency_ms) AS wall_ms
    FROM tool_calls
    WHERE tool_wall_latency_ms >= 0
    GROUP BY round_pk
),
steps AS (
    SELECT s.session_id, s.seq, s.prefix, s.append, s.output, s.round_pk,
           s.seq = max(s.seq) OVER (PARTITION BY s.session_id) AS is_last
    FROM step_facts s
)
SELECT r.id,
       greatest(s.append, 1) AS input_len,
       greatest(s.output, 1) AS output_len,
       r.arrival_time,
       s.seq - 1 AS round_idx,
       CASE WHEN s.is_last THEN 0 ELSE coalesce(w.wall_ms, 0) END AS tool_wait_after_ms,
       greatest(s.prefix, 0) AS prefix_len
FROM steps s
JOIN reference_sessions r USING (session_id)
LEFT JOIN tool_wall w USING (round_pk)
ORDER BY r.id, s.seq
"""


@dataclass
class ReferenceReport:
    """What the export wrote: step rows, sessions, the arrival process, the file, the time."""

    rows: int
    sessions: int
    arrival: str
    rate: float
    path: Path
    seconds: float
    columns: tuple[str, ...] = COLUMNS


def session_arrivals(n: int, arrival: str = "poisson", rate: float = 1.0) -> list[float]:
    """The arrival (ms) of session ids 0…n−1: the seeded Poisson process or evenly spaced."""
    import numpy as np

    if arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
    if not rate > 0:
        raise ValueError(f"rate must be > 0 sessions per second, got {rate}")
    if arrival == "uniform":
        return [i * 1000 / rate for i in range(n)]
    draws = np.random.default_rng(ARRIVAL_SEED).exponential(1000 / rate, n)
    return [0.0, *np.cumsum(draws[:-1]).tolist()][:n]


def session_ids(n: int) -> list[int]:
    """The id of the session at each file position: position `perm[j]` gets id `j`."""
    import numpy as np

    perm = np.random.default_rng(ID_SEED).permutation(n)
    ids = [0] * n
    for j, position in enumerate(perm.tolist()):
        ids[position] = j
    return ids


def export_reference_csv(
    con: duckdb.DuckDBPyConnection, output: Path, arrival: str = "poisson", rate: float = 1.0
) -> ReferenceReport:
    """Write the reference CSV of the trace on `con` to `output` (atomically; `.gz` compresses)."""
    import pyarrow as pa

    started = time.perf_counter()
    session_arrivals(0, arrival, rate)  # bad options fail before any work
    prepare(con, tables=STEP_TABLES)  # no tool or request facts needed
    sessions = [s for (s,) in con.execute(SESSIONS_SQL).fetchall()]
    ids = session_ids(len(sessions))
    arrivals = session_arrivals(len(sessions), arrival, rate)
    table = pa.table(
        {
            "session_id": pa.array(sessions, pa.string()),
            "id": pa.array(ids, pa.int64()),
            "arrival_time": pa.array([f"{arrivals[i]:.6f}" for i in ids], pa.string()),
        }
    )
    output = Path(output)
    compression = "gzip" if output.name.endswith(".gz") else "none"
    con.register("reference_sessions", table)
    try:
        with atomic_path(output) as tmp:
            (rows,) = con.execute(
                f"COPY ({REFERENCE_SQL}) TO ? (FORMAT csv, HEADER, COMPRESSION {compression})",
                [str(tmp)],
            ).fetchone()
    finally:
        con.unregister("reference_sessions")
    return ReferenceReport(
        rows=rows,
        sessions=len(sessions),
        arrival=arrival,
        rate=rate,
        path=output,
        seconds=time.perf_counter() - started,
    )
