"""§13's approval audit: the class of each Codex call from its raw `function_call` record, on a
hand-written rollout with every class and on the real Codex fixture; skipped with its reason
when the trace names no readable raw log. Expected values are worked out by hand in comments.
"""

from __future__ import annotations

import pytest

from conftest import REAL_HOME, needs_fixtures
from rawlogs import (
    _x,
    codex_path,
    run,
    usage_x,
    write,
    x_meta,
    x_reasoning,
    x_task_started,
    x_tokens,
    x_turn,
    x_user,
)
from tracebuilder import step, tool, trace_db
from tracelab.experiments.tool_calls.codex_wall_internal_gap import codex_wall_internal_gap
from tracelab.keys import load_or_create_key
from tracelab.metrics import wall_gap
from tracelab.sanitize import sanitize_file
from tracelab.sources import codex_permissions as cp
from tracelab.tracedb import build_db, open_db

TURN = "01a7c9e4-0001-7000-8000-000000000001"


def test_permission_class_of_the_arguments():
    assert cp.permission_class('{"cmd":"make","sandbox_permissions":"require_escalated"}') == (
        "require_escalated"
    )
    assert cp.permission_class('{"sandbox_permissions":"use_default"}') == "sandbox_use_default"
    assert cp.permission_class({"sandbox_permissions": "use_default"}) == "sandbox_use_default"
    for no_arg in ('{"cmd":"ls"}', '{"sandbox_permissions":null}', '{"sandbox_permissions":""}'):
        assert cp.permission_class(no_arg) == "no_escalation_arg", no_arg
    assert cp.permission_class("not json") == "no_escalation_arg"
    assert cp.permission_class('["a list"]') == "no_escalation_arg"
    assert cp.permission_class(None) == "no_escalation_arg"
    # free text never becomes a class name
    assert cp.permission_class('{"sandbox_permissions":"rm -rf /home/me"}') == "sandbox_other"
    assert cp.permission_class('{"sandbox_permissions":{"x":1}}') == "sandbox_other"


