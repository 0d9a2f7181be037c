"""Tests for tracelab.tracedb: the DuckDB analysis database built from a normalized trace."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tracelab import tracedb
from tracelab.io import TraceFormatError, write_rows
from tracelab.schema import (
    PRIVATE_TOOL_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    TOOL_FIELDS,
    Row,
    make_trace_key,
)
from tracelab.tracedb import BuildReport, build_db, open_db

FORMATS = (".jsonl", ".jsonl.gz", ".parquet")


def _ev(event_type: str, ts: str, **attrs: object) -> dict:
    return {"event_type": event_type, "timestamp": ts, "source": f"test.{event_type}", **attrs}


def _tool(index: int, name: str, call_id: str, emitted: str, result: str | None, **kw) -> dict:
    tool = {
        "tool_index": index,
        "tool_name": name,
        "tool_call_id": call_id,
        "emitted_at": emitted,
        "result_at": result,
        "input": {"command": "ls -la", "nested": [1, 2]},
        "input_chars": 40,
        "result_chars": None,
        "tool_wall_latency_ms": None,
        "tool_internal_latency_ms": None,
        "is_error": None,
    }
    tool.update(kw)
    return tool


def _row(provider: str, session: str, index: int, round_id: str, **kw: object) -> Row:
    row: Row = {name: None for name in ROW_FIELDS}
    row.update(
        provider=provider,
        session_id=f"{provider}:{session}",
        round_index=index,
        round_id=round_id,
        model="claude-opus-4-1" if provider == "claude" else "gpt-5-codex",
        input_tokens_total=1000 + index,
        prefix_tokens=900,
        newly_append_tokens=100 + index,
        output_tokens=50,
        is_subagent=False,
        user="alice",
        home="/home/alice",
        store=".claude" if provider == "claude" else ".codex",
        timing_events=[],
        tools=[],
        trace_key=make_trace_key(provider, f"{provider}:{session}", round_id),
    )
    row.update(kw)
    return row


def sample_rows() -> list[Row]:
    """Five hand-made steps: 2 sessions (Claude + Codex), a duplicated trace_key, a row with an
    unknown extra field, a row without `tools`, a malformed timestamp, an unfinished tool."""
    claude_0 = _row(
        "claude",
        "s1",
        0,
        "msg_a",
        project="-home-alice-proj",
        session_file="/home/alice/.claude/projects/p/s1.jsonl",
        timing_events=[
            _ev("user_message", "2025-09-01T10:00:00.000Z", content_chars=12),
            _ev("reasoning", "2025-09-01T10:00:01.000Z", content_chars=300),
            _ev("tool_call", "2025-09-01T10:00:01.000Z", tool_call_id="t1", tool_name="Bash"),
        ],
        tools=[
            _tool(
                0,
                "Bash",
                "t1",
                "2025-09-01T10:00:01.000Z",
                "2025-09-01T10:00:03.500Z",
                result_chars=77,
                tool_wall_latency_ms=2500,
                tool_internal_latency_ms=2400,
                is_error=False,
            )
        ],
    )
    claude_1 = _row(
        "claude",
        "s1",
        1,
        "msg_b",
        timing_events=[
            _ev("tool_result", "2025-09-01T10:00:03.500Z", tool_call_id="t1", result_chars=77),
            _ev("text", "2025-09-01T10:00:05.250Z", content_chars=20),
            _ev("tool_call", "2025-09-01T10:00:05.250Z", tool_call_id="t2", tool_name="Read"),
            _ev("tool_call", "2025-09-01T10:00:06.000Z", tool_call_id="t3", tool_name="Edit"),
        ],
        tools=[
            _tool(
                0,
                "Read",
                "t2",
                "2025-09-01T10:00:05.250Z",
                "2025-09-01T10:00:05.300Z",
                tool_wall_latency_ms=50,
                is_error=False,
            ),
            _tool(1, "Edit", "t3", "2025-09-01T10:00:06.000Z", None, is_error=True),
        ],
    )
    # The same step seen again in the backup store: same trace_key, must be kept.
    claude_dup = {**claude_1, "store": ".claude.back"}
    codex_0 = _row(
        "codex",
        "s2",
        0,
        "turn1:0",
        turn_id="turn1",
        cwd="/home/alice/proj",
        reasoning_output_tokens=20,
        a_field_from_the_future={"nested": True},
        timing_events=[
            _ev("user_message", "2025-09-02T08:00:00Z", content_chars=5),
            _ev("tool_call", "2025-09-02T08:00:02Z", tool_call_id="c1", tool_name="exec"),
            _ev("usage_report", "2025-09-02T08:00:02.5Z"),
        ],
        tools=[
            _tool(
                0,
                "exec_command",
                "c1",
                "2025-09-02T08:00:02Z",
                "2025-09-02T08:00:03.100Z",
                tool_wall_latency_ms=1100,
                tool_internal_latency_ms=1002,
                is_error=True,
            )
        ],
    )
    codex_1 = _row(
        "codex",
        "s2",
        1,
        "turn1:1",
        turn_id="turn1",
        timing_events=[
            _ev("tool_result", "not-a-time", tool_call_id="c1", is_error=True),
            _ev("usage_report", "2025-09-02T08:00:09Z"),
        ],
    )
    del codex_1["tools"]  # a row without tools at all
    del codex_1["cwd"]
    return [claude_0, claude_1, claude_dup, codex_0, codex_1]


def _build(tmp_path: Path, suffix: str, rows: list[Row] | None = None) -> tuple[BuildReport, Path]:
    rows = sample_rows() if rows is None else rows
    src = tmp_path / f"trace{suffix}"
    write_rows(rows, src)
    dst = tmp_path / "trace.duckdb"
    return build_db(src, dst), dst


def _tables(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


@pytest.mark.parametrize("suffix", FORMATS)
def test_build_counts_order_and_duplicates(tmp_path: Path, suffix: str) -> None:
    rows = sample_rows()
    report, dst = _build(tmp_path, suffix, rows)
    assert (report.rows, report.skipped_lines) == (5, 0)
    assert report.tool_calls == sum(len(r.get("tools") or []) for r in rows) == 6
    assert report.timing_events == sum(len(r["timing_events"]) for r in rows) == 16
    assert report.seconds > 0

    with open_db(dst) as con:
        got = con.execute("SELECT round_pk, round_id, store FROM rounds").fetchall()
        # round_pk is the 1-based file position (the release's key).
        assert got == [(i, r["round_id"], r["store"]) for i, r in enumerate(rows, 1)]
        dup_key = rows[1]["trace_key"]
        (n,) = con.execute("SELECT count(*) FROM rounds WHERE trace_key = ?", [dup_key]).fetchone()
        assert n == 2
        assert con.execute("SELECT count(*) FROM tool_calls").fetchone() == (6,)
        assert con.execute("SELECT count(*) FROM timing_events").fetchone() == (16,)
        counts = con.execute(
            "SELECT tool_call_count, timing_event_count FROM rounds ORDER BY round_pk"
        ).fetchall()
        assert counts == [(1, 3), (2, 4), (2, 4), (1, 3), (0, 2)]


@pytest.mark.parametrize("suffix", FORMATS)
def test_canonical_shape_comes_from_the_schema(tmp_path: Path, suffix: str) -> None:
    """What the analyses query (open_db's canonical views), whatever the file's layout."""
    _, dst = _build(tmp_path, suffix)
    with open_db(dst) as con:
        scalars = [n for n in ROW_FIELDS if n not in ("tools", "timing_events")]
        assert _tables(con, "rounds") == [
            "round_pk",
            *scalars,
            "started_at",
            "ended_at",
            "tool_call_count",
            "timing_event_count",
        ]
        tool_fields = [n for n in TOOL_FIELDS if n not in PRIVATE_TOOL_FIELDS]
        assert _tables(con, "tool_calls") == [
            "round_pk",
            "tool_pos",
            *tool_fields,
            "provider",
            "session_id",
            "model",
        ]
        assert "input" not in _tables(con, "tool_calls")
        assert _tables(con, "timing_events") == [
            "round_pk",
            "event_pos",
            *TIMING_EVENT_FIELDS,
            "provider",
            "session_id",
        ]
        assert "a_field_from_the_future" not in _tables(con, "rounds")
        types = {r[0]: r[1] for r in con.execute("DESCRIBE tool_calls").fetchall()}
        assert types["emitted_at"] == types["result_at"] == "TIMESTAMP WITH TIME ZONE"
        assert types["is_error"] == "BOOLEAN"
        assert types["tool_wall_latency_ms"] == "BIGINT"


@pytest.mark.parametrize("suffix", FORMATS)
def test_values_timestamps_and_nulls(tmp_path: Path, suffix: str) -> None:
    _, dst = _build(tmp_path, suffix)
    with open_db(dst) as con:
        tools = con.execute(
            "SELECT round_pk, tool_pos, tool_name, tool_wall_latency_ms, tool_internal_latency_ms,"
            " is_error, result_at AT TIME ZONE 'UTC', provider, session_id, model FROM tool_calls"
        ).fetchall()
        assert [t[:6] for t in tools] == [
            (1, 0, "Bash", 2500, 2400, False),
            (2, 0, "Read", 50, None, False),
            (2, 1, "Edit", None, None, True),
            (3, 0, "Read", 50, None, False),
            (3, 1, "Edit", None, None, True),
            (4, 0, "exec_command", 1100, 1002, True),
        ][: len(tools)]
        assert len(tools) == 6  # the duplicated step's tools are kept too
        assert tools[0][6] == datetime(2025, 9, 1, 10, 0, 3, 500_000)
        assert tools[2][6] is None  # unfinished tool
        assert tools[5][7:] == ("codex", "codex:s2", "gpt-5-codex")

        started, ended = con.execute(
            "SELECT started_at AT TIME ZONE 'UTC', ended_at AT TIME ZONE 'UTC' "
            "FROM rounds WHERE round_pk = 4"
        ).fetchone()
        assert started == datetime(2025, 9, 2, 8, 0, 0)
        assert ended == datetime(2025, 9, 2, 8, 0, 2, 500_000)

        # Malformed timestamp -> NULL, the rest of the event intact.
        event = con.execute(
            "SELECT timestamp IS NULL, event_type, tool_call_id, is_error, content_chars "
            "FROM timing_events WHERE round_pk = 5 AND event_pos = 0"
        ).fetchone()
        assert event == (True, "tool_result", "c1", True, None)
        assert con.execute(
            "SELECT started_at IS NULL FROM rounds WHERE round_pk = 5"
        ).fetchone() == (True,)
        # Missing fields are NULL; a missing tools list counts 0 tools.
        row = con.execute(
            "SELECT cwd, project, tool_call_count, reasoning_output_tokens, turn_id "
            "FROM rounds WHERE round_pk = 5"
        ).fetchone()
        assert row == (None, None, 0, None, "turn1")
        assert con.execute("SELECT cwd FROM rounds WHERE round_pk = 4").fetchone() == (
            "/home/alice/proj",
        )
        # Typed TIMESTAMPTZ (fetching it as Python datetime needs pytz: convert in SQL first).
        (ts_type,) = con.execute("SELECT typeof(timestamp) FROM timing_events LIMIT 1").fetchone()
        assert ts_type == "TIMESTAMP WITH TIME ZONE"
        (ms,) = con.execute(
            "SELECT epoch_ms(result_at) - epoch_ms(emitted_at) FROM tool_calls "
            "WHERE round_pk = 1 AND tool_pos = 0"
        ).fetchone()
        assert ms == 2500


def test_meta_table(tmp_path: Path) -> None:
    _, dst = _build(tmp_path, ".jsonl")
    with open_db(dst) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert meta["source_file"] == "trace.jsonl"
    assert meta["source_format"] == "jsonl"
    assert (meta["rows"], meta["tool_calls"], meta["timing_events"]) == ("5", "6", "16")
    assert meta["skipped_lines"] == "0"
    assert meta["tracelab_version"]
    assert meta["built_at"].endswith("Z")


def test_public_style_rows_without_private_fields(tmp_path: Path) -> None:
    """Sanitized rows lack session_file/cwd/home and tools[].input; unknown fields are ignored."""
    rows = []
    for row in sample_rows():
        row = {k: v for k, v in row.items() if k not in ("session_file", "cwd", "home")}
        row["tools"] = [
            {k: v for k, v in t.items() if k != "input"} for t in row.get("tools") or []
        ]
        row["sanitizer_version"] = "1.0"
        rows.append(row)
    src = tmp_path / "syfi_coding_trace.jsonl.gz"
    write_rows(rows, src)
    report = build_db(src, tmp_path / "public.duckdb")
    assert (report.rows, report.tool_calls, report.skipped_lines) == (5, 6, 0)
    with open_db(tmp_path / "public.duckdb") as con:
        assert con.execute("SELECT count(session_file), count(home) FROM rounds").fetchone() == (
            0,
            0,
        )


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(sample_rows(), src)
    with open(src, "ab") as fh:
        fh.write(b'{"provider": "claude", "session_id": "claude:s1", "tools": [{"tool_na')
    report = build_db(src, tmp_path / "t.duckdb")
    assert (report.rows, report.skipped_lines) == (5, 1)
    with open_db(tmp_path / "t.duckdb") as con:
        assert con.execute("SELECT max(round_pk), count(*) FROM rounds").fetchone() == (5, 5)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        assert meta["skipped_lines"] == "1"


def test_bad_lines_in_the_middle_keep_round_pk_dense(tmp_path: Path) -> None:
    rows = sample_rows()
    src = tmp_path / "trace.jsonl"
    write_rows(rows, src)
    lines = src.read_bytes().splitlines(keepends=True)
    junk = [b"this is not json\n", b"[1, 2, 3]\n", b'{"type": "assistant"}\n', b"\n"]
    src.write_bytes(b"".join(lines[:2] + junk + lines[2:]))
    report = build_db(src, tmp_path / "t.duckdb")
    assert (report.rows, report.skipped_lines) == (5, 3)  # the blank line is not a record
    with open_db(tmp_path / "t.duckdb") as con:
        got = con.execute("SELECT round_pk, round_id, store FROM rounds").fetchall()
        assert got == [(i, r["round_id"], r["store"]) for i, r in enumerate(rows, 1)]
        assert con.execute("SELECT DISTINCT round_pk FROM tool_calls ORDER BY 1").fetchall() == [
            (1,),
            (2,),
            (3,),
            (4,),
        ]


def test_truncated_gzip_keeps_the_good_rows(tmp_path: Path) -> None:
    base = sample_rows()
    rows = [
        {**base[i % 5], "round_id": f"r{i}", "round_index": i, "trace_key": f"k{i}"}
        for i in range(400)
    ]
    src = tmp_path / "trace.jsonl.gz"
    write_rows(rows, src)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    report = build_db(src, tmp_path / "t.duckdb")
    assert 0 < report.rows < 400
    assert report.skipped_lines == 1
    with open_db(tmp_path / "t.duckdb") as con:
        got = con.execute("SELECT round_pk, round_id FROM rounds").fetchall()
    assert got == [(i + 1, f"r{i}") for i in range(report.rows)]
    assert {p.name for p in tmp_path.iterdir()} == {"trace.jsonl.gz", "t.duckdb"}  # no leftovers


def test_order_is_kept_on_a_file_read_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small read buffers split the file across threads; round_pk must still follow the file."""
    monkeypatch.setattr(tracedb, "MAX_LINE_BYTES", 256 * 1024)
    n = 60_000
    rows = [
        {"provider": "codex", "session_id": f"codex:{i // 100}", "round_index": i, "round_id": "x"}
        for i in range(n)
    ]
    src = tmp_path / "big.jsonl"
    write_rows(rows, src)
    report = build_db(src, tmp_path / "big.duckdb")
    assert report.rows == n
    with open_db(tmp_path / "big.duckdb") as con:
        sql = "SELECT count(*) FROM rounds WHERE round_pk <> round_index + 1"
        (bad,) = con.execute(sql).fetchone()
    assert bad == 0


def test_empty_source_builds_an_empty_db(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    report = build_db(src, tmp_path / "e.duckdb")
    assert (report.rows, report.tool_calls, report.timing_events, report.skipped_lines) == (
        0,
        0,
        0,
        0,
    )
    with open_db(tmp_path / "e.duckdb") as con:
        assert con.execute("SELECT count(*) FROM rounds").fetchone() == (0,)


def test_progress_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(sample_rows(), src)
    seen: list[int] = []
    build_db(src, tmp_path / "t.duckdb", progress=seen.append)
    assert seen and seen[-1] == 5


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_failed_build_keeps_the_previous_db(tmp_path: Path) -> None:
    _, dst = _build(tmp_path, ".jsonl")
    before = _snapshot(tmp_path)

    # A raw Claude log is JSONL but not a normalized trace.
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(
        b'{"type": "user", "sessionId": "abc", "cwd": "/x", "message": {"content": "hi"}}\n'
        b'{"type": "assistant", "sessionId": "abc", "message": {"id": "msg_1"}}\n'
    )
    before["raw.jsonl"] = raw.read_bytes()
    with pytest.raises(TraceFormatError):
        build_db(raw, dst)
    assert _snapshot(tmp_path) == before

    # Not gzip at all, though named .gz.
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b"definitely not gzip\n")
    before["fake.jsonl.gz"] = fake.read_bytes()
    with pytest.raises(TraceFormatError):
        build_db(fake, dst)
    assert _snapshot(tmp_path) == before

    with pytest.raises(TraceFormatError):
        build_db(tmp_path / "notes.txt", dst)
    with pytest.raises(FileNotFoundError):
        build_db(tmp_path / "missing.jsonl", dst)
    assert _snapshot(tmp_path) == before


def test_crash_mid_build_keeps_the_previous_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, dst = _build(tmp_path, ".jsonl")
    before = _snapshot(tmp_path)

    def boom(*args: object) -> list[str]:
        raise KeyboardInterrupt  # e.g. Ctrl-C half way

    monkeypatch.setattr(tracedb, "_tables_sql", boom)
    with pytest.raises(KeyboardInterrupt):
        build_db(tmp_path / "trace.jsonl", dst)
    assert _snapshot(tmp_path) == before


def test_rebuild_replaces_the_db(tmp_path: Path) -> None:
    _, dst = _build(tmp_path, ".jsonl")
    src2 = tmp_path / "two.jsonl"
    write_rows(sample_rows()[:2], src2)
    assert build_db(src2, dst).rows == 2
    with open_db(dst) as con:
        assert con.execute("SELECT count(*) FROM rounds").fetchone() == (2,)


def test_open_db(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_db(tmp_path / "nope.duckdb")
    _, dst = _build(tmp_path, ".jsonl")
    with open_db(dst) as con, pytest.raises(duckdb.Error):
        con.execute("DELETE FROM rounds")
    with open_db(dst, read_only=False) as con:
        con.execute("CREATE VIEW claude AS SELECT * FROM rounds WHERE provider = 'claude'")
        assert con.execute("SELECT count(*) FROM claude").fetchone() == (3,)
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_memory_limit_of_a_reading_connection(tmp_path: Path, monkeypatch) -> None:
    """600 MB by default, the caller's limit when given (analyze --no-figures: 1500 MB), and
    TRACELAB_MEMORY_LIMIT over both."""
    _, dst = _build(tmp_path, ".jsonl")
    sql = "SELECT current_setting('memory_limit')"
    monkeypatch.delenv("TRACELAB_MEMORY_LIMIT", raising=False)
    with open_db(dst) as con:
        assert con.execute(sql).fetchone()[0] == "572.2 MiB"  # 600 * 10**6 bytes
    with open_db(dst, memory_limit=tracedb.TABLES_MEMORY_LIMIT) as con:
        assert con.execute(sql).fetchone()[0] == "1.3 GiB"  # 1500 * 10**6 bytes
    monkeypatch.setenv("TRACELAB_MEMORY_LIMIT", "300MB")
    with open_db(dst, memory_limit="1500MB") as con:
        assert con.execute(sql).fetchone()[0] == "286.1 MiB"  # 300 * 10**6 bytes


def test_gzip_source_reads_like_plain(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    write_rows(sample_rows(), plain)
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a = build_db(plain, tmp_path / "a.duckdb")
    b = build_db(gz, tmp_path / "b.duckdb")
    assert (a.rows, a.tool_calls, a.timing_events) == (b.rows, b.tool_calls, b.timing_events)
