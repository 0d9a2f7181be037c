"""Cache-write tiers, subagent parent links and replayed steps (normalized-format §7).

Hand-built raw logs in the real layouts (`tests/rawlogs.py`); every expected value is derived
by hand from the lines written here, as the comments say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import tracelab.collect as collect_mod
from rawlogs import (
    CLAUDE_PROJECT,
    CLAUDE_SESSION,
    CodexBuilder,
    c_tool_result,
    c_user,
    claude_path,
    claude_session,
    claude_step,
    codex_path,
    codex_usage,
    run,
    usage_c,
    write,
)
from tracelab.collect import CollectReport, collect
from tracelab.display import collect_report
from tracelab.io import read_rows
from tracelab.sanitize import sanitize_row
from tracelab.sources.discover import home_for

PARENT = f"claude:{CLAUDE_SESSION}"
SUBDIR = f"{CLAUDE_SESSION}/subagents"


def subagent_path(home: Path, name: str) -> Path:
    return home / ".claude/projects" / CLAUDE_PROJECT / SUBDIR / f"{name}.jsonl"


def sidechain(records: list[dict], agent_id: str, session: str = CLAUDE_SESSION) -> list[dict]:
    """Records as a subagent writes them: sidechain, the parent's sessionId, its agentId."""
    return [{**r, "isSidechain": True, "sessionId": session, "agentId": agent_id} for r in records]


def by_session(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["session_id"], []).append(r)
    return out


# --- cache-write tiers ------------------------------------------------------------------


def with_split(usage: dict, five: int, hour: int) -> dict:
    split = {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}
    return {**usage, "cache_creation": split}


def test_cache_write_tiers_from_the_kept_snapshot_or_null(tmp_path: Path) -> None:
    lines = [c_user("hi", 0)]
    # msg_a: two lines; the second has more output, so its snapshot is kept (spec §2):
    # creation 30 = 5m 10 + 1h 20 (the first line said 5m 30, 1h 0 — not kept, not summed)
    lines += claude_step("msg_a", with_split(usage_c(1, 30, 100, 5), 30, 0), 1, text="a")
    lines += claude_step("msg_a", with_split(usage_c(1, 30, 100, 9), 10, 20), 2, text="b")
    # msg_b: an older version's usage, no cache_creation object → both null
    lines += claude_step("msg_b", usage_c(2, 40, 200, 7), 3)
    # msg_c: the object without the 1h key → 5m 50, 1h 0
    usage = {**usage_c(3, 50, 300, 8), "cache_creation": {"ephemeral_5m_input_tokens": 50}}
    lines += claude_step("msg_c", usage, 4)
    write(claude_path(tmp_path), lines)
    b = CodexBuilder().turn("01a7c9e4-0001-7000-8000-000000000001").step(codex_usage(1))
    write(codex_path(tmp_path), b.data())
    _, rows = run(tmp_path)
    tiers = {
        r["round_id"]: (
            r["claude_cache_creation_input_tokens"],
            r["claude_cache_creation_5m_input_tokens"],
            r["claude_cache_creation_1h_input_tokens"],
        )
        for r in rows
    }
    assert tiers == {
        "msg_a": (30, 10, 20),
        "msg_b": (40, None, None),
        "msg_c": (50, 50, 0),
        "01a7c9e4-0001-7000-8000-000000000001:0": (None, None, None),  # Codex: always null
    }


# --- parent links -----------------------------------------------------------------------


def agent_tool_result(call_id: str, agent_id: str, second: int) -> dict:
    """The parent's result of an Agent call: `toolUseResult.agentId` names the subagent."""
    record = c_tool_result(call_id, [{"type": "text", "text": "report"}], second)
    record["toolUseResult"] = {"status": "completed", "agentId": agent_id, "totalDurationMs": 9}
    return record


