"""The ingest's one-pass fingerprints and manifest numbers equal their definitions.

Fingerprints are stored in pool manifests, so the streaming computation must give the bytes the
previous code gave (`fingerprint.session_fingerprints`, DuckDB sort + orjson, unchanged) and the
definition in its docstring (re-implemented here by hand). The manifest numbers are compared
with the SQL query the ingest used before (`_OLD_NUMBERS_SQL`, kept here as the reference).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tracelab.pool.fingerprint import (
    FIRST_TIME_SQL,
    LAST_TIME_SQL,
    TOKENS,
    StreamingFingerprints,
    session_fingerprints,
    step_times,
)
from tracelab.pool.numbers import Numbers
from tracelab.schema import PUBLIC_ARROW_SCHEMA

MODELS = [None, "", "claude-opus-4-8", 'we"ird\\mod\nel', "modèle-ünicode", "gpt-5.4"]


def _rows(seed: int, n: int = 300) -> list[dict]:
    """Random steps of a few sessions, interleaved, each session's round_index non-decreasing
    (with ties); odd values where the JSON encoding could differ."""
    rnd = random.Random(seed)
    rounds: dict[tuple[str, str], int] = {}
    rows = []
    for _ in range(n):
        session = (rnd.choice(["claude", "codex"]), f"s_{rnd.randrange(6):016x}")
        rounds[session] = rounds.get(session, 0) + rnd.choice([0, 1, 1, 2])
        events = [
            {"event_type": "text", "timestamp": rnd.choice([None, "", f"2026-01-0{d}T00:00:0{d}Z"])}
            for d in rnd.sample(range(1, 10), rnd.randrange(4))
        ]
        row = {
            "provider": session[0],
            "session_id": session[1],
            "round_index": rounds[session],
            "model": rnd.choice(MODELS),
            "user": rnd.choice([None, "", "u_00000000000000aa", "u_00000000000000bb"]),
            "timing_events": events if rnd.random() > 0.1 else None,
            "tools": [{"tool_name": "Bash"}] * rnd.randrange(3) if rnd.random() > 0.2 else None,
        }
        for name in TOKENS:
            row[name] = rnd.choice([None, 0, 7, -3, 123456789012, 1 << 62])
        rows.append(row)
    return rows


def _by_hand(rows: list[dict]) -> dict[tuple[str, str], str]:
    """fp1 as its docstring defines it."""
    ordered = sorted(
        enumerate(rows),
        key=lambda p: (p[1]["provider"], p[1]["session_id"], p[1]["round_index"], p[0]),
    )
    hashes: dict[tuple[str, str], hashlib._Hash] = {}
    for _, row in ordered:
        key = (row["provider"], row["session_id"])
        h = hashes.setdefault(key, hashlib.sha256(f"fp1\x00{key[0]}\x00".encode()))
        stamps = [e["timestamp"] for e in row["timing_events"] or () if e.get("timestamp")]
        first = stamps[0] if stamps else None
        h.update(orjson.dumps([row["model"], first, *(row[t] for t in TOKENS)]) + b"\n")
    return {k: f"fp1:{h.hexdigest()}" for k, h in hashes.items()}


def _streamed(table: pa.Table, batch: int) -> dict | None:
    stream = StreamingFingerprints()
    for piece in table.to_batches(batch):
        piece = pa.Table.from_batches([piece])
        stream.update(piece, step_times(piece)[0])
    return stream.result()


def test_streaming_fingerprints_equal_the_definition_and_the_previous_code(tmp_path: Path) -> None:
    con = duckdb.connect()
    for seed in range(5):
        rows = _rows(seed)
        table = pa.Table.from_pylist(rows, schema=PUBLIC_ARROW_SCHEMA)
        path = tmp_path / f"{seed}.parquet"
        pq.write_table(table, path)
        expected = _by_hand(rows)
        assert session_fingerprints(con, path) == expected  # the previous code, unchanged
        for batch in (1, 7, 64, 1000):  # sessions cut across batches anywhere
            assert _streamed(table, batch) == expected


def test_a_session_going_back_in_round_index_needs_the_sort() -> None:
    rows = _rows(1, 50)
    last = next(r for r in reversed(rows) if r["round_index"] > 0)
    rows.append(dict(last, round_index=last["round_index"] - 1))  # goes back
    table = pa.Table.from_pylist(rows, schema=PUBLIC_ARROW_SCHEMA)
    assert _streamed(table, 1000) is None  # within a batch
    assert _streamed(table, 10) is None  # across batches


_OLD_NUMBERS_SQL = f"""
    SELECT count(*), count(DISTINCT (provider, session_id)),
           coalesce(sum(len(coalesce(tools, []))), 0),
           min({FIRST_TIME_SQL}), max({LAST_TIME_SQL}),
           histogram(coalesce(nullif(model, ''), '(none)')), histogram(provider),
           list(DISTINCT "user" ORDER BY "user") FILTER (WHERE coalesce("user", '') <> '')
    FROM read_parquet(?)
"""


def test_numbers_equal_the_previous_sql(tmp_path: Path) -> None:
    con = duckdb.connect()
    for seed in range(3):
        table = pa.Table.from_pylist(_rows(seed), schema=PUBLIC_ARROW_SCHEMA)
        path = tmp_path / f"{seed}.parquet"
        pq.write_table(table, path)
        old = con.execute(_OLD_NUMBERS_SQL, [str(path)]).fetchone()
        numbers = Numbers()
        for piece in table.to_batches(37):
            piece = pa.Table.from_batches([piece])
            numbers.update(piece, *step_times(piece))
        new = numbers.result()
        assert new[:5] == old[:5]
        assert new[5] == dict(old[5]) and new[6] == dict(old[6]) and new[7] == old[7]
