"""Robustness of collection against bad, partial, moving and hostile raw logs.

Every raw log here is built by hand (tests/rawlogs.py) in a fake home with the real layouts.
Each test checks that the run finishes, that every good row is kept (exact step and tool counts,
exact token values derived from the hand-written usage), and that what was skipped is counted
and reported (report.file_problems / skipped_files / skipped_lines).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest

import rawlogs as R
from tracelab import collect as collect_mod
from tracelab import io as io_mod
from tracelab.io import read_rows, write_rows
from tracelab.sources import reader as reader_mod
from tracelab.sources.common import SourceContext

# --- helpers ----------------------------------------------------------------------------


def ids(rows: list[dict]) -> list[str]:
    return [r["round_id"] for r in rows]


def problems(report, path: Path) -> str:
    return " | ".join(report.file_problems.get(str(path), []))


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# --- truncated last line, then completed --------------------------------------------------


@pytest.mark.parametrize("split_message", [False, True])
def test_claude_truncated_last_line_then_completed(tmp_path: Path, split_message: bool):
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.claude_path(home)
    lines = R.claude_session(2)  # msg_1 (text + tool), result, msg_2 (text)
    if split_message:
        # msg_3 written as two lines; the second (bigger usage) is the one cut off
        lines += R.claude_step("msg_3", R.usage_c(3, 0, 0, 1), 40, thinking="hm", text=None)
        last = R.claude_step("msg_3", R.usage_c(3, 0, 0, 50), 41, text="final")[0]
    else:
        last = R.claude_step("msg_3", R.usage_c(3, 30, 300, 1003), 40)[0]
    complete = R.encode([*lines, last])
    cut = len(complete) - 25  # inside the last record, no newline yet
    R.write(path, complete[:cut])

    report, rows = R.run(home, cache=cache)
    expected_first = ["msg_1", "msg_2", "msg_3"] if split_message else ["msg_1", "msg_2"]
    assert ids(rows) == expected_first
    if split_message:
        assert R.tokens_c(rows[2]) == (3, 0, 0, 1)  # only the first snapshot was complete
    assert "last line incomplete" in problems(report, path)
    assert report.skipped_lines == 0  # an unfinished line is not an unreadable one

    offset = complete.rfind(b"\n", 0, cut) + 1  # start of the unfinished line
    R.append(path, complete[cut:])
    R.bump_mtime(path)
    report2, rows2 = R.run(home, cache=cache)
    assert ids(rows2) == ["msg_1", "msg_2", "msg_3"]
    assert R.tokens_c(rows2[2]) == ((3, 0, 0, 50) if split_message else (3, 30, 300, 1003))
    assert report2.bytes_parsed == len(complete) - offset  # resumed: only the new part read
    assert report2.file_problems == {}
    fresh_report, fresh = R.run(home)
    assert fresh_report.bytes_parsed == len(complete)
    assert rows2 == fresh


def test_codex_truncated_token_count_then_completed(tmp_path: Path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.codex_path(home)
    b = R.codex_session(2)
    b.step(R.codex_usage(3), text="third")
    complete = b.data()
    # cut inside the first token_count of step 3 (the echo after it is not written yet)
    tc = orjson.dumps(b.lines[-2])
    start = complete.rfind(tc, 0, len(complete) - len(tc) - 1)
    cut = start + len(tc) // 2
    R.write(path, complete[:cut])

    report, rows = R.run(home, cache=cache)
    assert [R.tokens_x(r) for r in rows] == [
        R.usage_tuple_x(R.codex_usage(1)),
        R.usage_tuple_x(R.codex_usage(2)),
    ]
    assert "last line incomplete" in problems(report, path)

    R.append(path, complete[cut:])
    R.bump_mtime(path)
    report2, rows2 = R.run(home, cache=cache)
    assert [r["round_id"].rsplit(":", 1)[1] for r in rows2] == ["0", "1", "2"]
    assert R.tokens_x(rows2[2]) == R.usage_tuple_x(R.codex_usage(3))
    assert report2.bytes_parsed == len(complete) - start
    assert rows2 == R.run(home)[1]


# --- appended / rewritten files -----------------------------------------------------------


def test_appended_steps_incremental_equals_fresh(tmp_path: Path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    lines = R.claude_session(3)
    R.write(cpath, lines)
    xb = R.codex_session(2)
    R.write(xpath, xb.data())
    report, _ = R.run(home, cache=cache)
    assert report.rows == 5 and report.bytes_parsed == report.bytes

    more_c = R.encode(
        [R.c_tool_result("toolu_3", "late", 45), *R.claude_step("msg_4", R.usage_c(4, 0, 0, 4), 50)]
    )
    before = len(xb.data())
    xb.step(R.codex_usage(3), calls=["call_3"]).step(R.codex_usage(4))
    more_x = xb.data()[before:]
    R.append(cpath, more_c)
    R.append(xpath, more_x)
    report2, rows2 = R.run(home, cache=cache)
    assert report2.bytes_parsed == len(more_c) + len(more_x)
    assert report2.cached_files == 0
    _, fresh = R.run(home)
    assert rows2 == fresh
    assert report2.rows == 4 + 4
    # msg_3 called no tool: the late result for toolu_3 is unmatched, and reported
    assert "without a matching call" in problems(report2, cpath)

    report3, rows3 = R.run(home, cache=cache)  # nothing changed: both files from the cache
    assert report3.cached_files == 2 and report3.bytes_parsed == 0
    assert rows3 == fresh


def test_rewritten_same_size_detected(tmp_path: Path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.claude_path(home)
    R.write(path, R.claude_session(3))
    R.run(home, cache=cache)
    data = path.read_bytes()
    new = data.replace(b'"output_tokens":1002', b'"output_tokens":7777')
    assert new != data and len(new) == len(data)
    path.write_bytes(new)
    R.bump_mtime(path)
    report, rows = R.run(home, cache=cache)
    assert R.tokens_c(rows[1])[3] == 7777
    assert report.cached_files == 0
    assert rows == R.run(home)[1]


@pytest.mark.parametrize("pad", [0, 10_000])
def test_rewritten_larger_detected(tmp_path: Path, pad: int):
    """A rewrite that is longer than the cached prefix must not be resumed as if it grew,
    even when only an early record changed (pad makes the prefix larger than any tail check)."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.claude_path(home)
    head = [R.c_user("x" * pad, 0)]
    R.write(path, [*head, *R.claude_session(3)])
    R.run(home, cache=cache)
    rewritten = [R.c_user("y" * pad, 0), *R.claude_session(3)]
    rewritten[3]["message"]["id"] = "msg_other"  # first response of msg_1 renamed
    rewritten += R.claude_step("msg_9", R.usage_c(9, 9, 9, 9), 90)
    R.write(path, rewritten)
    R.bump_mtime(path)
    report, rows = R.run(home, cache=cache)
    _, fresh = R.run(home)
    assert rows == fresh
    assert "msg_other" in ids(rows) and "msg_9" in ids(rows)
    assert report.bytes_parsed == path.stat().st_size  # re-read from the start


