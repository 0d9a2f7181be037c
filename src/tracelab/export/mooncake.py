"""The Mooncake trace format: one request per JSONL line, with KV-cache block ids.

Mooncake (FAST'25) published its request traces as JSONL lines
`{"timestamp", "input_length", "output_length", "hash_ids"}`, and KV-cache / serving
simulators that read them replay each line as a request arriving at `timestamp` whose input is
the sequence of blocks `hash_ids`: two requests sharing a block id share that block's KV cache.
Here every step of the trace is one request, from the serving exports' shared step view
(`tracelab.export.workload`, over `step_facts`):

- `timestamp` — the step's arrival in ms since the trace's first arrival: `replay-csv`'s
  `arrival_time_ms` (the shared step clock of `tracelab.export.workload`: a step is sent at
  its generation start, never before its session's previous step ended, and a step without
  timestamps takes its predecessor's end), rounded to an integer (halves away from zero). So
  a session's requests never go back in time. Sessions with no timestamp at all are left out
  and counted in the report.
- `input_length` — C = prefix + append, the step's whole input.
- `output_length` — output tokens.
- `hash_ids` — the input cut into blocks of `block_size` tokens (default 512, Mooncake's):
  ceil(C / block_size) ids, the last block possibly partial. THE REUSE RULE: step i of a
  session shares its first `min(floor(prefix_i / B), floor(C_{i−1} / B))` blocks with the
  session's previous step i−1 (the same ids, in the same positions); its other blocks get
  fresh ids. So a block is reused exactly when it is a full block of the previous request and
  lies entirely inside this step's prefix — the tokens the provider served from its prompt
  cache, which is the honest reuse signal a sanitized trace holds (it has no text to hash).
  A partial last block is never shared (its content differs once the block fills up); blocks
  the previous step's output filled are new ids (Mooncake traces list input blocks only); a
  provider cache miss (prefix 0) shares nothing, even though the text was likely the same.
  Fresh ids come from one global counter starting at 0, allocated in the file's row order, so
  every id first appears in increasing order; different sessions never share an id.
- `session_id`, `round_index` — extra fields (the session and the 0-based step position).
  Mooncake loaders read the four keys above and ignore others, so they are harmless there and
  let a session-aware simulator group requests.

Rows are ordered by timestamp, then session id, then round. The file is written into a temp
file beside the output and renamed into place (`tracelab.io.atomic_path`), streamed a batch of
rows at a time, so memory stays bounded on the study's 357k steps; a `.gz` output compresses.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson

from tracelab.export.workload import WORKLOAD_SQL, stream_rows
from tracelab.io import atomic_path
from tracelab.metrics.steps import STEP_TABLES, prepare

#: Tokens per KV-cache block: Mooncake's traces use 512.
DEFAULT_BLOCK_SIZE = 512

FIELDS = ("timestamp", "input_length", "output_length", "hash_ids", "session_id", "round_index")

MOONCAKE_SQL = f"""
SELECT CAST(round(arrival_ms) AS BIGINT) AS ts,
       context, output, prefix, prev_context, session_id, round_index,
       round_index = n_steps - 1 AS is_last
FROM ({WORKLOAD_SQL})
WHERE session_ts IS NOT NULL
ORDER BY ts, session_id, seq
"""

SKIPPED_SQL = f"""
SELECT count(*), count(DISTINCT session_id) FROM ({WORKLOAD_SQL}) WHERE session_ts IS NULL
"""


@dataclass
class MooncakeReport:
    """What the export wrote: requests, sessions, blocks (all ids listed, distinct ids), and
    the steps/sessions left out for having no timestamp."""

    rows: int
    sessions: int
    blocks: int
    distinct_blocks: int
    block_size: int
    skipped_steps: int
    skipped_sessions: int
    path: Path
    seconds: float

    @property
    def reused_share(self) -> float | None:
        """Share of listed blocks that repeat an id seen earlier (None when no blocks)."""
        return 1 - self.distinct_blocks / self.blocks if self.blocks else None


def block_count(tokens: int, block_size: int) -> int:
    """ceil(tokens / block_size): the blocks of an input (the last one possibly partial)."""
    return -(-tokens // block_size)


def shared_blocks(prefix: int, prev_context: int | None, block_size: int) -> int:
    """How many leading blocks a step shares with its session's previous step (0 when first)."""
    if prev_context is None:
        return 0
    return min(prefix // block_size, prev_context // block_size)


def export_mooncake(
    con: duckdb.DuckDBPyConnection, output: Path, block_size: int = DEFAULT_BLOCK_SIZE
) -> MooncakeReport:
    """Write the Mooncake JSONL of the trace on `con` to `output` (atomically; `.gz` compresses)."""
    if block_size < 1:
        raise ValueError(f"block size must be ≥ 1 token, got {block_size}")
    started = time.perf_counter()
    prepare(con, tables=STEP_TABLES)  # no tool or request facts needed
    output = Path(output)
    rows = sessions = blocks = next_id = 0
    previous: dict[str, list[int]] = {}  # session → hash_ids of its latest step (open sessions)
    dumps = orjson.dumps
    with atomic_path(output) as tmp:
        opener = gzip.open if output.name.endswith(".gz") else open
        with opener(tmp, "wb") as fh:
            buf: list[bytes] = []
            for row in stream_rows(con, MOONCAKE_SQL):
                ts, context, out, prefix, prev_context, session, round_index, is_last = row
                keep = shared_blocks(prefix, prev_context, block_size)
                fresh = block_count(context, block_size) - keep
                ids = previous.pop(session, [])[:keep]
                ids.extend(range(next_id, next_id + fresh))
                next_id += fresh
                if not is_last:
                    previous[session] = ids
                sessions += round_index == 0
                rows += 1
                blocks += len(ids)
                buf.append(
                    dumps(
                        {
                            "timestamp": ts,
                            "input_length": context,
                            "output_length": out,
                            "hash_ids": ids,
                            "session_id": session,
                            "round_index": round_index,
                        }
                    )
                )
                if len(buf) >= 1000:
                    fh.write(b"\n".join(buf) + b"\n")
                    buf.clear()
            if buf:
                fh.write(b"\n".join(buf) + b"\n")
    skipped_steps, skipped_sessions = con.execute(SKIPPED_SQL).fetchone()
    return MooncakeReport(
        rows=rows,
        sessions=sessions,
        blocks=blocks,
        distinct_blocks=next_id,
        block_size=block_size,
        skipped_steps=skipped_steps,
        skipped_sessions=skipped_sessions,
        path=output,
        seconds=time.perf_counter() - started,
    )