def test_claude_subagent_file_links_to_its_parent_and_spawning_call(tmp_path: Path) -> None:
    # parent: msg_1 calls toolu_1 (an Agent call) whose result names agent "a1b2"; msg_2 ends
    parent = [c_user("hi", 0), *claude_step("msg_1", usage_c(1, 10, 100, 5), 1, tools=["toolu_1"])]
    parent += [agent_tool_result("toolu_1", "a1b2", 20), *claude_step("msg_2", usage_c(1, 1, 1, 1))]
    write(claude_path(tmp_path), parent)
    child = sidechain([c_user("task", 2), *claude_step("msg_s1", usage_c(1, 2, 3, 4), 3)], "a1b2")
    write(subagent_path(tmp_path, "agent-a1b2"), child)
    # a second subagent the parent's file never names: parent session known, call not
    other = sidechain([c_user("t", 4), *claude_step("msg_s2", usage_c(1, 2, 3, 4), 5)], "ffff")
    write(subagent_path(tmp_path, "agent-ffff"), other)
    _, rows = run(tmp_path)
    links = {
        r["round_id"]: (r["is_subagent"], r["parent_session_id"], r["parent_tool_call_id"])
        for r in rows
    }
    assert links == {
        "msg_1": (False, None, None),
        "msg_2": (False, None, None),
        "msg_s1": (True, PARENT, "toolu_1"),
        "msg_s2": (True, PARENT, None),
    }


def test_old_style_agent_file_and_inline_sidechain(tmp_path: Path) -> None:
    # Old layout: `agent-<id>.jsonl` beside the parent's file; its records' sessionId names
    # the parent. An inline sidechain in the parent's own file is that session's: no link.
    parent = [c_user("hi", 0), *claude_step("msg_1", usage_c(1, 1, 1, 1), 1)]
    parent += sidechain(claude_step("msg_inline", usage_c(1, 1, 1, 1), 2), "x")
    write(claude_path(tmp_path), parent)
    agent = sidechain([c_user("task", 3), *claude_step("msg_old", usage_c(1, 1, 1, 1), 4)], "9c")
    write(claude_path(tmp_path, session="agent-9c"), agent)
    _, rows = run(tmp_path)
    links = {
        r["round_id"]: (r["session_id"], r["is_subagent"], r["parent_session_id"]) for r in rows
    }
    assert links == {
        "msg_1": (PARENT, False, None),
        "msg_inline": (PARENT, False, None),
        "msg_old": ("claude:agent-9c", True, PARENT),
    }


def test_codex_subagent_names_its_parent_thread(tmp_path: Path) -> None:
    parent_id = "01a7c9e4-0000-7000-8000-0000000000aa"
    child_id = "01a7c9e4-0000-7000-8000-0000000000bb"
    parent_turn = "01a7c9e4-0000-7000-8000-0000000000a1"  # < child id: a replayed parent turn
    child_turn = "01a7c9e4-0000-7000-8000-0000000000c1"  # > child id: the child's own turn
    b = CodexBuilder(child_id, parent=parent_id).turn(parent_turn).step(codex_usage(1))
    b.turn(child_turn).step(codex_usage(2))
    write(codex_path(tmp_path, child_id), b.data())
    _, rows = run(tmp_path)
    links = {
        r["round_id"]: (r["session_id"], r["is_subagent"], r["parent_session_id"]) for r in rows
    }
    assert links == {
        f"{parent_turn}:0": (f"codex:{parent_id}", False, None),  # the parent's own step
        f"{child_turn}:0": (f"codex:{child_id}", True, f"codex:{parent_id}"),
    }
    assert all(r["parent_tool_call_id"] is None for r in rows)  # Codex names no spawning call


def test_sanitized_parent_link_equals_the_parents_pseudonym(tmp_path: Path) -> None:
    parent = [c_user("hi", 0), *claude_step("msg_1", usage_c(1, 10, 100, 5), 1, tools=["toolu_1"])]
    parent.append(agent_tool_result("toolu_1", "a1b2", 20))
    write(claude_path(tmp_path), parent)
    child = sidechain(claude_step("msg_s1", usage_c(1, 2, 3, 4), 3), "a1b2")
    write(subagent_path(tmp_path, "agent-a1b2"), child)
    _, rows = run(tmp_path)
    key = bytes(range(32))
    (p_row,), (c_row,) = (
        [sanitize_row(r, key) for r in rows if r["round_id"] == m] for m in ("msg_1", "msg_s1")
    )
    assert c_row["parent_session_id"] == p_row["session_id"] != c_row["session_id"]
    assert c_row["parent_tool_call_id"] == p_row["tools"][0]["tool_call_id"]
    assert c_row["parent_tool_call_id"].startswith("c_")


