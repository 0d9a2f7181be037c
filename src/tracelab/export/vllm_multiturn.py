"""Conversations for vLLM's multi-turn serving benchmark (`benchmarks/multi_turn` in vLLM).

What the benchmark reads (`benchmark_serving_multi_turn.py --input-file FILE.json`, as we
know vLLM's 2025 tree — written from that knowledge, not tested against vLLM here; check your
checkout): a JSON list of conversations, each
`{"id": str, "messages": [{"role": "user", "content": str}, {"role": "assistant", ...}, ...]}`
(the OpenAI-style form its `convert_sharegpt_to_openai.py` writes). Ids must be unique strings;
messages alternate user/assistant, starting with a user turn. For each user turn the client
sends the conversation so far plus that turn to the server; the dataset's assistant message
sets the turn's expected output length (the benchmark tokenizes it unless `--limit-min-tokens`
/ `--limit-max-tokens` override it). The client asserts that the user message it sends has
exactly the keys `role` and `content`, so nothing extra may go on a message; keys on the
CONVERSATION other than `id` and `messages` are not read, and that is where the timing fields
below live (rather than a `delay_ms` on each message).

The mapping (sanitized traces hold no text, so content is synthesized to the right length):

- one conversation per session (`id` = `session_id`), one user + assistant pair per step, in
  step order. Conversations are in session arrival order (the shared `SESSION_ORDER`).
- user turn of step i: the new input since the previous step, `fresh_i` tokens (`step_facts`:
  max(0, C_i − C_{i−1}) − O_{i−1}, clipped to [0, append_i]); for a session's first step,
  its whole input C_1 = prefix + append (the conversation has no earlier history, and the
  benchmark sends no system prompt). So the benchmark's i-th request carries
  C_1 + Σ fresh + Σ outputs ≈ C_i tokens — exactly C_i while the context only grows. A context
  that shrank (compaction) cannot be expressed in a chat history: the replayed input keeps
  growing, and then exceeds the trace's C_i.
- assistant turn of step i: `output_i` tokens.
- content: `FILLER` repeated to `tokens × CHARS_PER_TOKEN` characters (at least `MIN_TOKENS`
  token: an empty message would be an empty request, and a zero-length answer a `max_tokens`
  of 0). `FILLER` is " the", one token in the common BPE vocabularies, so the count is close
  for any tokenizer; the benchmark measures real counts with the model's tokenizer. The first
  user message starts with `[<session id>]` (counted in its length), so no two conversations
  share a prefix and a prefix cache only finds a conversation's own history — as in the
  Mooncake export, which never shares blocks across sessions either.
- `arrival_ms` (conversation): the session's first step arrival, ms since the trace's first
  arrival (null when untimed) — to pace conversations like the trace instead of the
  benchmark's `--request-rate`.
- `delays_ms` (conversation): one entry per user turn, the ms the session idled between the
  previous turn's response and this turn (think time before a user-initiated step, tool run
  time before a tool-initiated one): `wait_before_ms` of the shared step clock
  (`tracelab.export.workload`), the same wait as `replay-csv`'s `wait_after_ms` of the
  previous step. Null for the first turn and for untimed sessions. The stock benchmark
  ignores both fields (it paces turns by its own options); a modified client can sleep
  `delays_ms[k]` after receiving the answer to turn k−1.

`min_steps` keeps sessions with at least that many steps; `max_sessions` keeps the first N of
those by arrival. The file is written session by session into a temp file renamed into place
(`tracelab.io.atomic_path`), message by message: memory holds one message at a time, whatever
the trace size.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import orjson

from tracelab.export.workload import SESSION_ORDER, WORKLOAD_SQL, stream_rows
from tracelab.io import atomic_path
from tracelab.metrics.steps import STEP_TABLES, prepare

#: Characters of synthesized content per token (≈ English text with BPE tokenizers).
CHARS_PER_TOKEN = 4
#: The repeated filler: one token, `CHARS_PER_TOKEN` characters.
FILLER = " the"
#: Every message holds at least this many tokens' worth of characters.
MIN_TOKENS = 1

VLLM_SQL = f"""
WITH kept AS (
    SELECT * FROM ({WORKLOAD_SQL}) WHERE n_steps >= $min_steps
),
ranked AS (
    SELECT *,
           dense_rank() OVER (ORDER BY {SESSION_ORDER}) AS session_rank
    FROM kept
)
SELECT session_id,
       CASE WHEN seq = 1 THEN context ELSE coalesce(fresh, 0) END AS user_tokens,
       output AS assistant_tokens,
       wait_before_ms,
       session_ts AS session_arrival_ms