def test_shrunk_file_is_reparsed(tmp_path: Path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.claude_path(home)
    R.write(path, R.claude_session(4))
    R.run(home, cache=cache)
    R.write(path, R.claude_session(2))
    R.bump_mtime(path)
    _, rows = R.run(home, cache=cache)
    assert ids(rows) == ["msg_1", "msg_2"]


# --- no-op re-runs and the output file ----------------------------------------------------


def test_no_change_rerun_is_noop_and_deleted_output_rebuilt(tmp_path: Path):
    home, cache, out = tmp_path / "home", tmp_path / "cache", tmp_path / "out" / "trace.jsonl"
    R.write(R.claude_path(home), R.claude_session(3))
    R.write(R.codex_path(home), R.codex_session(2).data())
    report, _ = R.run(home, cache=cache, output=out, keep=False)
    assert not report.up_to_date and report.rows == 5
    content, stamp = out.read_bytes(), out.stat().st_mtime_ns

    again, rows = R.run(home, cache=cache, output=out, keep=False)
    assert again.up_to_date and rows == [] and again.bytes_parsed == 0
    assert again.rows == 5 and again.groups == report.groups
    assert out.read_bytes() == content and out.stat().st_mtime_ns == stamp

    out.unlink()
    rebuilt, _ = R.run(home, cache=cache, output=out, keep=False)
    assert not rebuilt.up_to_date and rebuilt.rows == 5
    assert out.read_bytes() == content

    out.write_bytes(content[:100])  # damaged output: rebuilt as well
    fixed, _ = R.run(home, cache=cache, output=out, keep=False)
    assert not fixed.up_to_date and out.read_bytes() == content
    assert no_temp_files(out.parent)


def test_changed_input_is_not_up_to_date(tmp_path: Path):
    home, cache, out = tmp_path / "home", tmp_path / "cache", tmp_path / "trace.jsonl"
    path = R.claude_path(home)
    R.write(path, R.claude_session(2))
    R.run(home, cache=cache, output=out, keep=False)
    R.append(path, R.encode(R.claude_step("msg_3", R.usage_c(1, 1, 1, 1), 30)))
    report, _ = R.run(home, cache=cache, output=out, keep=False)
    assert not report.up_to_date and report.rows == 3
    assert [r["round_id"] for r in read_rows(out)] == ["msg_1", "msg_2", "msg_3"]


# --- bad lines ----------------------------------------------------------------------------


def test_invalid_utf8_in_string_is_repaired_and_counted(tmp_path: Path):
    home = tmp_path / "home"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    lines: list = R.claude_session(2)
    bad = R.encode(R.claude_step("msg_3", R.usage_c(3, 3, 3, 3), 30, text="caf\xe9 MARK"))
    bad = bad.replace(b"MARK", b"\xff\xfe\xc3(")  # invalid UTF-8 inside the text value
    R.write(cpath, R.encode(lines) + bad)
    xb = R.codex_session(2)
    xdata = xb.data().replace(b'"step 1"', b'"step \xed\xa0\x80 1"', 2)  # encoded surrogate
    R.write(xpath, xdata)

    report, rows = R.run(home)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert ids(claude) == ["msg_1", "msg_2", "msg_3"]
    assert R.tokens_c(claude[2]) == (3, 3, 3, 3)
    assert len(codex) == 2 and [len(r["tools"]) for r in codex] == [1, 0]
    assert report.skipped_lines == 0
    assert "1 line(s) with invalid UTF-8" in problems(report, cpath)
    assert "2 line(s) with invalid UTF-8" in problems(report, xpath)


def test_lone_surrogate_escape_is_repaired(tmp_path: Path):
    """JavaScript's JSON.stringify writes a cut emoji as a lone `\\ud83d` escape (a Claude Code
    tool output truncated mid-pair). The line is valid for most JSON readers and must be kept."""
    home = tmp_path / "home"
    path = R.claude_path(home)
    lines = R.claude_session(2)
    text_line = R.encode(R.claude_step("msg_3", R.usage_c(3, 3, 3, 3), 30, text="cut SURR"))
    text_line = text_line.replace(b"SURR", b"\\ud83d")
    result = R.encode([R.c_tool_result("toolu_1", "emoji \\udc00 half", 12)])
    result = result.replace(b"\\\\udc00", b"\\udc00")  # un-double the escaped backslash
    R.write(path, R.encode(lines) + result + text_line)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2", "msg_3"]
    assert R.tokens_c(rows[2]) == (3, 3, 3, 3)
    assert report.skipped_lines == 0
    assert "2 line(s) with invalid UTF-8" in problems(report, path)
    out = tmp_path / "trace.jsonl"
    write_rows(rows, out)  # repaired strings must be writable
    assert len(list(read_rows(out))) == 3


def test_complete_last_line_without_newline_with_invalid_utf8_is_kept(tmp_path: Path):
    home = tmp_path / "home"
    path = R.claude_path(home)
    tail = R.encode(R.claude_step("msg_3", R.usage_c(3, 3, 3, 3), 30, text="MARK")).rstrip(b"\n")
    R.write(path, R.encode(R.claude_session(2)) + tail.replace(b"MARK", b"\xff"))
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2", "msg_3"]
    assert "last line incomplete" not in problems(report, path)
    assert "1 line(s) with invalid UTF-8" in problems(report, path)


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path):
    home = tmp_path / "home"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    c = R.claude_session(3)
    not_json = [b"{not json", b"\x00\x00\x00", b'{"type": "assistant", "message": {'[:20]]
    not_object = [b"[1, 2]", b'"a string"', b"42", b"null", b"true"]
    unknown = [{"type": "brand-new-record"}, {"no_type": 1}, {"type": ["a", "list"]}]
    unknown_dict = {"type": {"a": 1}}
    R.write(cpath, [*c[:2], *not_json, *c[2:5], *not_object, *unknown, unknown_dict, *c[5:]])
    xb = R.codex_session(3)
    x = xb.lines
    xweird = [
        {"timestamp": R.ts(1), "type": "future_record", "payload": {}},
        {"timestamp": R.ts(1), "type": ["list"], "payload": {}},
        {"timestamp": R.ts(1), "type": "response_item", "payload": {"type": ["list"]}},
        {"timestamp": R.ts(1), "type": "event_msg", "payload": {"type": {"d": 1}}},
        {"timestamp": R.ts(1), "type": "response_item", "payload": "not a dict"},
        {"timestamp": R.ts(1), "type": "event_msg"},
    ]
    R.write(xpath, [*x[:3], *not_json, *xweird, *x[3:8], *not_object, *x[8:]])

    report, rows = R.run(home)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert ids(claude) == ["msg_1", "msg_2", "msg_3"]
    assert [len(r["tools"]) for r in claude] == [1, 1, 0]
    assert [R.tokens_c(r) for r in claude] == [
        R.usage_tuple_c(R.usage_c(k, 10 * k, 100 * k, 1000 + k)) for k in (1, 2, 3)
    ]
    assert [R.tokens_x(r) for r in codex] == [R.usage_tuple_x(R.codex_usage(k)) for k in (1, 2, 3)]
    assert [len(r["tools"]) for r in codex] == [1, 1, 0]
    assert report.skipped_lines == 2 * (len(not_json) + len(not_object))
    for path in (cpath, xpath):
        text = problems(report, path)
        assert f"{len(not_json)} line(s) not valid JSON" in text
        assert f"{len(not_object)} line(s) not a JSON object" in text
        assert "unknown record types ignored" in text
    assert "brand-new-record" in problems(report, cpath)
    assert "future_record" in problems(report, xpath)


