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
        # claude:c — no timestamps at all: last, arrival empty
        step("c", 0, prefix=0, append=5, output=1, first=None, model="mystery-model"),
    ]


def _read(path: Path) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


# (session, arrival_time_ms, round_index, prefix, input, output, wait_after_ms, user, provider,
# model) — arrival = step start − 5 s (the earliest step start of the trace).
EXPECTED = [
    # b0: starts 5 s → 0.0. Next step b1 is neither user- nor tool-initiated (no idle gap) and
    # has no event to measure the fallback gap to → empty.
    ["codex:b", "0.0", "0", "0", "500", "40", "", "true", "codex", "gpt-5.5"],
    # b1: no timestamp → empty arrival. Next step b2's human wait = previous event of the
    # session (b0's text at 6 s) → its user message at 5.5 s = −500 ms → clamped to 0.
    ["codex:b", "", "1", "540", "60", "9", "0.0", "false", "codex", "gpt-5.5"],
    # b2: 5.5 s − 5 s = 500 ms; the session's last step → empty wait.
    ["codex:b", "500.0", "2", "600", "10", "2", "", "true", "codex", "gpt-5.5"],
    # a0: 10 − 5 = 5 000 ms; next step a1 is tool-initiated: t1's internal latency 4 000 ms
    # (not its wall latency 20 − 13 = 7 000 ms).
    ["claude:a", "5000.0", "0", "0", "1000", "100", "4000.0", "true", "claude", "claude-opus-4-7"],
    # a1: 20 − 5 = 15 000; next step a2 is user-initiated: human wait = a1's text at 22 s →
    # user message at 82 s = 60 000 ms.
    [
        "claude:a",
        "15000.0",
        "1",
        "1100",
        "200",
        "50",
        "60000.0",
        "false",
        "claude",
        "claude-opus-4-7",
    ],
    # a2: 82 − 5 = 77 000; a3's tool result has no known call → no tool latency → fallback:
    # a2's last output (text, 85 s) → a3's first event (90 s) = 5 000 ms.
    ["claude:a", "77000.0", "2", "1300", "30", "7", "5000.0", "true", "claude", "claude-opus-4-7"],
    # a3: 90 − 5 = 85 000; last step of the session → empty.
    ["claude:a", "85000.0", "3", "1337", "3", "1", "", "false", "claude", "claude-opus-4-7"],
    # d0: first event has no timestamp → gen start (the tool_result at 30 s) − 5 s = 25 000.
    ["claude:d", "25000.0", "0", "0", "77", "8", "", "true", "claude", "claude-opus-4-7"],
    # c0: no timestamps: the session sorts last, arrival empty.
    ["claude:c", "", "0", "0", "5", "1", "", "false", "claude", "mystery-model"],
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
    assert (report.rows, report.sessions, report.path) == (9, 4, out)
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
    assert "9 steps of 4 sessions" in result.output
    assert "wait_after_ms" in result.output
    assert _read(out)[1:] == EXPECTED