FROM ranked
WHERE $max_sessions IS NULL OR session_rank <= $max_sessions
ORDER BY session_rank, seq
"""

SESSIONS_SQL = "SELECT count(DISTINCT session_id) FROM step_facts"


@dataclass
class VllmReport:
    """What the export wrote: conversations, user+assistant turns, synthesized tokens, the
    file's size; and the trace's sessions the filters left out."""

    conversations: int
    turns: int
    user_tokens: int
    assistant_tokens: int
    bytes: int
    skipped_sessions: int
    min_steps: int
    max_sessions: int | None
    path: Path
    seconds: float


def filler(tokens: int, tag: str = "") -> str:
    """Content of ≈`tokens` tokens: `tag`, then `FILLER` repeated, cut to exactly
    max(tokens, MIN_TOKENS) × CHARS_PER_TOKEN characters (never shorter than `tag`)."""
    size = max(tokens, MIN_TOKENS) * CHARS_PER_TOKEN
    if len(tag) >= size:
        return tag
    rest = size - len(tag)
    return tag + FILLER * (rest // len(FILLER)) + FILLER[: rest % len(FILLER)]


@dataclass
class _Totals:
    conversations: int = 0
    turns: int = 0
    user_tokens: int = 0
    assistant_tokens: int = 0


def _write_conversations(fh: BinaryIO, rows: Iterator[tuple]) -> _Totals:
    """Write the JSON list of conversations from step rows ordered by session, then step.

    Written message by message (the JSON spelled around orjson-encoded values), so memory
    holds one message, not one conversation: a session can have thousands of steps. Token
    totals are the sizes synthesized (at least `MIN_TOKENS` a message).
    """
    dumps = orjson.dumps
    totals = _Totals()
    current: str | None = None
    arrival: float | None = None
    delays: list[float | None] = []

    def close() -> None:
        fh.write(b'],"arrival_ms":' + dumps(arrival) + b',"delays_ms":' + dumps(delays) + b"}")

    fh.write(b"[")
    for session, user_tokens, assistant_tokens, wait_before, session_arrival in rows:
        if session != current:
            if current is not None:
                close()
            fh.write(b",\n" if totals.conversations else b"\n")
            fh.write(b'{"id":' + dumps(session) + b',"messages":[')
            current, arrival, delays = session, session_arrival, []
            totals.conversations += 1
            user = filler(user_tokens, f"[{session}]")
        else:
            fh.write(b",")
            user = filler(user_tokens)
        fh.write(dumps({"role": "user", "content": user}))
        fh.write(b",")
        fh.write(dumps({"role": "assistant", "content": filler(assistant_tokens)}))
        delays.append(wait_before)
        totals.turns += 1
        totals.user_tokens += max(user_tokens, MIN_TOKENS)
        totals.assistant_tokens += max(assistant_tokens, MIN_TOKENS)
    if current is not None:
        close()
    fh.write(b"\n]\n")
    return totals


def export_vllm_multiturn(
    con: duckdb.DuckDBPyConnection,
    output: Path,
    max_sessions: int | None = None,
    min_steps: int = 1,
) -> VllmReport:
    """Write the benchmark's conversations JSON for the trace on `con` to `output` (atomically;
    `.gz` compresses)."""
    if max_sessions is not None and max_sessions < 0:
        raise ValueError(f"max_sessions must be ≥ 0, got {max_sessions}")
    started = time.perf_counter()
    prepare(con, tables=STEP_TABLES)  # no tool or request facts needed
    output = Path(output)
    rows = stream_rows(con, VLLM_SQL, {"min_steps": min_steps, "max_sessions": max_sessions})
    with atomic_path(output) as tmp:
        opener = gzip.open if output.name.endswith(".gz") else open
        with opener(tmp, "wb") as fh:
            totals = _write_conversations(fh, rows)
    (sessions,) = con.execute(SESSIONS_SQL).fetchone()
    return VllmReport(
        conversations=totals.conversations,
        turns=totals.turns,
        user_tokens=totals.user_tokens,
        assistant_tokens=totals.assistant_tokens,
        bytes=output.stat().st_size,
        skipped_sessions=sessions - totals.conversations,
        min_steps=min_steps,
        max_sessions=max_sessions,
        path=output,
        seconds=time.perf_counter() - started,
    )