def test_missing_or_null_usage(tmp_path: Path):
    home = tmp_path / "home"
    path = R.claude_path(home)
    lines = [
        R.c_user("hi", 0),
        # msg_a: usage missing on every line → the step is kept, tokens unknown
        R.c_assistant("msg_a", R.c_text("a"), None, 1, drop_usage=True),
        # msg_b: null usage on the first line, a real snapshot on the second
        R.c_assistant("msg_b", R.c_thinking("t"), None, 2),
        R.c_assistant("msg_b", R.c_text("b"), R.usage_c(5, 6, 7, 8), 3, stop_reason="end_turn"),
        # msg_c: usage is not a dict
        R.c_assistant("msg_c", R.c_text("c"), [1, 2], 4),  # type: ignore[arg-type]
    ]
    R.write(path, lines)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_a", "msg_b", "msg_c"]
    assert R.tokens_c(rows[0]) == (None, None, None, None)
    assert rows[0]["input_tokens_total"] is None
    assert R.tokens_c(rows[1]) == (5, 6, 7, 8)
    assert rows[1]["input_tokens_total"] == 18 and rows[1]["prefix_tokens"] == 7
    assert R.tokens_c(rows[2]) == (None, None, None, None)
    assert report.skipped_lines == 0


def test_codex_null_or_partial_info(tmp_path: Path):
    home = tmp_path / "home"
    path = R.codex_path(home)
    b = R.CodexBuilder().turn("t1")
    b.lines += [
        R.x_tokens(None, None, 1),  # info: null (before the first call: rate limits only)
        R._x("event_msg", {"type": "token_count"}, 1),  # info missing
        R._x("event_msg", {"type": "token_count", "info": {"total_token_usage": {}}}, 1),
        R._x("event_msg", {"type": "token_count", "info": "garbage"}, 1),
        R.x_tokens(R.usage_x(1, 1, 1), None, 1),  # last_token_usage null
    ]
    b.step(R.codex_usage(1), calls=["call_1"])
    b.lines.append(R.x_tokens(None, None, 5))
    b.step(R.codex_usage(2))
    R.write(path, b.data())
    report, rows = R.run(home)
    assert [R.tokens_x(r) for r in rows] == [R.usage_tuple_x(R.codex_usage(k)) for k in (1, 2)]
    assert [r["round_id"] for r in rows] == ["t1:0", "t1:1"]
    assert report.skipped_lines == 0


