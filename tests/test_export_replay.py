"""`tracelab export replay-csv`: every row of a hand-built trace worked out by hand."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.export import replay_csv
from tracelab.export.replay_csv import COLUMNS, export_replay_csv
from tracelab.io import write_rows


def _rows() -> list[dict]:
    """Four sessions; times are seconds after T0. The trace's earliest step start is 5 s."""
    return [
        # claude:a — starts at 10 s (arrives after codex:b although its id sorts first).
        step(
            "a",
            0,
            prefix=0,
            append=1000,
            output=100,
            first="user_message",
            events=[
                ev("user_message", 10),
                ev("text", 12),
                ev("tool_call", 13, tool_call_id="t1"),
            ],
            tools=[tool("t1", emitted=13, result=20, internal_ms=4000)],  # wall 7000 ms
        ),
        step(
            "a",
            1,
            prefix=1100,
            append=200,
            output=50,
            events=[ev("tool_result", 20, tool_call_id="t1"), ev("text", 22)],
        ),
        step(
            "a",
            2,
            prefix=1300,
            append=30,
            output=7,
            first="user_message",
            events=[ev("user_message", 82), ev("text", 85)],
        ),
        # a result for a call no step emitted: no tool latency → the fallback gap applies
        step(
            "a",
            3,
            prefix=1337,
            append=3,
            output=1,
            events=[ev("tool_result", 90, tool_call_id="zz"), ev("text", 91)],
        ),
        # codex:b — the trace's first step (5 s); b1 has no timing events at all.
        step(
            "b",
            0,
            provider="codex",
            prefix=0,
            append=500,
            output=40,
            first="user_message",
            events=[ev("user_message", 5), ev("text", 6)],
        ),
        step("b", 1, provider="codex", prefix=540, append=60, output=9, first=None),
        # clock skew: this user message (5.5 s) is stamped before b0's text (6 s)
        step(
            "b",
            2,
            provider="codex",
            prefix=600,
            append=10,
            output=2,
            first="user_message",
            events=[ev("user_message", 5.5), ev("text", 7)],
        ),
        # claude:d — its first event has no timestamp: the step starts at its gen start (30 s)
        step(
            "d",
            0,
            prefix=0,
            append=77,
            output=8,
            first="user_message",
            events=[
                {"event_type": "user_message", "timestamp": None, "source": "test"},
                ev("tool_result", 30, tool_call_id="q"),
                ev("text", 31),
            ],
        ),
        # claude:e — two tools in parallel: the next step's first result (the fast tool, 43 s)
        # is not when it is sent; its request goes out with the slow tool's result (60 s).
        step(
            "e",
            0,
            prefix=0,
            append=400,
            output=20,
            first="user_message",
            events=[
                ev("user_message", 40),
                ev("tool_call", 41, tool_call_id="slow"),
                ev("tool_call", 42, tool_call_id="fast"),
            ],
            tools=[
                tool("slow", emitted=41, result=60),
                tool("fast", emitted=42, result=43, index=1),
            ],
        ),
        step(
            "e",
            1,
            prefix=420,
            append=90,
            output=5,
            events=[
                ev("tool_result", 43, tool_call_id="fast"),
                ev("tool_result", 60, tool_call_id="slow"),
                ev("text", 62),
            ],
        ),
        # claude:c — no timestamps at all: last, arrival empty
        step("c", 0, prefix=0, append=5, output=1, first=None, model="mystery-model"),
    ]


def _read(path: Path) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


