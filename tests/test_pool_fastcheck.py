"""The vectorized check (`pool.fastcheck`) accepts clean blocks and never accepts a bad one;
the fingerprint computed in DuckDB matches its written definition."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REAL_HOME, needs_fixtures
from pool_support import KEY_A, prepared, private_traces
from tracelab.io import read_rows, write_rows
from tracelab.pool.fastcheck import SAFE_VALUE, check_block
from tracelab.pool.fingerprint import TOKENS, session_fingerprints
from tracelab.privacy import string_leaks


@settings(max_examples=300, deadline=None)
@given(st.from_regex(SAFE_VALUE, fullmatch=True))
def test_a_safe_value_passes_the_audit_detectors(value: str) -> None:
    # The fast path skips `string_leaks` for these values; this is why it may.
    assert string_leaks(value) == ()


@pytest.fixture(scope="module")
def public_rows(tmp_path_factory) -> list[dict]:
    if not REAL_HOME.exists():
        pytest.skip("fixtures absent")
    traces = private_traces(REAL_HOME, tmp_path_factory.mktemp("fast-traces"))
    up = prepared(traces["all"], tmp_path_factory.mktemp("fast-prep"), KEY_A)
    return list(read_rows(up.path))


def _block(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@needs_fixtures
def test_a_clean_sanitized_block_is_accepted_whole(public_rows) -> None:
    table = check_block(_block(public_rows))
    assert table is not None
    assert len(table) == len(public_rows)
    # same values as the uploaded rows (Arrow fills absent fields with null)
    assert [_no_nulls(r) for r in table.to_pylist()] == [_no_nulls(r) for r in public_rows]


def _no_nulls(value):
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _set(row: dict, where: str, value) -> None:
    parts = where.split(".")
    for part in parts[:-1]:
        row = row[int(part)] if part.isdigit() else row[part]
    row[parts[-1]] = value


@needs_fixtures
@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("model", "/home/alice/secret-project"),
        ("store", "C:\\Users\\alice"),
        ("first_input_event_type", "sk-ant-0123456789abcdefghijkl"),
        ("tools.0.tool_name", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
        ("timing_events.0.source", "see https://example.org/x"),
        ("timing_events.0.timestamp", "2026-01-01T00:00:00Z alice@example.org"),
        ("project", "p_not-a-pseudonym"),
        ("trace_key", "claude:s_0123456789abcdef"),
        ("tools.0.tool_call_id", "toolu_01ABCDEFGHIJKLMNOP"),
        ("round_index", -1),
        ("round_index", "7"),
        ("session_id", ""),
        ("session_id", None),
        ("cwd", "/somewhere"),
        ("tools.0.input", "ls"),
        ("tools", [None]),
        ("favourite_colour", "blue"),
        ("output_tokens", 1 << 63),
    ],
)
def test_a_bad_value_anywhere_sends_the_block_to_the_exact_check(public_rows, where, value):
    rows = copy.deepcopy(public_rows)
    target = next(r for r in rows if r.get("tools")) if where.startswith("tools") else rows[-1]
    _set(target, where, value)
    assert check_block(_block(rows)) is None


def test_the_fingerprint_follows_its_definition(tmp_path: Path) -> None:
    import duckdb

    ev = [{"event_type": "user_message", "timestamp": ""}, {"timestamp": "2026-01-01T00:00:01Z"}]
    base = {"provider": "claude", "session_id": "s_1", "model": "m", "timing_events": ev}
    rows = [  # stored out of round order: the fingerprint sorts by round_index
        {**base, "round_index": 1, "output_tokens": 5},
        {**base, "round_index": 0, "input_tokens_total": 3},
        {**base, "session_id": "s_2", "round_index": 0},
    ]
    path = tmp_path / "rows.parquet"
    write_rows(rows, path)
    # by hand: steps in round order, [model, first non-empty timestamp, 7 token counts]
    t = "2026-01-01T00:00:01Z"
    h = hashlib.sha256(b"fp1\x00claude\x00")
    h.update(orjson.dumps(["m", t, 3, None, None, None, None, None, None]) + b"\n")
    h.update(orjson.dumps(["m", t, None, None, None, None, None, 5, None]) + b"\n")
    with duckdb.connect() as con:
        fps = session_fingerprints(con, path)
    assert fps[("claude", "s_1")] == f"fp1:{h.hexdigest()}"
    assert fps[("claude", "s_2")] != fps[("claude", "s_1")]
    assert len(fps) == 2


def _fingerprint_by_definition(rows: list[dict]) -> dict[tuple[str, str], str]:
    """The module docstring's definition, step by step in Python (rows in upload order)."""
    steps: dict[tuple[str, str], list] = {}
    for i, row in enumerate(rows):
        times = [e["timestamp"] for e in row.get("timing_events") or () if e.get("timestamp")]
        line = [row.get("model"), times[0] if times else None, *(row.get(t) for t in TOKENS)]
        key = (row["provider"], row["session_id"])
        steps.setdefault(key, []).append((row["round_index"], i, orjson.dumps(line) + b"\n"))
    out = {}
    for (provider, session), lines in steps.items():
        h = hashlib.sha256(f"fp1\x00{provider}\x00".encode())
        for *_, line in sorted(lines):
            h.update(line)
        out[(provider, session)] = f"fp1:{h.hexdigest()}"
    return out


_MODEL = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["m", "gpt-5", "\x1f\\u001F"]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["s_1", "s_2", "s_3"]),
            st.integers(0, 4),
            _MODEL,
            st.one_of(st.none(), st.integers(-(1 << 63), (1 << 63) - 1)),
        ),
        min_size=1,
        max_size=25,
    ),
    st.integers(1, 7),
)
def test_the_fingerprint_of_any_steps_matches_the_definition(tmp_path_factory, steps, batch):
    # Any model string (control characters, a literal `\u001F`, non-ASCII), extreme token
    # counts, sessions interleaved and split across DuckDB's output batches of `batch` rows.
    import duckdb

    rows = [
        {
            "provider": "codex",
            "session_id": session,
            "round_index": index,
            "model": model,
            "output_tokens": tokens,
            "timing_events": [{"timestamp": "2026-01-01T00:00:01Z"}],
        }
        for session, index, model, tokens in steps
    ]
    path = tmp_path_factory.mktemp("fp") / "rows.parquet"
    write_rows(rows, path)
    with duckdb.connect() as con:
        assert session_fingerprints(con, path, batch_rows=batch) == _fingerprint_by_definition(rows)