def test_non_integer_usage_values(tmp_path: Path):
    home = tmp_path / "home"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    usage = {
        "input_tokens": 12.0,
        "cache_creation_input_tokens": "12",
        "cache_read_input_tokens": "abc",
        "output_tokens": 7,
    }
    huge = {"input_tokens": 1e300, "output_tokens": "1e400", "cache_read_input_tokens": -1e30}
    R.write(
        cpath,
        [
            *R.claude_step("msg_1", usage, 1),
            *R.claude_step("msg_2", {**R.usage_c(1, 2, 3, 4), "output_tokens": 4.5}, 2),
            *R.claude_step("msg_3", huge, 3),
            *R.claude_step("msg_4", {"input_tokens": True, "output_tokens": [1]}, 4),
        ],
    )
    xb = R.CodexBuilder().turn("t1")
    xb.lines.append(
        R.x_tokens(
            {"input_tokens": "100", "output_tokens": 1},
            {"input_tokens": "100", "cached_input_tokens": 40.0, "output_tokens": "x"},
            1,
        )
    )
    xb.lines.append(
        R.x_tokens({"input_tokens": 1e300}, {"input_tokens": 1e300, "cached_input_tokens": 1}, 2)
    )
    R.write(xpath, xb.data())
    out = tmp_path / "trace.jsonl"
    report, rows = R.run(home, output=out)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert ids(claude) == ["msg_1", "msg_2", "msg_3", "msg_4"]
    # 12.0 and "12" are counts; "abc" is not a count (→ 0 in the sums)
    assert R.tokens_c(claude[0]) == (12, 12, 0, 7)
    assert claude[0]["input_tokens_total"] == 24
    assert claude[1]["output_tokens"] == 0  # 4.5 tokens is not a count
    # values no int64 column can hold are not counts either: the run must still write output
    assert all(abs(v or 0) < 2**63 for v in R.tokens_c(claude[2]))
    assert R.tokens_c(claude[3]) == (0, 0, 0, 0)
    assert [(r["input_tokens_total"], r["prefix_tokens"]) for r in codex[:1]] == [(100, 40)]
    assert codex[0]["newly_append_tokens"] == 60 and codex[0]["output_tokens"] == 0
    assert len(codex) == 2 and abs(codex[1]["input_tokens_total"]) < 2**63
    assert len(list(read_rows(out))) == 6
    assert report.rows == 6