# (session, arrival_time_ms, round_index, prefix, input, output, duration_ms, wait_after_ms, user,
# provider, model). A step is sent at its generation start (the latest user message / tool
# result before its first output; else its first event) and ends with its last output event;
# times run on one clock per session (never backwards); arrival = that time − 5 s (b0's start,
# the trace's earliest arrival). Check: arrival + duration + wait = the next row's arrival.
EXPECTED = [
    # b0: sent 5 s → 0.0; ends with its text at 6 s → duration 1 000. b1 (no timestamps) takes
    # the clock's time, b0's end (6 s): wait 0.
    ["codex:b", "0.0", "0", "0", "500", "40", "1000.0", "0.0", "true", "codex", "gpt-5.5"],
    # b1: arrival 6 − 5 = 1 000, nothing to end it → duration 0. b2's user message is stamped
    # 5.5 s, before b0 ended (clock skew) → it is sent at 6 s: wait 0.
    ["codex:b", "1000.0", "1", "540", "60", "9", "0.0", "0.0", "false", "codex", "gpt-5.5"],
    # b2: arrival 1 000; its text at 7 s → duration 1 000; last step → empty wait.
    ["codex:b", "1000.0", "2", "600", "10", "2", "1000.0", "", "true", "codex", "gpt-5.5"],
    # a0: 10 − 5 = 5 000; ends with the tool call at 13 s → 3 000; a1 is sent with t1's result
    # at 20 s → wait 7 000 (the tool's wall time here, not its internal 4 000 ms).
    [
        "claude:a",
        "5000.0",
        "0",
        "0",
        "1000",
        "100",
        "3000.0",
        "7000.0",
        "true",
        "claude",
        "claude-opus-4-7",
    ],
    # a1: 20 − 5 = 15 000; text at 22 s → 2 000; a2's user message at 82 s → wait 60 000.
    [
        "claude:a",
        "15000.0",
        "1",
        "1100",
        "200",
        "50",
        "2000.0",
        "60000.0",
        "false",
        "claude",
        "claude-opus-4-7",
    ],
    # a2: 82 − 5 = 77 000; text at 85 s → 3 000; a3's tool result at 90 s → wait 5 000.
    [
        "claude:a",
        "77000.0",
        "2",
        "1300",
        "30",
        "7",
        "3000.0",
        "5000.0",
        "true",
        "claude",
        "claude-opus-4-7",
    ],
    # a3: 90 − 5 = 85 000; text at 91 s → 1 000; last step of the session → empty.
    [
        "claude:a",
        "85000.0",
        "3",
        "1337",
        "3",
        "1",
        "1000.0",
        "",
        "false",
        "claude",
        "claude-opus-4-7",
    ],
    # d0: first event has no timestamp; sent with its tool result at 30 s → 25 000; text 31 s.
    ["claude:d", "25000.0", "0", "0", "77", "8", "1000.0", "", "true", "claude", "claude-opus-4-7"],
    # e0: 40 − 5 = 35 000; ends with the second tool call at 42 s → 2 000. e1 is sent when the
    # slow tool's result is in (60 s), not at the fast one's (43 s) → wait 60 − 42 = 18 000.
    [
        "claude:e",
        "35000.0",
        "0",
        "0",
        "400",
        "20",
        "2000.0",
        "18000.0",
        "true",
        "claude",
        "claude-opus-4-7",
    ],
    # e1: 60 − 5 = 55 000; text at 62 s → 2 000; last.
    [
        "claude:e",
        "55000.0",
        "1",
        "420",
        "90",
        "5",
        "2000.0",
        "",
        "false",
        "claude",
        "claude-opus-4-7",
    ],
    # c0: no timestamps: the session sorts last, arrival, duration and wait empty.
    ["claude:c", "", "0", "0", "5", "1", "", "", "false", "claude", "mystery-model"],
]


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return trace_db(tmp_path, _rows())


def test_rows_worked_out_by_hand(con, tmp_path: Path) -> None:
    out = tmp_path / "replay.csv"
    report = export_replay_csv(con, out)
    table = _read(out)
    assert table[0] == list(COLUMNS)
    assert table[1:] == EXPECTED
    assert (report.rows, report.sessions, report.path) == (11, 5, out)
    assert report.untimed_steps == 1  # b1
    assert report.seconds >= 0


def test_gzip_output(con, tmp_path: Path) -> None:
    out = tmp_path / "replay.csv.gz"
    export_replay_csv(con, out)
    assert _read(out)[1:] == EXPECTED


def test_empty_trace_writes_only_the_header(tmp_path: Path) -> None:
    con = trace_db(tmp_path, [])
    out = tmp_path / "replay.csv"
    report = export_replay_csv(con, out)
    assert _read(out) == [list(COLUMNS)]
    assert (report.rows, report.sessions) == (0, 0)


def test_failed_query_leaves_the_existing_output_untouched(
    con, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "replay.csv"
    out.parent.mkdir()
    out.write_text("previous export\n")
    monkeypatch.setattr(replay_csv, "REPLAY_SQL", "SELECT * FROM no_such_table")
    with pytest.raises(duckdb.Error):
        export_replay_csv(con, out)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["replay.csv"]  # no temp file left


def test_cli_exports_from_a_jsonl_trace(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(_rows(), src)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app, ["export", "replay-csv", "-i", str(src), "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "11 steps of 5 sessions" in result.output
    assert "wait_after_ms" in result.output
    assert _read(out)[1:] == EXPECTED