# --- replays ----------------------------------------------------------------------------


def side_question_home(home: Path) -> None:
    """Parent session: 3 steps msg_1..msg_3 (claude_session). Its side-question agent file
    replays msg_1 and msg_2 with the same usage, then makes 1 own call msg_q."""
    write(claude_path(home), claude_session(3))
    replay = [c_user("hi", 0)]
    for k in (1, 2):  # the parent's lines for msg_k, as claude_session writes them
        replay += claude_step(f"msg_{k}", usage_c(k, 10 * k, 100 * k, 1000 + k), 10 * k)
    replay += [c_user("side question?", 40), *claude_step("msg_q", usage_c(9, 90, 900, 99), 41)]
    aside = sidechain(replay, "aside_question-5e6f")
    write(subagent_path(home, "agent-aside_question-5e6f"), aside)


def check_side_question(report: CollectReport, rows: list[dict] | None) -> None:
    assert report.replays_dropped == 2  # msg_1 and msg_2 a second time
    assert report.duplicates_dropped == 0
    assert report.rows == 4  # parent 3 + side question 1
    (stats,) = report.groups.values()
    # sessions 2; tool calls: the parent's steps 1 and 2 call one tool each, msg_q none
    assert (stats.sessions, stats.steps, stats.tool_calls) == (2, 4, 2)
    if rows is None:
        return
    sessions = by_session(rows)
    aside = f"{PARENT}/subagents/agent-aside_question-5e6f"
    assert [(r["round_id"], r["round_index"]) for r in sessions[PARENT]] == [
        ("msg_1", 0),
        ("msg_2", 1),
        ("msg_3", 2),
    ]
    # the own call was the file's third step: renumbered to 0 once the replays are gone
    (q,) = sessions[aside]
    assert (q["round_id"], q["round_index"], q["parent_session_id"]) == ("msg_q", 0, PARENT)
    assert q["claude_uncached_input_tokens"] == 9
    assert sessions[PARENT][0]["claude_uncached_input_tokens"] == 1  # the parent's own row


def test_side_question_replays_are_dropped_and_counted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    side_question_home(home)
    report, rows = run(home)
    check_side_question(report, rows)


def test_replays_counted_on_cached_and_no_op_runs(tmp_path: Path) -> None:
    home, cache, out = tmp_path / "home", tmp_path / "cache", tmp_path / "trace.jsonl"
    side_question_home(home)
    first, _ = run(home, cache=cache, output=out, keep=False)
    check_side_question(first, None)
    written = list(read_rows(out))
    check_side_question(first, written)
    # unchanged inputs and output: the no-op path replays the saved report
    again, _ = run(home, cache=cache, output=out, keep=False)
    assert again.up_to_date
    check_side_question(again, None)
    # another output: every file replayed from the per-file cache, dedup redone
    other = tmp_path / "other.jsonl"
    cached, _ = run(home, cache=cache, output=other, keep=False)
    assert not cached.up_to_date and cached.cached_files == 2
    check_side_question(cached, list(read_rows(other)))
    assert other.read_bytes() == out.read_bytes()


def test_replays_dropped_with_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    side_question_home(home)
    monkeypatch.setattr(collect_mod, "_PARALLEL_MIN_BYTES", 0)  # parse in workers anyway
    report, rows = collect([home_for(home)], cache=False, workers=2, keep_rows=True)
    check_side_question(report, rows)