def test_huge_runner_durations_do_not_crash(tmp_path: Path):
    """Runner-reported durations are parsed from free text / JSON: absurd ones are unknown."""
    home = tmp_path / "home"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    R.write(
        cpath,
        [
            R.c_user("go", 0),
            *R.claude_step("msg_1", R.usage_c(1, 1, 1, 1), 1, tools=["toolu_1", "toolu_2"]),
            R.c_tool_result("toolu_1", "x", 2, duration_ms=1e308),
            {
                **R.c_tool_result("toolu_2", "y", 3),
                "toolUseResult": {"durationSeconds": 1e308},
            },
            *R.claude_step("msg_2", R.usage_c(2, 2, 2, 2), 4),
        ],
    )
    xb = R.CodexBuilder().turn("t1")
    xb.step(R.codex_usage(1), calls=["call_1", "call_2"])
    xb.lines[-2] = R.x_output("call_1", "Wall time: " + "9" * 400 + " seconds\nExit code: 0", 3)
    xb.lines[-1] = R.x_output("call_2", "Process exited with code " + "7" * 5000, 3)
    xb.step(R.codex_usage(2))
    R.write(xpath, xb.data())
    out = tmp_path / "trace.jsonl"
    report, rows = R.run(home, output=out)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert len(claude) == 2 and len(codex) == 2
    assert [t["tool_internal_latency_ms"] for t in claude[0]["tools"]] == [None, None]
    assert [t["result_chars"] for t in claude[0]["tools"]] == [1, 1]
    tools = codex[0]["tools"]
    assert tools[0]["tool_internal_latency_ms"] is None and tools[0]["is_error"] is False
    assert tools[1]["is_error"] is True
    assert report.rows == 4 and len(list(read_rows(out))) == 4


def test_tool_results_without_calls_and_calls_without_results(tmp_path: Path):
    home = tmp_path / "home"
    cpath, xpath = R.claude_path(home), R.codex_path(home)
    R.write(
        cpath,
        [
            R.c_user("go", 0),
            R.c_tool_result("toolu_ghost", "orphan", 1),  # no call anywhere
            *R.claude_step("msg_1", R.usage_c(1, 1, 1, 1), 2, tools=["toolu_1", "toolu_2"]),
            R.c_tool_result("toolu_2", "two", 5),  # toolu_1 never gets a result
            *R.claude_step("msg_2", R.usage_c(2, 2, 2, 2), 6),
        ],
    )
    xb = R.CodexBuilder().turn("t1")
    xb.lines.append(R.x_output("call_ghost", "orphan", 1))
    xb.step(R.codex_usage(1), calls=["call_1", "call_2"])
    del xb.lines[-2]  # call_1's output never arrives (interrupted)
    xb.step(R.codex_usage(2))
    R.write(xpath, xb.data())

    report, rows = R.run(home)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert len(claude) == 2 and len(codex) == 2
    # the orphan result is an input event of the first step, not a tool
    assert claude[0]["current_tool_result_count"] == 1
    assert codex[0]["current_tool_result_count"] == 1
    unfinished = ("result_at", "result_chars", "tool_wall_latency_ms", "is_error")
    for row in (claude[0], codex[0]):
        first, second = row["tools"]
        assert all(first[k] is None for k in (*unfinished, "tool_internal_latency_ms"))
        assert all(second[k] is not None for k in unfinished)
    assert claude[0]["tools"][1]["tool_wall_latency_ms"] == 3000  # 10:00:05 − 10:00:02
    assert "1× tool result(s) without a matching call" in problems(report, cpath)
    assert "1× tool output(s) without a matching call" in problems(report, xpath)


def test_empty_and_bookkeeping_only_files(tmp_path: Path):
    home = tmp_path / "home"
    R.write(R.claude_path(home, "empty"), b"")
    R.write(R.claude_path(home, "blank"), b"\n\n  \n\r\n")
    R.write(R.claude_path(home, "books"), [R.c_bookkeeping(), R.c_bookkeeping("summary")])
    R.write(R.codex_path(home, "01a7c9e4-0000-7000-8000-0000000000ee"), b"")
    R.write(R.claude_path(home), R.claude_session(2))
    report, rows = R.run(home)
    assert report.files == 5 and ids(rows) == ["msg_1", "msg_2"]
    assert report.skipped_files == [] and report.skipped_lines == 0
    assert report.file_problems == {}


# --- files that move under our feet ---------------------------------------------------------


def test_parse_source_on_missing_file():
    ctx = SourceContext(path="/nonexistent/dir/x.jsonl", provider="claude", store=".claude")
    outcome = collect_mod.parse_source(ctx, None)
    assert outcome.error == "vanished during the scan" and outcome.lines == []


