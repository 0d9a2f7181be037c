"""The serving exports' step clock, as a property: within a session arrivals never go back,
durations and waits are ≥ 0, and arrival + duration + wait_after = the next arrival exactly —
on random hand-built traces (clock skew, missing timestamps, shuffled rows), on a synthetic
trace (`synth` → `collect`) and on the fixture traces. The exports must also agree with each
other: Mooncake's timestamp is the replay CSV's arrival rounded, vLLM's delays are its waits.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, REAL_HOME, needs_fixtures
from tracebuilder import ev, step, tool, trace_db
from tracelab.collect import collect_home
from tracelab.export.mooncake import export_mooncake
from tracelab.export.replay_csv import export_replay_csv
from tracelab.export.vllm_multiturn import export_vllm_multiturn
from tracelab.io import write_rows
from tracelab.metrics.steps import prepare
from tracelab.synth import generate_home
from tracelab.tracedb import build_db, open_db


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def check_clock(csv_path: Path) -> dict[str, list[dict]]:
    """Assert the clock invariants on a replay CSV; return its rows by session."""
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    sessions: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        sessions[row["session_id"]].append(row)
    for session, steps in sessions.items():
        assert [int(r["round_index"]) for r in steps] == list(range(len(steps))), session
        timed = steps[0]["arrival_time_ms"] != ""
        for here, nxt in zip(steps, [*steps[1:], None], strict=True):
            arrival, duration = _dec(here["arrival_time_ms"]), _dec(here["duration_ms"])
            wait = _dec(here["wait_after_ms"])
            if not timed:  # a session without any timestamp: no clock at all
                assert (arrival, duration, wait) == (None, None, None), session
                continue
            assert arrival is not None and arrival >= 0, session
            assert duration is not None and duration >= 0, session
            if nxt is None:
                assert wait is None, session  # the last step waits for nothing
                continue
            assert wait is not None and wait >= 0, session
            # exact: the printed values are whole microseconds in ms (Decimal adds exactly)
            assert arrival + duration + wait == _dec(nxt["arrival_time_ms"]), (session, here)
    return sessions


def check_exports(con: duckdb.DuckDBPyConnection, out: Path) -> dict[str, list[dict]]:
    """Export all three formats from `con`; check the clock and that they agree."""
    sessions = check_clock(_export_csv(con, out))
    export_mooncake(con, out / "mooncake.jsonl")
    last_ts: dict[str, int] = {}
    for line in (out / "mooncake.jsonl").read_text().splitlines():
        req = json.loads(line)
        arrival = _dec(sessions[req["session_id"]][req["round_index"]]["arrival_time_ms"])
        assert req["timestamp"] == int(arrival.quantize(Decimal(1), ROUND_HALF_UP))
        assert req["timestamp"] >= last_ts.get(req["session_id"], 0)  # never back in time
        last_ts[req["session_id"]] = req["timestamp"]
    export_vllm_multiturn(con, out / "conversations.json")
    for conv in json.loads((out / "conversations.json").read_text()):
        steps = sessions[conv["id"]]
        waits = [None] + [_dec(r["wait_after_ms"]) for r in steps[:-1]]
        assert [None if d is None else Decimal(str(d)) for d in conv["delays_ms"]] == waits
    return sessions


def _export_csv(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    path = out / "replay.csv"
    export_replay_csv(con, path)
    return path


def _db_of(rows: list[dict], folder: Path) -> duckdb.DuckDBPyConnection:
    src, db = folder / "trace.jsonl", folder / "trace.duckdb"
    write_rows(rows, src)
    build_db(src, db)
    con = open_db(db)
    prepare(con)
    return con


# --- random hand-built traces -------------------------------------------------------------

_TYPES = ("user_message", "tool_result", "reasoning", "text", "tool_call")
_event = st.tuples(
    st.sampled_from(_TYPES), st.one_of(st.none(), st.integers(0, 300)), st.integers(0, 3)
)
_step = st.tuples(
    st.lists(_event, max_size=5),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300), st.integers(0, 60)), max_size=2),
)
_trace = st.lists(st.lists(_step, min_size=1, max_size=5), min_size=1, max_size=3)


def _rows_of(trace: list) -> list[dict]:
    """Normalized rows of a drawn trace: events at drawn seconds (some unstamped, in any time
    order), tool calls linking steps."""
    rows = []
    for s, steps in enumerate(trace):
        for i, (events, tools) in enumerate(steps):
            evs = []
            for kind, at, call in events:
                e = ev(kind, at or 0, tool_call_id=f"{s}-{call}")
                if at is None:
                    e["timestamp"] = None
                evs.append(e)
            first = next((k for k, *_ in events if k in ("user_message", "tool_result")), None)
            calls = [
                tool(f"{s}-{call}", emitted=at, result=at + took, index=n)
                for n, (call, at, took) in enumerate(tools)
            ]
            rows.append(
                step(f"s{s}", i, prefix=100 * i, append=10, output=5, first=first, events=evs,
                     tools=calls)
            )  # fmt: skip
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=_trace, shuffle=st.randoms(use_true_random=False))
def test_clock_invariants_on_random_traces(trace: list, shuffle) -> None:
    rows = _rows_of(trace)
    shuffle.shuffle(rows)  # file order is not step order
    with tempfile.TemporaryDirectory() as tmp:
        con = _db_of(rows, Path(tmp))
        check_exports(con, Path(tmp))


def test_clock_on_a_hand_built_skewed_session(tmp_path: Path) -> None:
    # x0 sent at 10 s (its tool result), ends 12 s; x1 stamped 11 s (before x0 ended) → sent at
    # 12 s; its output stamped 9 s → it ends when it is sent (duration 0); x2 has no timestamps
    # → sent and ended at 12 s; x3 sent at 20 s. Origin: 10 s.
    rows = [
        step("x", 0, events=[ev("tool_result", 10), ev("text", 12)]),
        step("x", 1, events=[ev("tool_result", 11), ev("text", 9)]),
        step("x", 2, first=None),
        step("x", 3, events=[ev("user_message", 20), ev("text", 25)], first="user_message"),
    ]
    con = trace_db(tmp_path, rows)
    sessions = check_exports(con, tmp_path)
    clock = [
        (r["arrival_time_ms"], r["duration_ms"], r["wait_after_ms"]) for r in sessions["claude:x"]
    ]
    assert clock == [
        ("0.0", "2000.0", "0.0"),
        ("2000.0", "0.0", "0.0"),
        ("2000.0", "0.0", "8000.0"),
        ("10000.0", "5000.0", ""),
    ]


# --- synthetic and fixture traces ---------------------------------------------------------


def test_clock_on_a_synthetic_trace(tmp_path: Path) -> None:
    generate_home(tmp_path / "home", sessions=8, seed=11, workers=1)
    _, rows = collect_home(tmp_path / "home")
    con = _db_of(rows, tmp_path)
    sessions = check_exports(con, tmp_path)
    pairs = sum(len(steps) - 1 for steps in sessions.values())
    assert pairs > 100  # a real workload, not a degenerate one


@needs_fixtures
def test_clock_on_the_real_fixture_home(tmp_path: Path) -> None:
    _, rows = collect_home(REAL_HOME)
    con = _db_of(rows, tmp_path)
    sessions = check_exports(con, tmp_path)
    assert sorted(len(s) for s in sessions.values()) == [9, 10]  # the fixtures' README


@needs_fixtures
def test_clock_on_the_public_dataset_fixture(tmp_path: Path) -> None:
    db = tmp_path / "trace.duckdb"
    build_db(FIXTURES / "public-dataset/public-trace.jsonl.gz", db)
    con = open_db(db)
    prepare(con)
    sessions = check_exports(con, tmp_path)
    assert (len(sessions), sum(map(len, sessions.values()))) == (8, 149)  # fixtures' README


def test_property_checker_catches_a_broken_clock(tmp_path: Path) -> None:
    """The checker is not vacuous: a wait one microsecond too long fails it."""
    path = tmp_path / "replay.csv"
    path.write_text(
        "session_id,arrival_time_ms,round_index,duration_ms,wait_after_ms\n"
        "s,0.0,0,1.0,2.001\n"
        "s,3.0,1,1.0,\n"
    )
    with pytest.raises(AssertionError):
        check_clock(path)
    path.write_text(path.read_text().replace("2.001", "2.0"))
    check_clock(path)
