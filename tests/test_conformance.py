"""Conformance of the Claude and Codex parsers to the normalized-format spec.

Three layers:

1. Generic invariants over everything collected from both fixture homes. Every expectation
   is recomputed here from the raw JSON lines with plain `json` (never from parser internals).
2. Exact values for several steps of the real Claude and Codex sessions, derived BY HAND from
   the raw lines; each literal carries a comment naming the raw line(s) and the arithmetic.
   Line numbers are 1-based line numbers of the raw fixture files.
3. Robustness on the hand-made home (odd older Claude logs, invalid lines).

Spec rules that no fixture line exercises (growing usage snapshots, tool_result content lists,
half-to-even latency rounding, token_count echoes, exec_command_end) are checked on tiny logs
written to tmp_path, with the expected values derived by hand in comments as well.

Null timing-event attributes: the spec says they are omitted; the parser keeps them as None in
memory and `tracelab.io` drops them when writing, so events are compared with None dropped.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conftest import CLAUDE_REAL, CODEX_REAL, HANDMADE_HOME, REAL_HOME, needs_fixtures
from tracelab.collect import collect_home

INPUT_TYPES = ("user_message", "tool_result")
OUTPUT_TYPES = ("reasoning", "text", "tool_call")
SYNTHETIC = "<synthetic>"

# --- independent helpers (plain json, straight from the spec) --------------------------------


def spec_chars(value: Any) -> int:
    """Spec §3 content_chars: code points of a string, 0 for null, else compact JSON length."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def raw_records(path: Path) -> list[tuple[int, dict]]:
    """(1-based line number, record) for every line that is a JSON object."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append((lineno, record))
    return out


def drop_nulls(event: dict) -> dict:
    return {k: v for k, v in event.items() if v is not None}


@cache
def _collected(home: str) -> tuple[Any, tuple[dict, ...]]:
    report, rows = collect_home(Path(home))
    return report, tuple(rows)


def collected(home: Path) -> tuple[Any, list[dict]]:
    report, rows = _collected(str(home))
    return report, list(rows)


def rows_of_file(rows: list[dict], path: Path) -> list[dict]:
    return sorted(
        (r for r in rows if Path(r["session_file"]) == Path(path)),
        key=lambda r: (r["session_id"], r["round_index"]),
    )


def all_fixture_files() -> list[tuple[str, Path]]:
    """(provider, raw file) of every fixture session file."""
    files = []
    for home in (REAL_HOME, HANDMADE_HOME):
        files += [("claude", p) for p in sorted((home / ".claude/projects").rglob("*.jsonl"))]
        codex = home / ".codex/sessions"
        if codex.is_dir():
            files += [("codex", p) for p in sorted(codex.rglob("*.jsonl"))]
    return files


def _home_of(path: Path) -> Path:
    return REAL_HOME if REAL_HOME in path.parents else HANDMADE_HOME


FILE_PARAMS = (
    [pytest.param(prov, p, id=f"{prov}:{p.name}") for prov, p in all_fixture_files()]
    if REAL_HOME.is_dir() and HANDMADE_HOME.is_dir()
    else [pytest.param("none", Path("/absent"), id="fixtures-absent")]
)


# --- independent raw-file models ----------------------------------------------------------


def claude_expected_steps(path: Path) -> tuple[list[str], dict[str, dict]]:
    """Distinct non-synthetic message.ids in order of first appearance, and each one's usage
    snapshot chosen by spec §2: max (output, input+creation+read, stop_reason set), later wins
    ties."""
    order: list[str] = []
    best: dict[str, tuple[tuple, dict]] = {}
    for _, rec in raw_records(path):
        if rec.get("type") != "assistant" or not isinstance(rec.get("message"), dict):
            continue
        msg = rec["message"]
        mid = msg.get("id")
        if mid == SYNTHETIC or msg.get("model") == SYNTHETIC:
            continue
        if not isinstance(mid, str) or not mid:
            continue
        if mid not in best:
            order.append(mid)
            best[mid] = ((-1, -1, -1), {})
        usage = msg.get("usage")
        if isinstance(usage, dict):
            rank = (
                usage.get("output_tokens") or 0,
                sum(
                    usage.get(k) or 0
                    for k in (
                        "input_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    )
                ),
                1 if msg.get("stop_reason") else 0,
            )
            if rank >= best[mid][0]:
                best[mid] = (rank, usage)
    return order, {mid: usage for mid, (_, usage) in best.items()}


def claude_tool_uses(path: Path) -> list[str]:
    ids = []
    for _, rec in raw_records(path):
        msg = rec.get("message")
        if rec.get("type") != "assistant" or not isinstance(msg, dict):
            continue
        if msg.get("id") == SYNTHETIC or msg.get("model") == SYNTHETIC:
            continue
        content = msg.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                ids.append(block["id"])
    return ids


def claude_tool_results(path: Path) -> dict[str, tuple[str, dict, dict]]:
    """tool_use_id → (timestamp, block, record) of its LAST tool_result (later overwrites)."""
    results = {}
    for _, rec in raw_records(path):
        msg = rec.get("message")
        if rec.get("type") != "user" or not isinstance(msg, dict):
            continue
        content = msg.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                results[block.get("tool_use_id")] = (rec.get("timestamp"), block, rec)
    return results


def codex_counted_token_counts(path: Path) -> list[tuple[str, dict]]:
    """(timestamp, last_token_usage) of each token_count that makes a step (spec §2)."""
    steps = []
    previous = None
    for _, rec in raw_records(path):
        payload = rec.get("payload")
        if rec.get("type") != "event_msg" or not isinstance(payload, dict):
            continue
        if payload.get("type") != "token_count":
            continue
        info = payload.get("info")
        if not isinstance(info, dict):
            continue
        total, last = info.get("total_token_usage"), info.get("last_token_usage")
        if not isinstance(total, dict) or not isinstance(last, dict):
            continue
        if total == previous:
            continue
        previous = total
        steps.append((rec["timestamp"], last))
    return steps


CODEX_CALL_TYPES = ("function_call", "custom_tool_call")
CODEX_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output")


def codex_calls(path: Path) -> list[str]:
    return [
        rec["payload"]["call_id"]
        for _, rec in raw_records(path)
        if rec.get("type") == "response_item"
        and isinstance(rec.get("payload"), dict)
        and rec["payload"].get("type") in CODEX_CALL_TYPES
    ]


def codex_first_outputs(path: Path) -> dict[str, tuple[str, dict]]:
    """call_id → (timestamp, payload) of its FIRST output (spec §3: the first one sets it)."""
    first: dict[str, tuple[str, dict]] = {}
    for _, rec in raw_records(path):
        payload = rec.get("payload")
        if not isinstance(payload, dict):
            continue
        is_output = (
            rec.get("type") == "response_item" and payload.get("type") in CODEX_OUTPUT_TYPES
        ) or (
            rec.get("type") == "event_msg"
            and payload.get("type") in ("exec_command_end", "patch_apply_end")
        )
        if is_output:
            first.setdefault(payload.get("call_id"), (rec["timestamp"], payload))
    return first


# --- 1. generic invariants ------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("home", [REAL_HOME, HANDMADE_HOME], ids=["real", "handmade"])
def test_no_duplicate_trace_keys_and_keys_follow_the_spec(home):
    _, rows = collected(home)
    assert rows
    keys = [r["trace_key"] for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        # spec §3: trace_key = `<provider>:<session_id>:<round_id>` — taken literally, so the
        # provider appears twice (session_id already starts with `<provider>:`).
        assert r["trace_key"] == f"{r['provider']}:{r['session_id']}:{r['round_id']}"
        assert r["session_id"].startswith(f"{r['provider']}:")


@needs_fixtures
@pytest.mark.parametrize("home", [REAL_HOME, HANDMADE_HOME], ids=["real", "handmade"])
def test_round_index_is_0_to_n_minus_1_per_session(home):
    _, rows = collected(home)
    by_session = defaultdict(list)
    for r in rows:
        by_session[r["session_id"]].append(r["round_index"])
    for indexes in by_session.values():
        assert sorted(indexes) == list(range(len(indexes)))


@needs_fixtures
@pytest.mark.parametrize("home", [REAL_HOME, HANDMADE_HOME], ids=["real", "handmade"])
def test_input_summaries_tool_indexes_and_token_formulas(home):
    _, rows = collected(home)
    for r in rows:
        events = r["timing_events"]
        inputs = [e for e in events if e["event_type"] in INPUT_TYPES]
        users = [e for e in inputs if e["event_type"] == "user_message"]
        results = [e for e in inputs if e["event_type"] == "tool_result"]
        assert r["current_user_message_count"] == len(users)
        assert r["current_tool_result_count"] == len(results)
        assert r["current_input_event_count"] == len(inputs)
        assert r["current_user_message_chars"] == sum(e.get("content_chars") or 0 for e in users)
        assert r["current_tool_result_chars"] == sum(e.get("result_chars") or 0 for e in results)
        assert (
            r["current_input_chars"]
            == r["current_user_message_chars"] + r["current_tool_result_chars"]
        )
        assert r["first_input_event_type"] == (inputs[0]["event_type"] if inputs else None)

        # tool_index = position in tools[]; the tool_call events list the same calls in order.
        assert [t["tool_index"] for t in r["tools"]] == list(range(len(r["tools"])))
        calls = [e for e in events if e["event_type"] == "tool_call"]
        assert [(e["tool_call_id"], e["tool_index"], e["tool_name"]) for e in calls] == [
            (t["tool_call_id"], t["tool_index"], t["tool_name"]) for t in r["tools"]
        ]
        for t in r["tools"]:
            assert t["input_chars"] == spec_chars(t["input"])

        if r["provider"] == "claude":
            assert r["input_tokens_total"] == r["prefix_tokens"] + r["newly_append_tokens"]
            assert r["prefix_tokens"] == r["claude_cache_read_input_tokens"]
            assert r["newly_append_tokens"] == (
                r["claude_uncached_input_tokens"] + r["claude_cache_creation_input_tokens"]
            )
            assert r["reasoning_output_tokens"] is None
            assert "usage_report" not in [e["event_type"] for e in events]
        else:
            assert r["newly_append_tokens"] == max(0, r["input_tokens_total"] - r["prefix_tokens"])
            assert r["claude_uncached_input_tokens"] is None
            assert r["claude_cache_creation_input_tokens"] is None
            assert r["claude_cache_read_input_tokens"] is None
            # inputs, then the call's outputs, then one final usage_report
            kinds = [e["event_type"] for e in events]
            assert kinds[-1] == "usage_report" and kinds.count("usage_report") == 1
            rank = [0 if k in INPUT_TYPES else 1 if k in OUTPUT_TYPES else 2 for k in kinds]
            assert rank == sorted(rank)


@needs_fixtures
@pytest.mark.parametrize(("provider", "path"), FILE_PARAMS)
def test_step_counts_and_usage_from_the_raw_file(provider, path):
    _, rows = collected(_home_of(path))
    mine = rows_of_file(rows, path)
    if provider == "claude":
        order, usage = claude_expected_steps(path)
        assert [r["round_id"] for r in mine] == order
        for r in mine:
            u = usage[r["round_id"]]
            uncached = u.get("input_tokens") or 0
            creation = u.get("cache_creation_input_tokens") or 0
            read = u.get("cache_read_input_tokens") or 0
            assert r["claude_uncached_input_tokens"] == uncached
            assert r["claude_cache_creation_input_tokens"] == creation
            assert r["claude_cache_read_input_tokens"] == read
            assert r["input_tokens_total"] == uncached + creation + read
            assert r["output_tokens"] == (u.get("output_tokens") or 0)
            # spec §7: the kept snapshot's cache-write split; null without the object
            split = u.get("cache_creation")
            if isinstance(split, dict):
                five, hour = (
                    split.get("ephemeral_5m_input_tokens") or 0,
                    split.get("ephemeral_1h_input_tokens") or 0,
                )
                assert r["claude_cache_creation_5m_input_tokens"] == five
                assert r["claude_cache_creation_1h_input_tokens"] == hour
                assert five + hour == creation  # true of every fixture snapshot
            else:
                assert r["claude_cache_creation_5m_input_tokens"] is None
                assert r["claude_cache_creation_1h_input_tokens"] is None
    else:
        counted = codex_counted_token_counts(path)
        assert len(mine) == len(counted)
        for r, (ts, last) in zip(mine, counted, strict=True):
            assert r["timing_events"][-1]["timestamp"] == ts
            assert r["input_tokens_total"] == last["input_tokens"]
            assert r["prefix_tokens"] == last["cached_input_tokens"]
            assert r["output_tokens"] == last["output_tokens"]
            assert r["reasoning_output_tokens"] == last.get("reasoning_output_tokens")
            assert r["claude_cache_creation_5m_input_tokens"] is None
            assert r["claude_cache_creation_1h_input_tokens"] is None


@needs_fixtures
@pytest.mark.parametrize("home", [REAL_HOME, HANDMADE_HOME], ids=["real", "handmade"])
def test_fixture_sessions_have_no_parent_links(home):
    # Neither fixture home has a subagent: no file under `<session>/subagents/`, no
    # `agent-*.jsonl`, no Codex session_meta with source.subagent, and every Claude record
    # has "isSidechain": false (by hand: grep -o '"isSidechain": *[a-z]*' finds only false).
    _, rows = collected(home)
    assert rows
    for r in rows:
        assert (r["is_subagent"], r["parent_session_id"], r["parent_tool_call_id"]) == (
            False,
            None,
            None,
        )


@needs_fixtures
@pytest.mark.parametrize(("provider", "path"), FILE_PARAMS)
def test_every_call_appears_once_and_every_result_pairs(provider, path):
    _, rows = collected(_home_of(path))
    tools = [t for r in rows_of_file(rows, path) for t in r["tools"]]
    emitted = Counter(t["tool_call_id"] for t in tools)
    raw_calls = claude_tool_uses(path) if provider == "claude" else codex_calls(path)
    if _home_of(path) == REAL_HOME:
        assert raw_calls  # both real sessions have tool calls (9 and 10)
    assert emitted == Counter(set(raw_calls))
    assert all(n == 1 for n in emitted.values())
    by_id = {t["tool_call_id"]: t for t in tools}
    if provider == "claude":
        for call_id, (ts, block, _) in claude_tool_results(path).items():
            if call_id not in by_id:
                continue
            t = by_id[call_id]
            assert t["result_at"] == ts
            assert t["result_chars"] == spec_chars(block.get("content"))
            # spec §3: a finished result without the key (or with null) is not an error
            err = block.get("is_error")
            assert t["is_error"] is (False if err is None else err)
            # ... and so is its tool_result event (the last one: a later result overwrites;
            # a result after the file's last step attaches to no step)
            events = [
                e
                for r in rows_of_file(rows, path)
                for e in r["timing_events"]
                if e["event_type"] == "tool_result" and e.get("tool_call_id") == call_id
            ]
            if events:
                assert events[-1].get("is_error") is t["is_error"]
        unpaired = set(by_id) - set(claude_tool_results(path))
    else:
        firsts = codex_first_outputs(path)
        for call_id, (ts, payload) in firsts.items():
            if call_id not in by_id:
                continue
            t = by_id[call_id]
            assert t["result_at"] == ts
            if payload.get("type") in CODEX_OUTPUT_TYPES and isinstance(payload["output"], str):
                assert t["result_chars"] == spec_chars(payload["output"])
        unpaired = set(by_id) - set(firsts)
    for call_id in unpaired:  # unfinished tools keep result fields null
        t = by_id[call_id]
        assert t["result_at"] is None and t["tool_wall_latency_ms"] is None
        assert t["is_error"] is None


@needs_fixtures
@pytest.mark.parametrize(
    ("provider", "path"), [p for p in FILE_PARAMS if p.values[0] in ("claude", "none")]
)
def test_claude_timing_events_come_in_file_order(provider, path):
    _, rows = collected(_home_of(path))
    # Each event comes from a user (inputs) or assistant (outputs) line; a step's events must
    # be a subsequence of the file's lines (several events may come from the same line).
    lines = [
        (rec.get("timestamp"), rec.get("type"))
        for _, rec in raw_records(path)
        if rec.get("type") in ("user", "assistant")
    ]
    for r in rows_of_file(rows, path):
        j = 0
        for ev in r["timing_events"]:
            want = (ev["timestamp"], "user" if ev["event_type"] in INPUT_TYPES else "assistant")
            while j < len(lines) and lines[j] != want:
                j += 1
            assert j < len(lines), f"{r['round_id']}: {ev} out of file order"


# --- 2a. exact values: the real Claude session ----------------------------------------------

CLAUDE_SESSION = "claude:2f8b1c4d-6a73-4e9b-91c0-5d7f3a8e2b46"


@pytest.fixture
def claude_rows():
    _, rows = collected(REAL_HOME)
    return {r["round_index"]: r for r in rows_of_file(rows, CLAUDE_REAL)}


@needs_fixtures
def test_claude_real_session_has_ten_steps_one_per_message_id(claude_rows):
    # Assistant lines 7-10, 13-15, 21-23, 26, 28-29, 38-40, 43-45, 47-49, 55, 57-58: ten
    # distinct message.ids (multi-line messages collapse into one step each).
    assert [claude_rows[i]["round_id"] for i in range(len(claude_rows))] == [
        "msg_0117946cbb6c5350c59edee3",  # lines 7-10
        "msg_012a1e2b21602a5fbfa7397b",  # lines 13-15
        "msg_01aab3d849970e554b86dcec",  # lines 21-23
        "msg_01b7f4c8afeb0851d888553a",  # line 26
        "msg_01613f0a5140335bc4b0c8d7",  # lines 28-29
        "msg_019ad925875b585a0aa4ed6e",  # lines 38-40
        "msg_012dc7f09af39a51e8a0b2a8",  # lines 43-45
        "msg_0111327c5d3cf25f8f9ad79e",  # lines 47-49
        "msg_01aea12684b2f35fa29016a0",  # line 55
        "msg_01127c9d1829fa5ad6902545",  # lines 57-58
    ]
    # 9 tool_use blocks in the file (lines 9, 10, 15, 23, 26, 40, 45, 49, 55)
    assert sum(len(r["tools"]) for r in claude_rows.values()) == 9


@needs_fixtures
def test_claude_step0_multiline_message_prompt_and_two_tools(claude_rows):
    r = claude_rows[0]
    assert r["session_id"] == CLAUDE_SESSION
    # project = the working directory the records carry (issue 15; line 4: "cwd":
    # "/workspace/project"), not the folder name "-workspace-project"
    assert r["project"] == "/workspace/project"
    assert r["model"] == "claude-opus-4-8"
    assert r["store"] == ".claude"
    assert r["trace_key"] == f"claude:{CLAUDE_SESSION}:msg_0117946cbb6c5350c59edee3"
    # Lines 7-10 each repeat usage input 2892, cache_creation 2163, cache_read 27217, output
    # 931. One snapshot is used, never the sum (summing 4 lines would give output 3724).
    assert r["claude_uncached_input_tokens"] == 2892
    assert r["claude_cache_creation_input_tokens"] == 2163
    # lines 7-10 usage.cache_creation: ephemeral_5m_input_tokens 2163, ephemeral_1h 0
    # (2163 + 0 = cache_creation_input_tokens 2163)
    assert r["claude_cache_creation_5m_input_tokens"] == 2163
    assert r["claude_cache_creation_1h_input_tokens"] == 0
    assert r["claude_cache_read_input_tokens"] == 27217
    assert r["input_tokens_total"] == 32272  # 2892 + 2163 + 27217
    assert r["prefix_tokens"] == 27217  # cache_read
    assert r["newly_append_tokens"] == 5055  # 2892 + 2163
    assert r["output_tokens"] == 931
    assert r["reasoning_output_tokens"] is None
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        # line 4: the prompt is a plain string of 146 code points (all ASCII)
        {
            "event_type": "user_message",
            "timestamp": "2026-06-01T05:40:20.151Z",
            "source": "user.message",
            "content_chars": 146,
        },
        # line 7: thinking block with an empty (redacted) `thinking` string → 0
        {
            "event_type": "reasoning",
            "timestamp": "2026-06-01T05:40:29.420Z",
            "source": "assistant.content.thinking",
            "content_chars": 0,
        },
        # line 8: text block of 116 code points
        {
            "event_type": "text",
            "timestamp": "2026-06-01T05:40:29.887Z",
            "source": "assistant.content.text",
            "content_chars": 116,
        },
        # line 9: tool_use Bash
        {
            "event_type": "tool_call",
            "timestamp": "2026-06-01T05:40:30.836Z",
            "source": "assistant.content.tool_use",
            "tool_call_id": "toolu_0145386ed7f7655c07b7d6",
            "tool_name": "Bash",
            "tool_index": 0,
        },
        # line 10: tool_use WebSearch
        {
            "event_type": "tool_call",
            "timestamp": "2026-06-01T05:40:31.647Z",
            "source": "assistant.content.tool_use",
            "tool_call_id": "toolu_01ac19e6b4fc4f55ecba47",
            "tool_name": "WebSearch",
            "tool_index": 1,
        },
    ]
    assert r["current_user_message_count"] == 1
    assert r["current_user_message_chars"] == 146
    assert r["current_tool_result_count"] == 0
    assert r["current_input_chars"] == 146
    assert r["first_input_event_type"] == "user_message"
    tools = [{k: v for k, v in t.items() if k != "input"} for t in r["tools"]]
    assert tools == [
        {
            "tool_index": 0,
            "tool_name": "Bash",
            "tool_call_id": "toolu_0145386ed7f7655c07b7d6",
            "emitted_at": "2026-06-01T05:40:30.836Z",  # line 9
            "result_at": "2026-06-01T05:40:31.696Z",  # line 11
            # line 9 input as compact JSON: 168 chars
            "input_chars": 168,
            # line 11 tool_result content: a string of 231 code points
            "result_chars": 231,
            # 31.696 − 30.836 = 0.860 s → 860 ms
            "tool_wall_latency_ms": 860,
            # line 11 toolUseResult has only stdout/stderr/interrupted/isImage/...: no duration
            "tool_internal_latency_ms": None,
            # line 11 block: "is_error": false
            "is_error": False,
        },
        {
            "tool_index": 1,
            "tool_name": "WebSearch",
            "tool_call_id": "toolu_01ac19e6b4fc4f55ecba47",
            "emitted_at": "2026-06-01T05:40:31.647Z",  # line 10
            "result_at": "2026-06-01T05:40:50.938Z",  # line 12
            "input_chars": 91,  # line 10 input as compact JSON
            # line 12 content string: 4893 code points (4909 UTF-8 bytes: it has – and —)
            "result_chars": 4893,
            # 50.938 − 31.647 = 19.291 s → 19291 ms
            "tool_wall_latency_ms": 19291,
            # line 12 toolUseResult.durationSeconds 19.287014642000003 × 1000 = 19287.01 → 19287
            "tool_internal_latency_ms": 19287,
            # line 12 block has no is_error key: a finished result → false (spec §3)
            "is_error": False,
        },
    ]
    assert r["tools"][0]["input"] == {
        "command": 'ls -la /workspace/project 2>/dev/null && echo "---python---"'
        " && which python3 python 2>/dev/null",
        "description": "List working directory and check Python",
    }


@needs_fixtures
def test_claude_step1_inputs_are_the_two_tool_results(claude_rows):
    r = claude_rows[1]
    assert r["round_id"] == "msg_012a1e2b21602a5fbfa7397b"
    # lines 13-15: usage input 2 + cache_creation 6358 + cache_read 29380 = 35740
    assert r["input_tokens_total"] == 35740
    assert r["prefix_tokens"] == 29380
    assert r["newly_append_tokens"] == 6360  # 2 + 6358
    # lines 13-15 usage.cache_creation: ephemeral_5m 6358, ephemeral_1h 0
    assert r["claude_cache_creation_5m_input_tokens"] == 6358
    assert r["claude_cache_creation_1h_input_tokens"] == 0
    assert r["output_tokens"] == 1016
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        # line 11: result of the Bash call, 231 chars, is_error false
        {
            "event_type": "tool_result",
            "timestamp": "2026-06-01T05:40:31.696Z",
            "source": "user.content.tool_result",
            "tool_call_id": "toolu_0145386ed7f7655c07b7d6",
            "result_chars": 231,
            "is_error": False,
        },
        # line 12: result of the WebSearch call, 4893 code points, no is_error key → false
        {
            "event_type": "tool_result",
            "timestamp": "2026-06-01T05:40:50.938Z",
            "source": "user.content.tool_result",
            "tool_call_id": "toolu_01ac19e6b4fc4f55ecba47",
            "result_chars": 4893,
            "is_error": False,
        },
        # line 13 (empty thinking), line 14 (98-char text), line 15 (tool_use WebSearch)
        {
            "event_type": "reasoning",
            "timestamp": "2026-06-01T05:41:03.669Z",
            "source": "assistant.content.thinking",
            "content_chars": 0,
        },
        {
            "event_type": "text",
            "timestamp": "2026-06-01T05:41:04.609Z",
            "source": "assistant.content.text",
            "content_chars": 98,
        },
        {
            "event_type": "tool_call",
            "timestamp": "2026-06-01T05:41:04.862Z",
            "source": "assistant.content.tool_use",
            "tool_call_id": "toolu_01b77a8c6008505d75a9b5",
            "tool_name": "WebSearch",
            "tool_index": 0,
        },
    ]
    assert r["current_user_message_count"] == 0
    assert r["current_tool_result_count"] == 2
    assert r["current_input_event_count"] == 2
    assert r["current_tool_result_chars"] == 5124  # 231 + 4893
    assert r["current_input_chars"] == 5124
    assert r["first_input_event_type"] == "tool_result"
    (t,) = r["tools"]
    # line 15 → line 20: 05:41:17.550 − 05:41:04.862 = 12.688 s
    assert t["result_at"] == "2026-06-01T05:41:17.550Z"
    assert t["tool_wall_latency_ms"] == 12688
    # line 20 toolUseResult.durationSeconds 12.683864082999992 × 1000 = 12683.86 → 12684
    assert t["tool_internal_latency_ms"] == 12684
    assert t["result_chars"] == 4157  # line 20 content string, code points
    assert t["input_chars"] == 113  # line 15 input, compact JSON
    assert t["is_error"] is False  # line 20 block has no is_error key: finished → false


@needs_fixtures
def test_claude_single_line_step_and_later_prompt_and_duration_ms(claude_rows):
    r = claude_rows[3]
    # line 26 alone: usage 2 + 2539 + 38590 = 41131, output 117
    assert r["round_id"] == "msg_01b7f4c8afeb0851d888553a"
    assert (r["input_tokens_total"], r["prefix_tokens"], r["newly_append_tokens"]) == (
        41131,
        38590,
        2541,  # 2 + 2539
    )
    assert r["output_tokens"] == 117
    # input: line 25 result of the Write call (136 code points, 138 bytes: it has an em dash)
    assert drop_nulls(r["timing_events"][0]) == {
        "event_type": "tool_result",
        "timestamp": "2026-06-01T05:42:05.482Z",
        "source": "user.content.tool_result",
        "tool_call_id": "toolu_01c92fe89b7bc657dbb749",
        "result_chars": 136,
        "is_error": False,  # line 25 block has no is_error key: finished → false
    }
    (t,) = r["tools"]
    # line 26 emitted 05:42:08.163, line 27 result 05:42:08.308 → 145 ms; is_error false
    assert (t["tool_name"], t["tool_call_id"]) == ("Bash", "toolu_015fc14e0d9487549d90a9")
    assert t["tool_wall_latency_ms"] == 145
    assert t["tool_internal_latency_ms"] is None
    assert t["is_error"] is False
    assert t["result_chars"] == 810
    assert t["input_chars"] == 93

    r = claude_rows[5]
    # line 33: second prompt "add another model qwen3 32b" = 27 code points; lines 30-32
    # (system, file-history-snapshot) and 34-37 are bookkeeping and add nothing.
    assert r["round_id"] == "msg_019ad925875b585a0aa4ed6e"
    assert r["timing_events"][0] == {
        "event_type": "user_message",
        "timestamp": "2026-06-01T05:42:43.333Z",
        "source": "user.message",
        "content_chars": 27,
    }
    assert r["current_input_event_count"] == 1
    assert r["current_user_message_chars"] == 27
    # lines 38-40: usage 2 + 1287 + 41587 = 42876
    assert r["input_tokens_total"] == 42876
    assert r["newly_append_tokens"] == 1289
    (t,) = r["tools"]
    # line 40 05:42:46.822 → line 41 05:43:02.935 = 16.113 s; durationSeconds
    # 16.109384103000018 → 16109.38 → 16109
    assert t["tool_wall_latency_ms"] == 16113
    assert t["tool_internal_latency_ms"] == 16109

    r = claude_rows[6]
    # lines 43-45: usage 131 + 1896 + 42874 = 44901; append 131 + 1896 = 2027
    assert r["round_id"] == "msg_012dc7f09af39a51e8a0b2a8"
    assert (r["input_tokens_total"], r["prefix_tokens"], r["newly_append_tokens"]) == (
        44901,
        42874,
        2027,
    )
    assert r["output_tokens"] == 232
    (t,) = r["tools"]
    assert (t["tool_name"], t["tool_call_id"]) == ("WebFetch", "toolu_016c6b9c17fa0257709c2d")
    # line 45 05:43:06.250 → line 46 05:43:08.771 = 2.521 s → 2521 ms
    assert t["emitted_at"] == "2026-06-01T05:43:06.250Z"
    assert t["result_at"] == "2026-06-01T05:43:08.771Z"
    assert t["tool_wall_latency_ms"] == 2521
    # line 46 toolUseResult.durationMs 2517 (already ms)
    assert t["tool_internal_latency_ms"] == 2517
    assert t["result_chars"] == 288
    assert t["input_chars"] == 222
    assert t["is_error"] is False  # line 46 block has no is_error key: finished → false


# --- 2b. exact values: the real Codex session -----------------------------------------------

CODEX_SESSION = "codex:01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73"  # line 1 session_meta.id
TURN_A = "01a7c9e4-a8f3-7c91-b2e0-31d6f4a9c580"  # line 6 turn_context
TURN_B = "01a7c9e5-0d4b-761e-9c72-fa3e8b15d904"  # line 43 turn_context
TURN_C = "01a7c9e5-8f20-7a6d-a14c-6e9b27c3f0d1"  # line 60 turn_context


@pytest.fixture
def codex_rows():
    _, rows = collected(REAL_HOME)
    return {r["round_index"]: r for r in rows_of_file(rows, CODEX_REAL)}


@needs_fixtures
def test_codex_nine_steps_round_ids_and_last_token_usage(codex_rows):
    # token_count lines 15, 23, 27, 34, 40 (turn A), 51, 57 (turn B), 67, 71 (turn C): all
    # with info and each total differing from the previous → 9 steps; k restarts per turn.
    assert [codex_rows[i]["round_id"] for i in range(len(codex_rows))] == [
        f"{TURN_A}:0",
        f"{TURN_A}:1",
        f"{TURN_A}:2",
        f"{TURN_A}:3",
        f"{TURN_A}:4",
        f"{TURN_B}:0",
        f"{TURN_B}:1",
        f"{TURN_C}:0",
        f"{TURN_C}:1",
    ]
    assert [codex_rows[i]["turn_id"] for i in range(9)] == [TURN_A] * 5 + [TURN_B] * 2 + [
        TURN_C
    ] * 2
    assert all(r["session_id"] == CODEX_SESSION for r in codex_rows.values())
    assert all(r["model"] == "gpt-5.4" for r in codex_rows.values())
    # project = session_meta's cwd (line 1: "cwd": "/workspace/project"; issue 15)
    assert all(r["project"] == "/workspace/project" for r in codex_rows.values())
    assert all(r["store"] == ".codex" for r in codex_rows.values())
    assert codex_rows[0]["trace_key"] == f"codex:{CODEX_SESSION}:{TURN_A}:0"
    # (input_tokens_total, prefix, newly_append, output, reasoning) from last_token_usage;
    # newly_append = input − cached.
    tokens = [
        (
            r["input_tokens_total"],
            r["prefix_tokens"],
            r["newly_append_tokens"],
            r["output_tokens"],
            r["reasoning_output_tokens"],
        )
        for r in (codex_rows[i] for i in range(9))
    ]
    assert tokens == [
        (9324, 6912, 2412, 444, 199),  # line 15: 9324 − 6912 = 2412 (last == total here)
        # line 23: last 9917/9600/94/11 — NOT the cumulative 19241/16512/538/210;
        # 9917 − 9600 = 317
        (9917, 9600, 317, 94, 11),
        (10058, 9856, 202, 59, 15),  # line 27: 10058 − 9856 = 202
        (10152, 3456, 6696, 233, 26),  # line 34: 10152 − 3456 = 6696
        (10472, 10240, 232, 294, 96),  # line 40: 10472 − 10240 = 232
        (10436, 9216, 1220, 262, 69),  # line 51: 10436 − 9216 = 1220
        (11636, 10624, 1012, 198, 41),  # line 57: 11636 − 10624 = 1012
        (11727, 10368, 1359, 279, 124),  # line 67: 11727 − 10368 = 1359
        (12097, 9216, 2881, 49, 0),  # line 71: 12097 − 9216 = 2881; reasoning 0, not null
    ]
    # 10 tool calls: lines 12, 13, 14, 22, 26, 32, 33, 49, 50, 66
    assert sum(len(r["tools"]) for r in codex_rows.values()) == 10


@needs_fixtures
def test_codex_step0_events_and_three_exec_tools(codex_rows):
    r = codex_rows[0]
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        # line 8 event_msg.user_message: 92 code points (156 UTF-8 bytes, box drawing);
        # the response_item user copies on lines 3 and 7 are not counted.
        {
            "event_type": "user_message",
            "timestamp": "2026-03-21T10:05:59.328Z",
            "source": "event_msg.user_message",
            "content_chars": 92,
        },
        # line 9: reasoning (no content_chars for Codex)
        {
            "event_type": "reasoning",
            "timestamp": "2026-03-21T10:06:02.939Z",
            "source": "response_item.reasoning",
        },
        # line 11: assistant message; its content list as compact JSON is 203 chars
        # ([{"type":"output_text","text":"I’m checking …"}], ’ counted as one char)
        {
            "event_type": "text",
            "timestamp": "2026-03-21T10:06:05.480Z",
            "source": "response_item.message",
            "content_chars": 203,
        },
        # lines 12-14: three exec_command function calls
        {
            "event_type": "tool_call",
            "timestamp": "2026-03-21T10:06:05.480Z",
            "source": "response_item.function_call",
            "tool_call_id": "call_A7mQx4Tn9RbV2sLe8HpKcY1D",
            "tool_name": "exec_command",
            "tool_index": 0,
        },
        {
            "event_type": "tool_call",
            "timestamp": "2026-03-21T10:06:05.527Z",
            "source": "response_item.function_call",
            "tool_call_id": "call_Kp3DzT8wQnL6vRcM2xSaF9Gy",
            "tool_name": "exec_command",
            "tool_index": 1,
        },
        {
            "event_type": "tool_call",
            "timestamp": "2026-03-21T10:06:05.528Z",
            "source": "response_item.function_call",
            "tool_call_id": "call_vN5rPqY7mJc2HtBdX4zLe8Ux",
            "tool_name": "exec_command",
            "tool_index": 2,
        },
        # line 15: the counted token_count
        {
            "event_type": "usage_report",
            "timestamp": "2026-03-21T10:06:05.542Z",
            "source": "event_msg.token_count",
        },
    ]
    assert r["current_user_message_count"] == 1
    assert r["current_user_message_chars"] == 92
    assert r["current_tool_result_count"] == 0
    assert r["first_input_event_type"] == "user_message"
    tools = [{k: v for k, v in t.items() if k != "input"} for t in r["tools"]]
    assert tools == [
        {
            "tool_index": 0,
            "tool_name": "exec_command",
            "tool_call_id": "call_A7mQx4Tn9RbV2sLe8HpKcY1D",
            "emitted_at": "2026-03-21T10:06:05.480Z",  # line 12
            "result_at": "2026-03-21T10:06:05.547Z",  # line 16
            "input_chars": 90,  # line 12 `arguments` string length
            "result_chars": 122,  # line 16 output string length
            "tool_wall_latency_ms": 67,  # 05.547 − 05.480
            "tool_internal_latency_ms": 0,  # "Wall time: 0.0000 seconds"
            "is_error": False,  # "Process exited with code 0"
        },
        {
            "tool_index": 1,
            "tool_name": "exec_command",
            "tool_call_id": "call_Kp3DzT8wQnL6vRcM2xSaF9Gy",
            "emitted_at": "2026-03-21T10:06:05.527Z",  # line 13
            "result_at": "2026-03-21T10:06:05.606Z",  # line 17
            "input_chars": 142,
            "result_chars": 102,
            "tool_wall_latency_ms": 79,  # 05.606 − 05.527
            "tool_internal_latency_ms": 0,  # "Wall time: 0.0000 seconds"
            "is_error": True,  # line 17: "Process exited with code 1"
        },
        {
            "tool_index": 2,
            "tool_name": "exec_command",
            "tool_call_id": "call_vN5rPqY7mJc2HtBdX4zLe8Ux",
            "emitted_at": "2026-03-21T10:06:05.528Z",  # line 14
            "result_at": "2026-03-21T10:06:06.704Z",  # line 18
            "input_chars": 148,
            "result_chars": 113,
            "tool_wall_latency_ms": 1176,  # 06.704 − 05.528 = 1.176 s
            # line 18 "Wall time: 1.0016 seconds" → 1001.6 → 1002
            "tool_internal_latency_ms": 1002,
            # line 18 "Process running with session ID 74219": no exit code, not JSON → null
            "is_error": None,
        },
    ]
    assert r["tools"][0]["input"] == (
        '{"cmd":"pwd","workdir":"/workspace/project","max_output_tokens":1200,"yield_time_ms":1000}'
    )


@needs_fixtures
def test_codex_step1_tool_results_are_inputs_of_the_next_call(codex_rows):
    r = codex_rows[1]
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        # lines 16-18: the three outputs arrive after the line-15 token_count → inputs here
        {
            "event_type": "tool_result",
            "timestamp": "2026-03-21T10:06:05.547Z",
            "source": "response_item.function_call_output",
            "tool_call_id": "call_A7mQx4Tn9RbV2sLe8HpKcY1D",
            "result_chars": 122,
            "is_error": False,
        },
        {
            "event_type": "tool_result",
            "timestamp": "2026-03-21T10:06:05.606Z",
            "source": "response_item.function_call_output",
            "tool_call_id": "call_Kp3DzT8wQnL6vRcM2xSaF9Gy",
            "result_chars": 102,
            "is_error": True,
        },
        {  # still running: is_error null → omitted
            "event_type": "tool_result",
            "timestamp": "2026-03-21T10:06:06.704Z",
            "source": "response_item.function_call_output",
            "tool_call_id": "call_vN5rPqY7mJc2HtBdX4zLe8Ux",
            "result_chars": 113,
        },
        {
            "event_type": "reasoning",
            "timestamp": "2026-03-21T10:06:07.378Z",  # line 19
            "source": "response_item.reasoning",
        },
        {
            "event_type": "text",
            "timestamp": "2026-03-21T10:06:08.047Z",  # line 21, content list JSON 206 chars
            "source": "response_item.message",
            "content_chars": 206,
        },
        {
            "event_type": "tool_call",
            "timestamp": "2026-03-21T10:06:08.378Z",  # line 22
            "source": "response_item.function_call",
            "tool_call_id": "call_Qw8LzC3nTyR6pXsV1mKaE7Db",
            "tool_name": "write_stdin",
            "tool_index": 0,
        },
        {
            "event_type": "usage_report",
            "timestamp": "2026-03-21T10:06:08.390Z",  # line 23
            "source": "event_msg.token_count",
        },
    ]
    assert r["current_tool_result_count"] == 3
    assert r["current_tool_result_chars"] == 337  # 122 + 102 + 113
    assert r["current_input_chars"] == 337
    assert r["current_user_message_count"] == 0
    assert r["first_input_event_type"] == "tool_result"
    (t,) = r["tools"]
    # line 22 08.378 → line 24 13.380 = 5.002 s; "Wall time: 5.0014 seconds" → 5001.4 → 5001;
    # still running → is_error null
    assert t["result_at"] == "2026-03-21T10:06:13.380Z"
    assert t["tool_wall_latency_ms"] == 5002
    assert t["tool_internal_latency_ms"] == 5001
    assert t["is_error"] is None
    assert t["result_chars"] == 113
    assert t["input_chars"] == 77

    (t,) = codex_rows[2]["tools"]
    # line 26 14.626 → line 28 14.634 = 8 ms; output "write_stdin failed: …" has neither a
    # Wall time line nor an exit code and is not JSON → internal and is_error null.
    assert t["tool_call_id"] == "call_mE4bXy9VcT2qLpN6sRdH8WaJ"
    assert t["tool_wall_latency_ms"] == 8
    assert t["tool_internal_latency_ms"] is None
    assert t["is_error"] is None
    assert t["result_chars"] == 105
    assert t["input_chars"] == 83


@needs_fixtures
def test_codex_wall_time_rounding_and_later_turns(codex_rows):
    zp6, ct7 = codex_rows[3]["tools"]
    # line 32 18.480 → line 35 18.571 = 91 ms; "Wall time: 0.0000" → 0; exit code 0
    assert (zp6["tool_wall_latency_ms"], zp6["tool_internal_latency_ms"], zp6["is_error"]) == (
        91,
        0,
        False,
    )
    # line 33 18.486 → line 36 18.662 = 176 ms; "Wall time: 0.0103 seconds" → 10.3 → 10
    assert (ct7["tool_wall_latency_ms"], ct7["tool_internal_latency_ms"], ct7["is_error"]) == (
        176,
        10,
        False,
    )

    r = codex_rows[5]
    # line 45 user_message "'/workspace/project/AGENT.md'" = 29 code points
    assert drop_nulls(r["timing_events"][0]) == {
        "event_type": "user_message",
        "timestamp": "2026-03-21T10:06:29.707Z",
        "source": "event_msg.user_message",
        "content_chars": 29,
    }
    assert r["current_input_event_count"] == 1

    r = codex_rows[7]
    # lines 62 (user_message "rename", 6), 63 reasoning, 65 text (157), 66 call, 67 count
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        {
            "event_type": "user_message",
            "timestamp": "2026-03-21T10:06:55.216Z",
            "source": "event_msg.user_message",
            "content_chars": 6,
        },
        {
            "event_type": "reasoning",
            "timestamp": "2026-03-21T10:06:57.396Z",
            "source": "response_item.reasoning",
        },
        {
            "event_type": "text",
            "timestamp": "2026-03-21T10:06:58.063Z",
            "source": "response_item.message",
            "content_chars": 157,
        },
        {
            "event_type": "tool_call",
            "timestamp": "2026-03-21T10:06:59.156Z",
            "source": "response_item.function_call",
            "tool_call_id": "call_Yd5GmR2sKq8vWnC7xPaT4LeJ",
            "tool_name": "exec_command",
            "tool_index": 0,
        },
        {
            "event_type": "usage_report",
            "timestamp": "2026-03-21T10:06:59.174Z",
            "source": "event_msg.token_count",
        },
    ]
    (t,) = r["tools"]
    # line 66 59.156 → line 68 59.214 = 58 ms; Wall time 0.0000 → 0; exit code 0
    assert (t["tool_wall_latency_ms"], t["tool_internal_latency_ms"], t["is_error"]) == (
        58,
        0,
        False,
    )
    assert (t["result_chars"], t["input_chars"]) == (174, 184)

    r = codex_rows[8]
    # line 68 output (174 chars) is the input; line 70 text (169); no reasoning; line 71 count
    assert [drop_nulls(e) for e in r["timing_events"]] == [
        {
            "event_type": "tool_result",
            "timestamp": "2026-03-21T10:06:59.214Z",
            "source": "response_item.function_call_output",
            "tool_call_id": "call_Yd5GmR2sKq8vWnC7xPaT4LeJ",
            "result_chars": 174,
            "is_error": False,
        },
        {
            "event_type": "text",
            "timestamp": "2026-03-21T10:07:00.366Z",
            "source": "response_item.message",
            "content_chars": 169,
        },
        {
            "event_type": "usage_report",
            "timestamp": "2026-03-21T10:07:00.374Z",
            "source": "event_msg.token_count",
        },
    ]
    assert r["tools"] == []


# --- 2c. rules the fixtures do not exercise: tiny hand-written logs ---------------------------


def _write(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def _assistant(ts, mid, usage, blocks, stop=None, model="m"):
    return {
        "type": "assistant",
        "timestamp": ts,
        "message": {
            "id": mid,
            "model": model,
            "content": blocks,
            "stop_reason": stop,
            "usage": usage,
        },
    }


def _usage(inp, creation, read, out):
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
        "output_tokens": out,
    }


def test_claude_usage_snapshot_rules_content_lists_and_half_even_latency(tmp_path):
    home = tmp_path / "h"
    _write(
        home / ".claude/projects/-p/s.jsonl",
        [
            # l1: a user content list without tool results → its whole compact JSON:
            # [{"type":"text","text":"héllo"}] = 1+1+6+1+6+1+6+1+7+1+1 = 32 chars
            {
                "type": "user",
                "timestamp": "2026-01-01T00:00:00.000Z",
                "message": {"role": "user", "content": [{"type": "text", "text": "héllo"}]},
            },
            # l2-l4 one message A: usage grows (output 5 → 40 → 40 with larger input)
            _assistant(
                "2026-01-01T00:00:01.000Z",
                "A",
                _usage(1, 2, 3, 5),
                [{"type": "text", "text": "ab"}],
            ),
            _assistant(
                "2026-01-01T00:00:02.000Z",
                "A",
                _usage(1, 2, 3, 40),
                [{"type": "tool_use", "id": "t1", "name": "X", "input": {}}],
            ),
            _assistant(
                "2026-01-01T00:00:02.500Z",
                "A",
                _usage(10, 2, 3, 40),
                [{"type": "tool_use", "id": "t2", "name": "Y", "input": {"k": "é"}}],
            ),
            # l5: synthetic message: skipped entirely
            _assistant(
                "2026-01-01T00:00:02.600Z",
                SYNTHETIC,
                _usage(0, 0, 0, 0),
                [{"type": "text", "text": "x"}],
                model=SYNTHETIC,
            ),
            # l6: results; t1 content is a list → compact JSON
            # [{"type":"text","text":"ok—"}] = 1+1+6+1+6+1+6+1+5+1+1 = 30 chars; the text
            # block next to the results is ignored; durationMs applies to the record.
            {
                "type": "user",
                "timestamp": "2026-01-01T00:00:02.0025Z",
                "toolUseResult": {"duration_ms": 7.5},
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "ok—"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "ignored"},
                    ],
                },
            },
            # l7: t2 result at 02.5035 → 3.5 ms
            {
                "type": "user",
                "timestamp": "2026-01-01T00:00:02.5035Z",
                "toolUseResult": {"duration_seconds": 0.0015},
                "message": {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t2", "content": None}],
                },
            },
            # l8-l9 message B: equal rank (output 9, input 4+0+0 = 0+4+0 = 4, no stop_reason)
            # → the later record (l9) wins the tie
            _assistant(
                "2026-01-01T00:00:03.000Z", "B", _usage(4, 0, 0, 9), [{"type": "text", "text": "c"}]
            ),
            _assistant(
                "2026-01-01T00:00:04.000Z", "B", _usage(0, 4, 0, 9), [{"type": "text", "text": "d"}]
            ),
            # l10-l11 message C: the later snapshot has less output → the first one is kept
            _assistant(
                "2026-01-01T00:00:05.000Z",
                "C",
                _usage(1, 1, 1, 8),
                [{"type": "text", "text": "e"}],
                stop="end_turn",
            ),
            _assistant(
                "2026-01-01T00:00:06.000Z",
                "C",
                _usage(50, 50, 50, 2),
                [{"type": "text", "text": "f"}],
            ),
            # l12-l13 message D: same output and input; only l12 has stop_reason → l12 kept
            # even though l13 is later
            _assistant(
                "2026-01-01T00:00:07.000Z",
                "D",
                _usage(0, 6, 0, 3),
                [{"type": "text", "text": "g"}],
                stop="end_turn",
            ),
            _assistant(
                "2026-01-01T00:00:08.000Z", "D", _usage(6, 0, 0, 3), [{"type": "text", "text": "h"}]
            ),
        ],
    )
    report, rows = collect_home(home)
    assert [r["round_id"] for r in rows] == ["A", "B", "C", "D"]
    a, b, c, d = rows
    # A: max snapshot is l4 (output 40, input 10+2+3=15 beats l3's 1+2+3=6); never summed
    assert (a["claude_uncached_input_tokens"], a["input_tokens_total"], a["output_tokens"]) == (
        10,
        15,
        40,
    )
    assert a["timing_events"][0]["content_chars"] == 32
    assert a["current_user_message_chars"] == 32
    t1, t2 = a["tools"]
    assert t1["result_chars"] == 30
    assert t1["is_error"] is True
    # 02.0025 − 02.000 = 2.5 ms → round half to even → 2
    assert t1["tool_wall_latency_ms"] == 2
    # duration_ms 7.5 → round(7.5) = 8 (half to even: 8 is even)
    assert t1["tool_internal_latency_ms"] == 8
    # 02.5035 − 02.500 = 3.5 ms → 4 (even)
    assert t2["tool_wall_latency_ms"] == 4
    assert t2["result_chars"] == 0  # content null → 0
    assert t2["input_chars"] == 9  # {"k":"é"}
    assert t2["is_error"] is False  # l7 block has no is_error key: finished → false (§3)
    # duration_seconds 0.0015 × 1000 = 1.5 → 2
    assert t2["tool_internal_latency_ms"] == 2
    # B: l9 wins the tie: uncached 0, creation 4
    assert (b["claude_uncached_input_tokens"], b["claude_cache_creation_input_tokens"]) == (0, 4)
    # B's inputs are the two tool results (l6, l7); the "ignored" text block adds nothing
    assert [e["event_type"] for e in b["timing_events"]][:2] == ["tool_result", "tool_result"]
    assert b["current_tool_result_chars"] == 30  # 30 + 0
    # C: l10 kept (output 8 > 2)
    assert (c["input_tokens_total"], c["output_tokens"]) == (3, 8)
    # D: l12 kept (stop_reason set): uncached 0, creation 6
    assert (d["claude_uncached_input_tokens"], d["claude_cache_creation_input_tokens"]) == (0, 6)
    assert report.skipped_lines == 0


def test_codex_echoes_null_info_exec_end_and_custom_tools(tmp_path):
    def line(ts, kind, payload):
        return {"timestamp": f"2026-01-01T00:00:{ts}Z", "type": kind, "payload": payload}

    def count(ts, total, last):
        return line(
            ts,
            "event_msg",
            {
                "type": "token_count",
                "info": {"total_token_usage": total, "last_token_usage": last},
            },
        )

    def usage(i, c, o, r):
        return {
            "input_tokens": i,
            "cached_input_tokens": c,
            "output_tokens": o,
            "reasoning_output_tokens": r,
            "total_tokens": i + o,
        }

    home = tmp_path / "h"
    _write(
        home / ".codex/sessions/2026/01/01/rollout-x.jsonl",
        [
            line("00.000", "session_meta", {"id": "S", "cwd": "/w", "source": "cli"}),
            line("00.001", "turn_context", {"turn_id": "T", "model": "g", "cwd": "/w"}),
            line("00.002", "event_msg", {"type": "user_message", "message": "hi"}),
            line("00.003", "event_msg", {"type": "token_count", "info": None}),  # not a step
            line(
                "01.000",
                "response_item",
                {
                    "type": "custom_tool_call",
                    "name": "apply_patch",
                    "input": "*** x",
                    "call_id": "c1",
                },
            ),
            line(
                "01.001",
                "response_item",
                {"type": "function_call", "name": "exec", "arguments": "{}", "call_id": "c2"},
            ),
            count("01.002", usage(10, 4, 3, 1), usage(10, 4, 3, 1)),  # step 0
            count("01.003", usage(10, 4, 3, 1), usage(10, 4, 3, 1)),  # echo: same total
            # c1: JSON output with metadata.exit_code 2 → error; then patch_apply_end success
            # true → is_error takes the latest non-null value (False); result_at stays first
            line(
                "02.0005",
                "response_item",
                {
                    "type": "custom_tool_call_output",
                    "call_id": "c1",
                    "output": '{"output":"","metadata":{"exit_code":2}}',
                },
            ),
            line(
                "03.000", "event_msg", {"type": "patch_apply_end", "call_id": "c1", "success": True}
            ),
            # c2: exec_command_end first (exit 1), then the output "Exit code: 0"
            line(
                "02.0015",
                "event_msg",
                {"type": "exec_command_end", "call_id": "c2", "exit_code": 1},
            ),
            line(
                "02.500",
                "response_item",
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": "Exit code: 0\nWall time: 0.0025 seconds",
                },
            ),
            # cumulative 10 → 25 but the step uses last_token_usage (15, 12): append = 3
            count("04.000", usage(25, 16, 5, 1), usage(15, 12, 2, 0)),  # step 1
            # input smaller than cached → append clamps to 0
            count("05.000", usage(30, 26, 6, 1), usage(5, 10, 1, 0)),  # step 2
        ],
    )
    report, rows = collect_home(home)
    assert [r["round_id"] for r in rows] == ["T:0", "T:1", "T:2"]
    s0, s1, s2 = rows
    assert s0["session_id"] == "codex:S"
    assert [e["event_type"] for e in s0["timing_events"]] == [
        "user_message",
        "tool_call",
        "tool_call",
        "usage_report",
    ]
    assert s0["timing_events"][-1]["timestamp"] == "2026-01-01T00:00:01.002Z"
    c1, c2 = s0["tools"]
    assert c1["input_chars"] == 5  # "*** x"
    assert c1["result_at"] == "2026-01-01T00:00:02.0005Z"
    assert c1["tool_wall_latency_ms"] == 1000  # 02.0005 − 01.000 = 1000.5 ms → 1000 (even)
    assert c1["is_error"] is False  # metadata.exit_code 2 (True), then patch success (False)
    assert c1["result_chars"] == 40  # '{"output":"","metadata":{"exit_code":2}}'
    assert c2["result_at"] == "2026-01-01T00:00:02.0015Z"  # exec_command_end came first
    assert c2["tool_wall_latency_ms"] == 1000  # 02.0015 − 01.001 = 1000.5 → 1000
    assert c2["is_error"] is False  # 1 → True, then "Exit code: 0" → latest non-null False
    assert c2["tool_internal_latency_ms"] == 2  # 0.0025 × 1000 = 2.5 → 2 (even)
    # the echo (01.003) made no step; step 1's inputs: the two first outputs only.
    # Spec ambiguity: "the first output sets … the only tool_result event; … is_error takes
    # the latest non-null value" does not say whether the event's is_error follows. The
    # parser's choice: the event records what the first output said (True for both), while
    # tools[].is_error takes the latest value (False for both, above).
    results = [e for e in s1["timing_events"] if e["event_type"] == "tool_result"]
    assert [(e["tool_call_id"], e["source"], e["is_error"]) for e in results] == [
        ("c1", "response_item.custom_tool_call_output", True),
        ("c2", "event_msg.exec_command_end", True),
    ]
    assert (s1["input_tokens_total"], s1["prefix_tokens"], s1["newly_append_tokens"]) == (
        15,
        12,
        3,
    )
    assert (s2["input_tokens_total"], s2["prefix_tokens"], s2["newly_append_tokens"]) == (
        5,
        10,
        0,
    )
    assert report.skipped_lines == 0


# --- 3. the hand-made home: robustness -------------------------------------------------------


@needs_fixtures
def test_handmade_home_collects_good_rows_and_reports_bad_lines():
    report, rows = collected(HANDMADE_HOME)
    edge = HANDMADE_HOME / ".claude/projects/-tmp/edge_cases.jsonl"
    assert report.files == 4
    assert report.skipped_files == []
    # edge_cases.jsonl lines 13 ("massive error"), 15 (42), 16 ([1]) are JSON but not objects
    assert report.skipped_lines == 3
    problems = report.file_problems[str(edge)]
    assert any("3 line(s) not a JSON object" in p for p in problems)
    # line 14 {"silly": "this"} has no `type`
    assert any("without a type" in p for p in problems)
    # line 11 has `message: "error"` (a string)
    assert any("user record without message" in p for p in problems)
    # only edge_cases.jsonl has problems
    assert set(report.file_problems) == {str(edge)}
    # good rows are kept: edge_cases.jsonl has message ids edge_002, edge_004, edge_009 and
    # msg_004 (line 17) → 4 steps; the other files keep theirs too.
    counts = Counter(Path(r["session_file"]).name for r in rows)
    assert counts == {
        "edge_cases.jsonl": 4,  # lines 2, 4, 9, 17
        "representative_messages.jsonl": 5,  # lines 2, 4, 6, 8, 10
        "session_b.jsonl": 1,  # line 2
        "todowrite_examples.jsonl": 6,  # lines 2, 3, 5, 6, 9, 10
    }
    edge_rows = {r["round_id"]: r for r in rows if Path(r["session_file"]) == edge}
    (tool,) = edge_rows["edge_004"]["tools"]
    # line 5 tool_result for tool_edge_001 carries "is_error": true; its toolUseResult is a
    # string → no runner duration
    assert tool["tool_call_id"] == "tool_edge_001"
    assert tool["is_error"] is True
    assert tool["tool_internal_latency_ms"] is None
    assert tool["result_at"] == "2025-06-14T11:01:31Z"
    assert tool["tool_wall_latency_ms"] == 1000  # 11:01:30 → 11:01:31


def test_summary_only_file_produces_no_rows(tmp_path):
    home = tmp_path / "h"
    _write(
        home / ".claude/projects/-p/only-summaries.jsonl",
        [
            {"type": "summary", "summary": "A summary", "leafUuid": "u1"},
            {"type": "summary", "summary": "Another", "leafUuid": "u2"},
        ],
    )
    report, rows = collect_home(home)
    assert report.files == 1
    assert rows == []
    assert report.skipped_lines == 0
    assert report.file_problems == {}


@needs_fixtures
def test_handmade_summary_records_alone_produce_no_rows(tmp_path):
    # The hand-made files end with their `summary` records; a file of just those is a
    # summary-only session (as Claude Code leaves after compaction) and yields nothing.
    summaries = [
        rec
        for _, p in all_fixture_files()
        if HANDMADE_HOME in p.parents
        for _, rec in raw_records(p)
        if rec.get("type") == "summary"
    ]
    assert summaries
    home = tmp_path / "h"
    _write(home / ".claude/projects/-tmp/summary-only.jsonl", summaries)
    report, rows = collect_home(home)
    assert rows == []
    assert report.file_problems == {}
