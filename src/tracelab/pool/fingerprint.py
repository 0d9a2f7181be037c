"""Per-session fingerprints: recognise a session already in the pool under any pseudonym key.

Why not the session id: sanitized ids are keyed pseudonyms, so the same session sanitized by
two people (or with a new key) has two unrelated ids. What the key does not change is the
session's content: its provider, and step by step (in `round_index` order, ties in upload
order) the model, the first event time and the token counts. The fingerprint is the SHA-256 of
`fp1 \\0 provider \\0` followed, per step, by the JSON array
`[model, first event time, *token counts]` and a newline; two sessions share it only if they
have the same steps with the same numbers.

The steps are read from a Parquet file by DuckDB, sorted there (spilling to disk when large),
and hashed as they stream by: memory does not grow with the upload.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import duckdb

FINGERPRINT_VERSION = "fp1"
#: Token counts of a step that every provider's rows carry (null where a provider has none).
TOKENS = (
    "input_tokens_total",
    "prefix_tokens",
    "newly_append_tokens",
    "claude_cache_creation_input_tokens",
    "claude_cache_read_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
#: SQL of a step's first / last event time (the first / last non-empty `timestamp`).
FIRST_TIME_SQL = (
    "list_filter(timing_events, lambda e: coalesce(e.timestamp, '') <> '')[1].timestamp"
)
LAST_TIME_SQL = (
    "list_filter(timing_events, lambda e: coalesce(e.timestamp, '') <> '')[-1].timestamp"
)
_BATCH = 50_000


def session_fingerprints(
    con: duckdb.DuckDBPyConnection, parquet: Path, batch_rows: int = _BATCH
) -> dict[tuple[str, str], str]:
    """Session (provider, id) → fingerprint, for every session of the Parquet file."""
    tokens = ", ".join(TOKENS)
    result = con.execute(
        f"""
        SELECT provider, session_id, model, {FIRST_TIME_SQL} AS first_time, {tokens}
        FROM read_parquet(?, file_row_number = true)
        ORDER BY provider, session_id, round_index, file_row_number
        """,
        [str(parquet)],
    )
    out: dict[tuple[str, str], str] = {}
    session: tuple[str, str] | None = None
    h = None
    while batch := result.fetchmany(batch_rows):
        for provider, session_id, *key in batch:
            if (provider, session_id) != session:
                if h is not None:
                    out[session] = f"{FINGERPRINT_VERSION}:{h.hexdigest()}"
                session = (provider, session_id)
                h = hashlib.sha256(f"{FINGERPRINT_VERSION}\x00{provider}\x00".encode())
            h.update(orjson.dumps(key))
            h.update(b"\n")
    if h is not None:
        out[session] = f"{FINGERPRINT_VERSION}:{h.hexdigest()}"
    return out
