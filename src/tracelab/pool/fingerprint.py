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
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

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


# --- the same fingerprints in one streaming, vectorized pass ------------------------------------


def step_times(table: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Each step's first and last non-empty `timing_events[].timestamp` (null when none): the
    Arrow form of `FIRST_TIME_SQL` / `LAST_TIME_SQL`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    events = table.column("timing_events").combine_chunks()
    stamps = events.flatten().field("timestamp")
    parents = pc.list_parent_indices(events).to_numpy(zero_copy_only=False)
    keep = pc.fill_null(pc.not_equal(stamps, ""), False).to_numpy(zero_copy_only=False)
    where, owner = np.flatnonzero(keep), parents[keep]
    first = np.full(len(table), -1, dtype=np.int64)
    last = np.full(len(table), -1, dtype=np.int64)
    first[owner[::-1]] = where[::-1]  # with repeated indices the last write wins
    last[owner] = where
    if not len(stamps):
        return pa.nulls(len(table), pa.string()), pa.nulls(len(table), pa.string())
    return (
        stamps.take(pa.array(np.maximum(first, 0), mask=first < 0)),
        stamps.take(pa.array(np.maximum(last, 0), mask=last < 0)),
    )


def _json_strings(values: pa.Array) -> pa.Array:
    """`orjson.dumps` of each string (null → `null`), vectorized; a value that needs an escape
    (a quote, a backslash, a control character) sends the column through orjson itself."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.any(pc.match_substring_regex(values, r'["\\\x00-\x1f]')).as_py():
        return pa.array([orjson.dumps(v).decode() for v in values.to_pylist()], pa.string())
    return pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "null")


def step_lines(table: pa.Table, first_time: pa.Array) -> pa.Array:
    """Each step's hashed line, `orjson.dumps([model, first time, *TOKENS]) + b"\\n"`, built
    column-wise: the very bytes `session_fingerprints` hashes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    model = table.column("model").combine_chunks().dictionary_encode()
    names = pa.array([orjson.dumps(v).decode() for v in model.dictionary.to_pylist()], pa.string())
    columns = [pc.fill_null(names.take(model.indices), "null"), _json_strings(first_time)]
    for name in TOKENS:
        column = table.column(name).combine_chunks()
        columns.append(pc.fill_null(column.cast(pa.string()), "null"))
    body = pc.binary_join_element_wise(*columns, ",")
    return pc.binary_join_element_wise("[", body, "]\n", "")


class StreamingFingerprints:
    """`session_fingerprints` of tables fed in upload order, without sorting the upload.

    Sorting by (provider, session, round_index, upload order) leaves a session's rows in upload
    order whenever its `round_index` never decreases along the upload, the usual case (every
    writer emits a session's steps in order). Then each session's hash is updated as its rows
    come, one hash object per session. `result()` is None when some session's rows go back in
    `round_index`: the caller then sorts (`session_fingerprints`)."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[str, str], Any] = {}
        self._round: dict[tuple[str, str], int] = {}
        self.in_order = True

    def update(self, table: pa.Table, first_time: pa.Array) -> None:
        import numpy as np
        import pyarrow.compute as pc

        if not self.in_order or not len(table):
            return
        key = pc.binary_join_element_wise(
            table.column("provider"), table.column("session_id"), "\x00"
        )
        codes = key.combine_chunks().dictionary_encode().indices.to_numpy()
        order = np.argsort(codes, kind="stable")  # ties keep upload order
        codes = codes[order]
        rounds = table.column("round_index").combine_chunks().to_numpy()[order]
        if np.any((np.diff(codes) == 0) & (np.diff(rounds) < 0)):
            self.in_order = False
            return
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
        ends = [*starts[1:].tolist(), len(codes)]
        heads = order[starts]
        providers = table.column("provider").take(heads).to_pylist()
        sessions = table.column("session_id").take(heads).to_pylist()
        lines = step_lines(table, first_time).take(order)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
        data = memoryview(lines.buffers()[2])
        for i, (start, end) in enumerate(zip(starts.tolist(), ends, strict=True)):
            session = (providers[i], sessions[i])
            h = self._hashes.get(session)
            if h is None:
                h = self._hashes[session] = hashlib.sha256(
                    f"{FINGERPRINT_VERSION}\x00{providers[i]}\x00".encode()
                )
            elif self._round[session] > rounds[start]:
                self.in_order = False
                return
            self._round[session] = int(rounds[end - 1])
            h.update(data[offsets[start] : offsets[end]])

    def result(self) -> dict[tuple[str, str], str] | None:
        if not self.in_order:
            return None
        return {s: f"{FINGERPRINT_VERSION}:{h.hexdigest()}" for s, h in self._hashes.items()}