def test_file_vanishing_between_discovery_and_parse(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    gone = R.write(R.claude_path(home, "aaaa-gone"), R.claude_session(2))
    kept = R.write(R.claude_path(home), R.claude_session(3))
    real_discover = collect_mod.discover

    def discover_then_delete(homes, skipped):
        found = list(real_discover(homes, skipped))
        gone.unlink()
        return iter(found)

    monkeypatch.setattr(collect_mod, "discover", discover_then_delete)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2", "msg_3"]
    assert {r["session_file"] for r in rows} == {str(kept)}
    assert [(s.path, s.reason) for s in report.skipped_files] == [
        (str(gone), "vanished during the scan")
    ]


def test_file_growing_during_the_scan(tmp_path: Path, monkeypatch):
    """Bytes appended after the file was measured wait for the next run (then only they are
    read); a half-written line appended meanwhile is not counted."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.write(R.claude_path(home), R.claude_session(2))
    extra = R.encode(R.claude_step("msg_3", R.usage_c(3, 3, 3, 3), 30))
    real_read = reader_mod._read_from
    calls = []

    def grow_then_read(fh, start, count):
        # The agent appends after the collector measured the file, before it reads it.
        if not calls:
            R.append(path, extra + b'{"type": "assis')
        calls.append(start)
        return real_read(fh, start, count)

    monkeypatch.setattr(reader_mod, "_read_from", grow_then_read)
    report, rows = R.run(home, cache=cache)
    assert ids(rows) == ["msg_1", "msg_2"]
    assert report.file_problems == {}

    report2, rows2 = R.run(home, cache=cache)
    assert ids(rows2) == ["msg_1", "msg_2", "msg_3"]
    assert report2.bytes_parsed == len(extra) + len(b'{"type": "assis')
    assert "last line incomplete" in problems(report2, path)


# --- symlinks, permissions, special files ---------------------------------------------------


def test_symlink_to_outside_the_store_is_not_read(tmp_path: Path):
    home = tmp_path / "home"
    outside = R.write(tmp_path / "outside" / "secret.jsonl", R.claude_session(2, first=50))
    R.write(R.claude_path(home), R.claude_session(2))
    link = R.claude_path(home, "linked")
    link.symlink_to(outside)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2"]
    assert [(s.path, s.reason) for s in report.skipped_files] == [
        (str(link), "symlink points outside the store")
    ]


def test_symlink_inside_the_store_is_read(tmp_path: Path):
    home = tmp_path / "home"
    target = R.write(R.claude_path(home, "real", project="-other"), R.claude_session(1))
    alias = R.claude_path(home, "alias")
    alias.parent.mkdir(parents=True)
    alias.symlink_to(target)
    report, rows = R.run(home)
    assert report.skipped_files == [] and len(rows) == 2  # two session keys, same content


def test_symlinked_directory_is_not_followed(tmp_path: Path):
    home = tmp_path / "home"
    R.write(tmp_path / "outside" / "proj" / "s.jsonl", R.claude_session(2, first=50))
    R.write(R.claude_path(home), R.claude_session(2))
    link = home / ".claude" / "projects" / "-linked"
    link.symlink_to(tmp_path / "outside" / "proj", target_is_directory=True)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2"]
    assert [(s.path, s.reason) for s in report.skipped_files] == [
        (str(link), "symlinked directory not followed")
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file_is_reported(tmp_path: Path):
    home = tmp_path / "home"
    locked = R.write(R.claude_path(home, "locked"), R.claude_session(2, first=50))
    R.write(R.claude_path(home), R.claude_session(2))
    locked.chmod(0)
    try:
        report, rows = R.run(home)
    finally:
        locked.chmod(0o600)
    assert ids(rows) == ["msg_1", "msg_2"]
    assert [(s.path, s.reason) for s in report.skipped_files] == [
        (str(locked), "permission denied")
    ]


def test_fifo_named_jsonl_does_not_hang(tmp_path: Path):
    """A named pipe in the store would block `open` forever: it is not a log file."""
    home = tmp_path / "home"
    R.write(R.claude_path(home), R.claude_session(2))
    fifo = R.claude_path(home, "pipe")
    os.mkfifo(fifo)
    result: dict = {}

    def target():
        result["value"] = R.run(home)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the stuck open() before failing
        with open(fifo, "wb"):
            pass
        worker.join(timeout=10)
        pytest.fail("collect blocked on a FIFO in the store")
    report, rows = result["value"]
    assert ids(rows) == ["msg_1", "msg_2"]
    assert str(fifo) in [s.path for s in report.skipped_files]


# --- dedup ----------------------------------------------------------------------------------


def test_claude_backup_store_dedup_first_wins(tmp_path: Path):
    home = tmp_path / "home"
    R.write(R.claude_path(home), R.claude_session(3))
    # the backup holds the same session with one more step, and a session of its own
    R.write(R.claude_path(home, store=".claude.back"), R.claude_session(4))
    only_back = "0e0e0e0e-0000-4000-8000-000000000000"
    R.write(
        R.claude_path(home, only_back, store=".claude.back"),
        R.claude_session(2, first=20, session=only_back),
    )
    report, rows = R.run(home)
    assert report.duplicates_dropped == 3
    # .claude first, then .claude.back in sorted path order (0e0e… before 5b1f…)
    assert [(r["round_id"], r["store"]) for r in rows] == [
        ("msg_1", ".claude"),
        ("msg_2", ".claude"),
        ("msg_3", ".claude"),
        ("msg_20", ".claude.back"),
        ("msg_21", ".claude.back"),
        ("msg_4", ".claude.back"),
    ]
    assert len({r["trace_key"] for r in rows}) == 6
    assert report.groups["home\tclaude"].sessions == 2


def test_codex_subagent_replay_dedup(tmp_path: Path):
    home = tmp_path / "home"
    parent = "01a7c9e4-0000-7000-8000-000000000001"
    child = "01a7c9e5-0000-7000-8000-000000000002"
    p_turn1, p_turn2 = "01a7c9e4-1111-7000-8000-000000000001", "01a7c9e4-2222-7000-8000-00000001"
    c_turn = "01a7c9e5-1111-7000-8000-000000000001"

    pb = R.CodexBuilder(parent).turn(p_turn1)
    pb.step(R.codex_usage(1), calls=["call_p1"]).step(R.codex_usage(2))
    pb.turn(p_turn2).step(R.codex_usage(3))
    R.write(R.codex_path(home, parent, "10-00-00"), pb.data())

    # the child file: its own meta, the parent's meta, the parent's history replayed, then
    # its own turn
    cb = R.CodexBuilder(child, parent=parent)
    cb.lines += pb.lines
    cb.total = dict(pb.total)
    cb.second = pb.second
    cb.turn(c_turn).step(R.codex_usage(4), calls=["call_c1"]).step(R.codex_usage(5))
    R.write(R.codex_path(home, child, "10-05-00"), cb.data())

    report, rows = R.run(home)
    assert report.duplicates_dropped == 3
    assert [(r["session_id"], r["round_id"], r["is_subagent"]) for r in rows] == [
        (f"codex:{parent}", f"{p_turn1}:0", False),
        (f"codex:{parent}", f"{p_turn1}:1", False),
        (f"codex:{parent}", f"{p_turn2}:0", False),
        (f"codex:{child}", f"{c_turn}:0", True),
        (f"codex:{child}", f"{c_turn}:1", True),
    ]
    assert [R.tokens_x(r) for r in rows] == [R.usage_tuple_x(R.codex_usage(k)) for k in range(1, 6)]
    assert [r["round_index"] for r in rows] == [0, 1, 2, 0, 1]
    assert [len(r["tools"]) for r in rows] == [1, 0, 0, 1, 0]
    assert report.groups["home\tcodex"].sessions == 2


# --- atomic output --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trace.jsonl", "trace.jsonl.gz", "trace.parquet"])
def test_write_rows_failing_midway_keeps_previous_output(tmp_path: Path, name: str):
    home = tmp_path / "home"
    R.write(R.claude_path(home), R.claude_session(3))
    _, rows = R.run(home)
    out = tmp_path / "out" / name
    write_rows(rows[:1], out)
    before = out.read_bytes()

    def failing():
        yield from rows[:2]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_rows(failing(), out)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == [name]


def test_collect_failing_while_writing_keeps_previous_output(tmp_path: Path, monkeypatch):
    home, cache, out = tmp_path / "home", tmp_path / "cache", tmp_path / "out" / "trace.jsonl"
    path = R.write(R.claude_path(home), R.claude_session(2))
    R.run(home, cache=cache, output=out, keep=False)
    before = out.read_bytes()
    R.append(path, R.encode(R.claude_step("msg_3", R.usage_c(3, 3, 3, 3), 30)))

    real_open = io_mod._open_jsonl

    class DiskFull:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(io_mod, "_open_jsonl", lambda p, fmt: DiskFull(real_open(p, fmt)))
    with pytest.raises(OSError):
        R.run(home, cache=cache, output=out, keep=False)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["trace.jsonl"]

    monkeypatch.setattr(io_mod, "_open_jsonl", real_open)
    report, _ = R.run(home, cache=cache, output=out, keep=False)
    assert not report.up_to_date  # the failed run must not have marked the output current
    assert [r["round_id"] for r in read_rows(out)] == ["msg_1", "msg_2", "msg_3"]


def test_rewritten_early_record_in_large_file_detected(tmp_path: Path):
    """Only the first record changes (same length) and the file grows: the bytes just before
    the old end are identical, yet the old state must not be resumed."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    path = R.claude_path(home)
    body = [R.c_user("x" * 10_000, 5), *R.claude_session(3)]
    R.write(path, [*R.claude_step("msg_0", R.usage_c(1, 1, 1, 11), 0), *body])
    R.run(home, cache=cache)
    more = R.claude_step("msg_9", R.usage_c(9, 9, 9, 9), 90)
    R.write(path, [*R.claude_step("msg_0", R.usage_c(1, 1, 1, 22), 0), *body, *more])
    R.bump_mtime(path)
    report, rows = R.run(home, cache=cache)
    assert R.tokens_c(rows[0]) == (1, 1, 1, 22)
    assert report.bytes_parsed == path.stat().st_size  # re-read from the start
    assert rows == R.run(home)[1]


def test_parser_crash_skips_only_that_file(tmp_path: Path, monkeypatch):
    """Spec §5: a file that cannot be parsed is skipped, reported, and does not stop the run."""
    home = tmp_path / "home"
    bad = R.write(R.claude_path(home, "bad"), R.claude_session(2, first=50))
    R.write(R.claude_path(home), R.claude_session(2))
    real_feed = reader_mod.ClaudeParser.feed

    def feed(self, line):
        if self.ctx.path == str(bad):
            raise ValueError("unexpected shape")
        real_feed(self, line)

    monkeypatch.setattr(reader_mod.ClaudeParser, "feed", feed)
    report, rows = R.run(home)
    assert ids(rows) == ["msg_1", "msg_2"]
    assert [(s.path, s.reason) for s in report.skipped_files] == [
        (str(bad), "could not be parsed (ValueError: unexpected shape)")
    ]


def test_deeply_nested_tool_input_does_not_crash(tmp_path: Path):
    home = tmp_path / "home"
    path = R.claude_path(home)
    lines = R.claude_session(2)
    deep = R.c_assistant(
        "msg_3", R.c_tool_use("toolu_d", inp={"x": "DEEP"}), R.usage_c(3, 3, 3, 3), 30
    )
    nested = b"[" * 300 + b"1" + b"]" * 300  # readable (orjson: 1024), not writable (255)
    deep_line = R.encode([deep]).replace(b'"DEEP"', nested)
    more = R.encode(R.claude_step("msg_4", R.usage_c(4, 4, 4, 4), 40))
    R.write(path, R.encode(lines) + deep_line + more)
    out = tmp_path / "trace.jsonl"
    report, rows = R.run(home, output=out)
    # The step is kept; only its unwritable raw tool input is dropped (its size is kept), and
    # the file's problems say so.
    assert ids(rows) == ["msg_1", "msg_2", "msg_3", "msg_4"]
    deep_tool = rows[2]["tools"][0]
    assert deep_tool["input"] is None and deep_tool["input_chars"] == len('{"x":') + 601 + 1
    assert any("nested too deeply" in p for p in report.file_problems[str(path)])
    assert len(list(read_rows(out))) == 4


# --- a Codex log format without usage data ---------------------------------------------------


def test_codex_log_without_usage_is_a_skipped_session(tmp_path: Path):
    """The rollout format seen from September 2025 carries the conversation but no token usage
    (every token_count has `info: null`): its session is skipped and said to be, not reported
    as ignored record types with "0 lines skipped"."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    bare = "01a7c9e4-0000-7000-8000-0000000000aa"
    turn = "01a7c9e4-aaaa-7000-8000-000000000001"
    no_usage = R.write(
        R.codex_path(home, bare, "09-00-00"),
        [
            R.x_meta(bare),
            R.x_turn(turn, 1),
            R.x_user("fix the bug", 1),
            R.x_reasoning(2),
            R.x_call("call_a", 2),
            R.x_tokens(None, None, 2),  # a token count without usage
            R.x_output("call_a", second=3),
            R.x_agent_message("done", 4),
            R.x_message("done", 4),
            R.x_tokens(None, None, 4),
        ],
    )
    counted = R.write(R.codex_path(home), R.codex_session(2).data())
    for _ in range(2):  # parsed, then replayed from the cache: the same report
        report, rows = R.run(home, cache=cache)
        assert [r["session_file"] for r in rows] == [str(counted)] * 2
        assert [(s.path, s.reason) for s in report.skipped_files] == [
            (str(no_usage), "its log has no usage data")
        ]
        assert report.file_problems == {} and report.skipped_lines == 0


def test_codex_log_still_waiting_for_its_first_count_is_not_flagged_without_output(
    tmp_path: Path,
):
    """A session whose model has not answered yet (only the user's prompt) is no format
    problem: nothing is skipped or reported."""
    home = tmp_path / "home"
    R.write(R.codex_path(home), [R.x_meta(), R.x_turn("t1", 1), R.x_user("hi", 1)])
    report, rows = R.run(home)
    assert rows == [] and report.skipped_files == [] and report.file_problems == {}


# --- two homes, one folder name ---------------------------------------------------------------


def test_homes_sharing_a_folder_name_are_two_users(tmp_path: Path):
    from tracelab.collect import collect
    from tracelab.sources.discover import home_for

    first, second = tmp_path / "a" / "alice", tmp_path / "b" / "alice"
    R.write(R.claude_path(first), R.claude_session(2))
    other = "0e0e0e0e-0000-4000-8000-000000000000"
    R.write(R.claude_path(second, other), R.claude_session(3, session=other))
    report, rows = collect([home_for(first), home_for(second)], cache=False, workers=1)
    users = {r["home"]: r["user"] for r in rows}
    assert len(set(users.values())) == 2
    assert all(u.startswith("alice#") and len(u) == len("alice#") + 6 for u in users.values())
    # one group per user, each with its own session and steps
    steps = {key.split("\t")[0]: g.steps for key, g in report.groups.items()}
    assert steps == {users[str(first)]: 2, users[str(second)]: 3}
    # the same home twice, or a home alone, keeps the plain name
    _, rows = collect([home_for(first), home_for(first)], cache=False, workers=1)
    assert {r["user"] for r in rows} == {"alice"}
    _, rows = collect([home_for(first)], cache=False, workers=1)
    assert {r["user"] for r in rows} == {"alice"}