def test_parent_file_comes_before_its_subagents(tmp_path: Path) -> None:
    # `<s>.jsonl` and `<s>/subagents/…`: the parent is collected first, so it keeps its steps
    side_question_home(tmp_path)
    _, rows = run(tmp_path)
    assert [r["session_id"] for r in rows][:3] == [PARENT] * 3


def test_same_message_id_in_another_session_tree_is_kept(tmp_path: Path) -> None:
    # Two top-level sessions are two trees: a shared message id there is no replay.
    write(claude_path(tmp_path), claude_session(2))
    write(claude_path(tmp_path, session="other"), claude_session(2, session="other"))
    report, _ = run(tmp_path)
    assert (report.rows, report.replays_dropped) == (4, 0)


def test_report_line_names_the_replays(tmp_path: Path) -> None:
    from rich.console import Console

    side_question_home(tmp_path)
    report, _ = run(tmp_path)
    console = Console(record=True, width=200)
    collect_report(console, report)
    assert "2 replayed steps dropped (side-question agents)" in console.export_text()
    data: dict[str, Any] = orjson.loads(orjson.dumps(report.to_json()))
    assert data["replays_dropped"] == 2
    assert CollectReport.from_json(data).replays_dropped == 2


def test_replay_dedup_keeps_backup_copies_as_duplicates(tmp_path: Path) -> None:
    # The backup store holds the same two files: every row there is a trace_key duplicate.
    side_question_home(tmp_path)
    back = tmp_path / ".claude.back"
    for src in (tmp_path / ".claude").rglob("*.jsonl"):
        dst = back / src.relative_to(tmp_path / ".claude")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    report, rows = run(tmp_path)
    # .claude: 3 + 3 rows, 2 replays; .claude.back: 3 + 3 rows, all trace_key duplicates
    assert (report.rows, report.replays_dropped, report.duplicates_dropped) == (4, 2, 6)
    assert len(rows) == 4


def test_spooled_rows_dropped_renumbered_and_linked_like_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers leave their rows in spool files and the output copies spans of them: rows that
    # dedup drops (replays, backup duplicates) cut the spans, renumbered and linked rows are
    # rewritten. The result must equal the serial in-memory path byte for byte.
    home = tmp_path / "home"
    side_question_home(home)  # 2 replays dropped, the side question's row renumbered
    parent = claude_step("msg_4", usage_c(1, 1, 1, 1), 50, tools=["toolu_9"])
    parent += [agent_tool_result("toolu_9", "a1b2", 60)]
    with claude_path(home).open("ab") as fh:
        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in parent))
    child = sidechain([c_user("task", 51), *claude_step("msg_s1", usage_c(1, 2, 3, 4), 52)], "a1b2")
    write(subagent_path(home, "agent-a1b2"), child)  # its row gets parent_tool_call_id toolu_9
    back = home / ".claude.back"
    for src in (home / ".claude").rglob("*.jsonl"):  # every row again: trace_key duplicates
        dst = back / src.relative_to(home / ".claude")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    serial, spooled = tmp_path / "serial.jsonl", tmp_path / "out" / "spooled.jsonl"
    r1, _ = run(home, output=serial, keep=False)
    monkeypatch.setattr(collect_mod, "_PARALLEL_MIN_BYTES", 0)  # parse in workers anyway
    r2, _ = collect([home_for(home)], spooled, cache=False, workers=2)
    # .claude: parent 4 + side question 1 (2 replays) + subagent 1; .claude.back: all 8 again
    assert (r2.rows, r2.replays_dropped, r2.duplicates_dropped) == (6, 2, 8)
    assert r1.to_json() | {"seconds": 0, "output": None} == r2.to_json() | {
        "seconds": 0,
        "output": None,
    }
    assert spooled.read_bytes() == serial.read_bytes()
    rows = {r["round_id"]: r for r in read_rows(spooled)}
    assert rows["msg_s1"]["parent_tool_call_id"] == "toolu_9"
    assert rows["msg_q"]["round_index"] == 0
    assert [p.name for p in spooled.parent.iterdir()] == ["spooled.jsonl"]  # spool removed