def _fcall(call_id: str, name: str, arguments: str, second: int) -> dict:
    payload = {"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id}
    return _x("response_item", payload, second)


def _out(call_id: str, internal_s: float, second: int, kind: str = "function_call_output") -> dict:
    text = f"Chunk ID: a\nWall time: {internal_s:.4f} seconds\nProcess exited with code 0\n"
    return _x("response_item", {"type": kind, "call_id": call_id, "output": text}, second)


def _rollout() -> list[dict]:
    """One turn, two steps. Step 1 (second 2) calls four tools; step 2 (second 103) ends it.
    wall = output second − 2, internal = the output's `Wall time`, gap = wall − internal:
      e1 exec_command  require_escalated  wall 100,000  internal 1,000  gap 99,000 (≤10 m)
      e2 exec_command  use_default        wall   2,000  internal   500  gap  1,500 (≤10 s)
      w1 write_stdin   (no argument)      wall   5,000  internal 5,000  gap      0 (≤1 s)
      p1 apply_patch   custom_tool_call   wall   1,000  internal   250  gap    750 (≤1 s)
    p1 has no function_call record: raw_missing."""
    step1, step2 = usage_x(1000, 0, 50), usage_x(1200, 1000, 20)
    total2 = {k: step1[k] + step2[k] for k in step1}
    patch = {"type": "custom_tool_call", "name": "apply_patch", "input": "*** Begin Patch"}
    return [
        x_meta(),
        x_task_started(TURN, 1),
        x_turn(TURN, 1),
        x_user("build it", 1),
        x_reasoning(2),
        _fcall("e1", "exec_command", '{"cmd":"make","sandbox_permissions":"require_escalated"}', 2),
        _fcall("e2", "exec_command", '{"cmd":"ls","sandbox_permissions":"use_default"}', 2),
        _fcall("w1", "write_stdin", '{"session_id":7,"chars":""}', 2),
        _x("response_item", {**patch, "call_id": "p1"}, 2),
        x_tokens(step1, step1, 2),
        _out("p1", 0.25, 3, kind="custom_tool_call_output"),
        _out("e2", 0.5, 4),
        _out("w1", 5.0, 7),
        _out("e1", 1.0, 102),
        x_reasoning(103),
        x_tokens(total2, step2, 103),
    ]


@pytest.fixture
def private_trace(tmp_path):
    home = tmp_path / "home"
    raw = write(codex_path(home), _rollout())
    trace = tmp_path / "trace.jsonl"
    run(home, output=trace)
    return trace, raw


def _con(trace, tmp_path):
    db = tmp_path / f"{trace.stem}.duckdb"
    build_db(trace, db)
    return open_db(db)


def test_every_class_on_a_hand_written_log(private_trace, tmp_path):
    trace, _ = private_trace
    con = _con(trace, tmp_path)
    result = codex_wall_internal_gap.compute(con)
    by_class = result.table("codex_approval_by_class").rows
    # (tool, class, calls, Σ wall, Σ internal, Σ gap, gap > 1 m), by tool then class
    assert by_class == [
        ["apply_patch", "raw_missing", 1, 1_000, 250, 750, 0],
        ["exec_command", "require_escalated", 1, 100_000, 1_000, 99_000, 1],
        ["exec_command", "sandbox_use_default", 1, 2_000, 500, 1_500, 0],
        ["write_stdin", "no_escalation_arg", 1, 5_000, 5_000, 0, 0],
    ]
    buckets = [r[:3] for r in result.table("codex_approval_by_bucket").rows]
    assert buckets == [
        ["apply_patch", "raw_missing", "≤1 s"],
        ["exec_command", "require_escalated", "≤10 m"],
        ["exec_command", "sandbox_use_default", "≤10 s"],
        ["write_stdin", "no_escalation_arg", "≤1 s"],
    ]
    examples = result.table("codex_approval_examples").records()
    # only e1's gap (99 s) is over 60 s
    assert [(r["call id"], r["class"], r["gap"]) for r in examples] == [
        ("e1", "require_escalated", 99_000)
    ]
    # one call per class, so the classes are listed alphabetically
    assert (
        "Approval audit of 4 valid execution_like / write_stdin calls against 1 raw Codex log: "
        "no_escalation_arg 1 (0.0s of gap), raw_missing 1 (0.75s of gap), require_escalated 1 "
        "(1.6m of gap), sandbox_use_default 1 (1.5s of gap)."  # 99,000 ms = 1.65 min
    ) in result.text


def test_skipped_with_its_reason(private_trace, tmp_path):
    trace, raw = private_trace
    claude_only = trace_db(tmp_path / "claude", [step("c", 0, tools=[tool("t", "Bash", 0, 1)])])
    text = codex_wall_internal_gap.compute(claude_only).text
    assert "no valid Codex execution_like or write_stdin call" in text
    public = tmp_path / "public.jsonl"
    sanitize_file(trace, public, load_or_create_key())
    result = codex_wall_internal_gap.compute(_con(public, tmp_path))
    assert "approval audit" in result.text and "does not name its raw Codex logs" in result.text
    assert not [t for t in result.tables if t.name.startswith("codex_approval")]
    raw.unlink()  # the private trace names a log that is gone
    result = codex_wall_internal_gap.compute(_con(trace, tmp_path))
    assert "none of the 1 raw Codex log this trace names can be read here" in result.text
    assert not [t for t in result.tables if t.name.startswith("codex_approval")]


def test_reading_the_logs_lists_unreadable_ones(private_trace, tmp_path):
    _, raw = private_trace
    empty = write(tmp_path / "empty.jsonl", b"")
    gone = str(tmp_path / "gone.jsonl")
    got = cp.read_logs([str(raw), gone, str(empty), str(raw)])
    # the three function_call records of the rollout (p1 is a custom_tool_call): each log once
    assert sorted(zip(got.session_files, got.call_ids, got.classes, strict=True)) == [
        (str(raw), "e1", "require_escalated"),
        (str(raw), "e2", "sandbox_use_default"),
        (str(raw), "w1", "no_escalation_arg"),
    ]
    assert (got.files, got.unreadable) == (3, [gone])


def test_an_unreadable_log_of_several_makes_its_calls_raw_missing(tmp_path):
    home = tmp_path / "home"
    write(codex_path(home), _rollout())
    other = "01a7c9e4-0000-7000-8000-000000000002"
    raw2 = write(
        codex_path(home, session=other, stamp="10-05-00"), [x_meta(other), *_rollout()[1:]]
    )
    trace = tmp_path / "trace.jsonl"
    run(home, output=trace)
    raw2.unlink()
    result = codex_wall_internal_gap.compute(_con(trace, tmp_path))
    by_class = {(r[0], r[1]): r[2] for r in result.table("codex_approval_by_class").rows}
    # the readable log's 4 calls as before; the gone log's 4 calls are all raw_missing
    assert by_class == {
        ("apply_patch", "raw_missing"): 2,
        ("exec_command", "raw_missing"): 2,
        ("exec_command", "require_escalated"): 1,
        ("exec_command", "sandbox_use_default"): 1,
        ("write_stdin", "no_escalation_arg"): 1,
        ("write_stdin", "raw_missing"): 1,
    }
    assert "against 2 raw Codex logs" in result.text
    assert "1 of the logs could not be read" in result.text


@needs_fixtures
def test_the_real_codex_fixture(tmp_path):
    trace = tmp_path / "real.jsonl"
    run(REAL_HOME, output=trace)
    con = _con(trace, tmp_path)
    result = codex_wall_internal_gap.compute(con)
    # No function_call of the real rollout has `sandbox_permissions` (its arguments are cmd,
    # workdir, max_output_tokens, yield_time_ms / session_id, chars, …): every audited call is
    # no_escalation_arg. Audited = valid exec_command / write_stdin calls, wall from the raw
    # timestamps, internal from each output's `Wall time:` (ms, rounded):
    #   exec_command: 67+79+1176+91+176+57+62+58 = 1766 wall, 1002 + 10 = 1012 internal
    #     (the others report 0.0000 s), gap 1766 − 1012 = 754, none over 1 min
    #   write_stdin call_Qw8L: 10:06:13.380 − 10:06:08.378 = 5002 wall, 5001 internal → gap 1;
    #     call_mE4b's output has no `Wall time:` (internal null): not valid, not audited
    assert result.table("codex_approval_by_class").rows == [
        ["exec_command", "no_escalation_arg", 8, 1_766, 1_012, 754, 0],
        ["write_stdin", "no_escalation_arg", 1, 5_002, 5_001, 1, 0],
    ]
    assert result.table("codex_approval_examples").rows == []
    assert "against 1 raw Codex log: no_escalation_arg 9" in result.text
    files, calls, unnamed = wall_gap.audit_files(con)
    assert (len(files), calls, unnamed) == (1, 9, 0) and files[0].endswith(".jsonl")
