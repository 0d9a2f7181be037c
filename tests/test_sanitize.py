"""Sanitizing: allow-list, keyed pseudonyms, no private value anywhere, audit-gated output."""

from __future__ import annotations

import copy
import gzip
import os
import random
import re
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelab import sanitize as sanitize_mod
from tracelab.io import read_rows, write_rows
from tracelab.keys import SanitizeKeyError, default_key_path, load_or_create_key
from tracelab.privacy import audit_rows
from tracelab.sanitize import (
    ROW_POLICY,
    SanitizeAuditError,
    SanitizeReport,
    sanitize_file,
    sanitize_row,
)
from tracelab.schema import (
    PRIVATE_ROW_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    TOOL_FIELDS,
    make_trace_key,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

# Every string below identifies the person, machine or raw session; none may survive.
CLAUDE_SESSION_UUID = "9d3b7f0e-1c2a-4b5d-8e6f-0a1b2c3d4e5f"
CLAUDE_MSG_ID = "msg_01HkTq9ZxVb3RmN8pLw2Ys4D"
CLAUDE_TOOL_IDS = ("toolu_01AbCdEfGhIjKlMnOpQrSt", "toolu_01ZyXwVuTsRqPoNmLkJiHg")
CODEX_SESSION_UUID = "01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73"
CODEX_TURN_ID = "01a7c9e5-0000-7abc-8def-123456789abc"
CODEX_CALL_ID = "call_Zk3mQ8rT1vX6yB0nH4jL"
PRIVATE_STRINGS = (
    "alice",
    "/home/alice",
    "-home-alice-secret-proj",
    "secret-proj",
    "/home/alice/secret-proj",
    "alice@example.com",
    "/home/alice/secret-proj/notes.txt",
    "github",  # the MCP server name
    CLAUDE_SESSION_UUID,
    CLAUDE_MSG_ID,
    *CLAUDE_TOOL_IDS,
    CODEX_SESSION_UUID,
    CODEX_TURN_ID,
    CODEX_CALL_ID,
    "/srv/bob-work/payroll",
    "bob",
    "agent-7f3e",
    "rollout-2026-03-21",
    "leaky-extra-value",
)


def claude_row(**overrides: Any) -> dict[str, Any]:
    """A private Claude row as collection writes it (with an extra unknown field)."""
    ts = "2026-06-01T05:40:2{}.151Z"
    row = {
        "provider": "claude",
        "project": "-home-alice-secret-proj",
        "session_id": f"claude:{CLAUDE_SESSION_UUID}",
        "session_file": f"/home/alice/.claude/projects/-home-alice-secret-proj/"
        f"{CLAUDE_SESSION_UUID}.jsonl",
        "round_index": 3,
        "round_id": CLAUDE_MSG_ID,
        "model": "claude-opus-4-8",
        "input_tokens_total": 32272,
        "prefix_tokens": 27217,
        "newly_append_tokens": 5055,
        "claude_uncached_input_tokens": 2892,
        "claude_cache_creation_input_tokens": 2163,
        "claude_cache_creation_5m_input_tokens": 2000,
        "claude_cache_creation_1h_input_tokens": 163,
        "claude_cache_read_input_tokens": 27217,
        "output_tokens": 931,
        "reasoning_output_tokens": None,
        "timing_events": [
            {
                "event_type": "user_message",
                "timestamp": ts.format(0),
                "source": "user.message",
                "content_chars": 146,
            },
            {
                "event_type": "tool_call",
                "timestamp": ts.format(1),
                "source": "assistant.content.tool_use",
                "tool_call_id": CLAUDE_TOOL_IDS[0],
                "tool_name": "Read",
                "tool_index": 0,
            },
            {
                "event_type": "tool_call",
                "timestamp": ts.format(2),
                "source": "assistant.content.tool_use",
                "tool_call_id": CLAUDE_TOOL_IDS[1],
                "tool_name": "mcp__github__create_issue",
                "tool_index": 1,
                "debug_path": "/home/alice/secret-proj",  # unknown event attribute
            },
        ],
        "tools": [
            {
                "tool_index": 0,
                "tool_name": "Read",
                "tool_call_id": CLAUDE_TOOL_IDS[0],
                "emitted_at": ts.format(1),
                "result_at": ts.format(3),
                "input": {"file_path": "/home/alice/secret-proj/notes.txt"},
                "input_chars": 49,
                "result_chars": 1200,
                "tool_wall_latency_ms": 2000,
                "tool_internal_latency_ms": 1890,
                "is_error": False,
            },
            {
                "tool_index": 1,
                "tool_name": "mcp__github__create_issue",
                "tool_call_id": CLAUDE_TOOL_IDS[1],
                "emitted_at": ts.format(2),
                "result_at": None,
                "input": {"assignee": "alice@example.com", "body": "see /home/alice"},
                "input_chars": 61,
                "result_chars": None,
                "tool_wall_latency_ms": None,
                "tool_internal_latency_ms": None,
                "is_error": None,
                "raw_runner": "leaky-extra-value",  # unknown tool attribute
            },
        ],
        "current_user_message_count": 1,
        "current_tool_result_count": 0,
        "current_input_event_count": 1,
        "current_user_message_chars": 146,
        "current_tool_result_chars": 0,
        "current_input_chars": 146,
        "first_input_event_type": "user_message",
        "home": "/home/alice",
        "user": "alice",
        "store": ".claude",
        "cwd": "/home/alice/secret-proj",
        "workdir": "/home/alice/secret-proj",
        "hostname_hint": "leaky-extra-value",  # unknown row field from a future writer
    }
    row["trace_key"] = make_trace_key("claude", row["session_id"], row["round_id"])
    row.update(overrides)
    return row


def claude_subagent_row() -> dict[str, Any]:
    row = claude_row(
        session_id=f"claude:{CLAUDE_SESSION_UUID}/subagents/agent-7f3e",
        round_id="msg_01SubAgentStepXyZ0123456",
        round_index=0,
        is_subagent=True,
        # spawned by claude_row()'s session, by its first tool call
        parent_session_id=f"claude:{CLAUDE_SESSION_UUID}",
        parent_tool_call_id=CLAUDE_TOOL_IDS[0],
    )
    row["trace_key"] = make_trace_key("claude", row["session_id"], row["round_id"])
    return row


def codex_row(k: int = 3) -> dict[str, Any]:
    """A private Codex row: turn_id, round_id `<turn>:<k>`, cwd, no project."""
    row = {
        "provider": "codex",
        "project": None,
        "session_id": f"codex:{CODEX_SESSION_UUID}",
        "session_file": "/srv/bob-work/.codex/sessions/2026/03/21/"
        f"rollout-2026-03-21T10-05-38-{CODEX_SESSION_UUID}.jsonl",
        "round_index": 7,
        "round_id": f"{CODEX_TURN_ID}:{k}",
        "turn_id": CODEX_TURN_ID,
        "cwd": "/srv/bob-work/payroll",
        "model": "gpt-5.4",
        "input_tokens_total": 9000,
        "prefix_tokens": 8000,
        "newly_append_tokens": 1000,
        "output_tokens": 120,
        "reasoning_output_tokens": 64,
        "timing_events": [
            {
                "event_type": "tool_result",
                "timestamp": "2026-03-21T10:06:01.000Z",
                "source": "response_item.function_call_output",
                "tool_call_id": CODEX_CALL_ID,
                "result_chars": 33,
                "is_error": False,
            },
            {
                "event_type": "usage_report",
                "timestamp": "2026-03-21T10:06:02.500Z",
                "source": "event_msg.token_count",
            },
        ],
        "tools": [
            {
                "tool_index": 0,
                "tool_name": "exec_command",
                "tool_call_id": CODEX_CALL_ID,
                "emitted_at": "2026-03-21T10:06:00.000Z",
                "result_at": "2026-03-21T10:06:01.000Z",
                "input": '{"cmd": "cat /srv/bob-work/payroll/salaries.csv"}',
                "input_chars": 48,
                "result_chars": 33,
                "tool_wall_latency_ms": 1000,
                "tool_internal_latency_ms": 1002,
                "is_error": False,
            }
        ],
        "first_input_event_type": "tool_result",
        "home": "/srv/bob-work",
        "user": "bob",
        "store": ".codex",
        "is_subagent": True,
    }
    row["trace_key"] = make_trace_key("codex", row["session_id"], row["round_id"])
    return row


def all_rows() -> list[dict[str, Any]]:
    return [claude_row(), claude_subagent_row(), codex_row(3), codex_row(4)]


def strings_in(value: Any) -> list[str]:
    """Every string (keys included) anywhere in a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def drop_nulls(value: Any) -> Any:
    """Writers add every schema column (null if absent); compare what is actually there."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def assert_no_private(value: Any, private: tuple[str, ...] = PRIVATE_STRINGS) -> None:
    dumped = orjson.dumps(value).decode().lower()
    for secret in private:
        assert secret.lower() not in dumped, f"{secret!r} leaked"
    # belt and braces: also per string, so JSON escaping cannot hide a value
    for text in strings_in(value):
        for secret in private:
            assert secret.lower() not in text.lower(), f"{secret!r} leaked in {text!r}"


# --- the row ------------------------------------------------------------------------------


def test_sanitized_rows_hold_no_private_value() -> None:
    rows = all_rows()
    assert_no_private([sanitize_row(row, KEY) for row in rows])
    # ...and the inputs were really private (the test would be vacuous otherwise)
    dumped = orjson.dumps(rows).decode()
    for secret in PRIVATE_STRINGS:
        assert secret in dumped


def test_sanitize_row_does_not_mutate_its_input() -> None:
    row = claude_row()
    before = copy.deepcopy(row)
    sanitize_row(row, KEY)
    assert row == before


def test_private_and_unknown_fields_are_dropped() -> None:
    out = sanitize_row(claude_row(), KEY)
    for name in (*PRIVATE_ROW_FIELDS, "workdir", "hostname_hint"):
        assert name not in out
    assert set(out) <= set(ROW_FIELDS)
    for tool in out["tools"]:
        assert "input" not in tool
        assert "raw_runner" not in tool
        assert set(tool) <= set(TOOL_FIELDS)
    for event in out["timing_events"]:
        assert "debug_path" not in event
        assert set(event) <= set(TIMING_EVENT_FIELDS)
    assert [t["input_chars"] for t in out["tools"]] == [49, 61]


def test_every_schema_field_is_classified() -> None:
    """A new schema field must be added to the policy on purpose: until then it is dropped."""
    kept = {
        "provider", "project", "session_id", "is_subagent", "round_index", "round_id",
        "turn_id", "model", "input_tokens_total", "prefix_tokens", "newly_append_tokens",
        "claude_uncached_input_tokens", "claude_cache_creation_input_tokens",
        "claude_cache_creation_5m_input_tokens", "claude_cache_creation_1h_input_tokens",
        "claude_cache_read_input_tokens", "output_tokens", "reasoning_output_tokens",
        "parent_session_id", "parent_tool_call_id", "timing_events", "tools",
        "current_user_message_count", "current_tool_result_count",
        "current_input_event_count", "current_user_message_chars", "current_tool_result_chars",
        "current_input_chars", "first_input_event_type", "user", "store", "trace_key",
    }  # fmt: skip
    out = sanitize_row(claude_row(), KEY)
    assert set(out) == kept
    assert set(ROW_FIELDS) - kept == {"session_file", "cwd", "home"}
    assert set(ROW_POLICY) | {"is_subagent", "trace_key"} == kept


def test_kept_values_are_unchanged() -> None:
    row = claude_row()
    out = sanitize_row(row, KEY)
    for name in (
        "provider", "round_index", "model", "input_tokens_total", "prefix_tokens",
        "newly_append_tokens", "claude_uncached_input_tokens", "output_tokens",
        "claude_cache_creation_5m_input_tokens", "claude_cache_creation_1h_input_tokens",
        "current_input_chars", "first_input_event_type", "store",
    ):  # fmt: skip
        assert out[name] == row[name], name
    assert out["tools"][0]["tool_name"] == "Read"
    assert out["tools"][0]["tool_wall_latency_ms"] == 2000
    assert out["tools"][0]["is_error"] is False
    assert out["tools"][0]["emitted_at"] == row["tools"][0]["emitted_at"]
    assert [e["source"] for e in out["timing_events"]] == [
        e["source"] for e in row["timing_events"]
    ]
    assert [e["timestamp"] for e in out["timing_events"]] == [
        e["timestamp"] for e in row["timing_events"]
    ]


def test_pseudonym_shapes() -> None:
    c = sanitize_row(claude_row(), KEY)
    assert re.fullmatch(r"u_[0-9a-f]{16}", c["user"])
    assert re.fullmatch(r"p_[0-9a-f]{16}", c["project"])
    assert re.fullmatch(r"claude:s_[0-9a-f]{16}", c["session_id"])
    assert re.fullmatch(r"r_[0-9a-f]{16}", c["round_id"])
    assert re.fullmatch(r"c_[0-9a-f]{16}", c["tools"][0]["tool_call_id"])
    # the same call has the same pseudonym in tools[] and timing_events[]
    assert c["timing_events"][1]["tool_call_id"] == c["tools"][0]["tool_call_id"]
    assert c["timing_events"][2]["tool_call_id"] == c["tools"][1]["tool_call_id"]
    x = sanitize_row(codex_row(), KEY)
    assert x["project"] is None
    assert re.fullmatch(r"codex:s_[0-9a-f]{16}", x["session_id"])
    assert re.fullmatch(r"t_[0-9a-f]{16}", x["turn_id"])
    assert x["timing_events"][0]["tool_call_id"] == x["tools"][0]["tool_call_id"]


def test_codex_round_suffix_is_kept() -> None:
    three, four = sanitize_row(codex_row(3), KEY), sanitize_row(codex_row(4), KEY)
    assert re.fullmatch(r"r_[0-9a-f]{16}:3", three["round_id"])
    assert re.fullmatch(r"r_[0-9a-f]{16}:4", four["round_id"])
    # same turn → same hashed part; the step counter is what differs
    assert three["round_id"].split(":")[0] == four["round_id"].split(":")[0]
    assert three["turn_id"] == four["turn_id"]


def test_trace_key_is_rebuilt_from_the_pseudonyms() -> None:
    for row in all_rows():
        out = sanitize_row(row, KEY)
        assert out["trace_key"] == make_trace_key(
            out["provider"], out["session_id"], out["round_id"]
        )
    # distinct private keys stay distinct, duplicates stay duplicates (dedup still works)
    outs = [sanitize_row(r, KEY)["trace_key"] for r in [*all_rows(), claude_row()]]
    assert len(set(outs)) == 4


def test_is_subagent() -> None:
    assert sanitize_row(claude_row(), KEY)["is_subagent"] is False
    assert sanitize_row(claude_subagent_row(), KEY)["is_subagent"] is True
    assert sanitize_row(codex_row(), KEY)["is_subagent"] is True  # explicit field wins
    assert sanitize_row(claude_row(is_subagent=True), KEY)["is_subagent"] is True
    unknown = codex_row()
    del unknown["is_subagent"]
    assert sanitize_row(unknown, KEY)["is_subagent"] is None  # not derivable for Codex


def test_parent_links_use_the_parents_pseudonyms() -> None:
    parent, child = sanitize_row(claude_row(), KEY), sanitize_row(claude_subagent_row(), KEY)
    # same key and kind as session_id / tool_call_id: the link still joins after sanitizing
    assert child["parent_session_id"] == parent["session_id"]
    assert child["parent_tool_call_id"] == parent["tools"][0]["tool_call_id"]
    assert re.fullmatch(r"claude:s_[0-9a-f]{16}", child["parent_session_id"])
    assert re.fullmatch(r"c_[0-9a-f]{16}", child["parent_tool_call_id"])
    assert child["parent_session_id"] != child["session_id"]
    assert parent["parent_session_id"] is None and parent["parent_tool_call_id"] is None
    # another key: other pseudonyms, the same link
    other = sanitize_row(claude_subagent_row(), OTHER_KEY)
    assert other["parent_session_id"] != child["parent_session_id"]
    assert other["parent_session_id"] == sanitize_row(claude_row(), OTHER_KEY)["session_id"]
    assert audit_rows([parent, child], PRIVATE_STRINGS, strict=True).ok


def test_mcp_server_is_pseudonymized_tool_kept() -> None:
    out = sanitize_row(claude_row(), KEY)
    name = out["tools"][1]["tool_name"]
    assert re.fullmatch(r"mcp__srv_[0-9a-f]{16}__create_issue", name)
    assert out["timing_events"][2]["tool_name"] == name


@pytest.mark.parametrize(
    "tool_name",
    [
        "/home/alice/bin/deploy",
        "alice@example.com",
        "https://internal.example.com/hook",
        "C:\\Users\\alice\\tool.exe",
        "run alice script",  # not identifier-like
    ],
)
def test_private_looking_tool_names_are_pseudonymized(tool_name: str) -> None:
    row = claude_row()
    row["tools"][0]["tool_name"] = tool_name
    out = sanitize_row(row, KEY)
    assert re.fullmatch(r"tool_[0-9a-f]{16}", out["tools"][0]["tool_name"])


def test_mcp_tool_part_that_leaks_is_pseudonymized() -> None:
    row = claude_row()
    row["tools"][0]["tool_name"] = "mcp__notes__read_alice_diary"
    out = sanitize_row(row, KEY)
    assert re.fullmatch(r"mcp__srv_[0-9a-f]{16}__tool_[0-9a-f]{16}", out["tools"][0]["tool_name"])


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("model", "/opt/models/alice-ft", r"m_[0-9a-f]{16}"),
        ("model", "accounts/fireworks/models/llama-v3", r"m_[0-9a-f]{16}"),
        ("model", "ft:gpt-4o:alice:custom", r"m_[0-9a-f]{16}"),  # carries the user name
        ("model", "ft:gpt-4o-mini-2024-07-18:acme-corp::9abcDEF1", r"m_[0-9a-f]{16}"),  # org
        ("model", "claude@example.com", r"m_[0-9a-f]{16}"),
        ("store", "/home/alice/.claude", r"st_[0-9a-f]{16}"),
        ("provider", "Weird Agent/1.0", r"x_[0-9a-f]{16}"),
    ],
)
def test_unsafe_names_are_pseudonymized(field: str, value: str, pattern: str) -> None:
    out = sanitize_row(claude_row(**{field: value}), KEY)
    assert re.fullmatch(pattern, out[field])


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-8",
        "claude-opus-4-6[1m]",
        "gpt-5.4",
        "claude-3-5-sonnet-20241022",
        "gpt-5.1-codex-max",
        "qwen2.5-coder:32b",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "claude-sonnet-4-5@20250929",
    ],
)
def test_safe_model_names_are_kept(model: str) -> None:
    assert sanitize_row(claude_row(model=model), KEY)["model"] == model


def test_bad_vocabulary_values_are_dropped() -> None:
    row = claude_row(first_input_event_type="/home/alice")
    row["timing_events"][0]["source"] = "user.message /home/alice"
    row["timing_events"][0]["timestamp"] = "yesterday at alice's"
    row["tools"][0]["emitted_at"] = "/home/alice"
    out = sanitize_row(row, KEY)
    assert out["first_input_event_type"] is None
    assert out["timing_events"][0]["source"] is None
    assert out["timing_events"][0]["timestamp"] is None
    assert out["tools"][0]["emitted_at"] is None


def test_wrong_types_do_not_pass() -> None:
    row = claude_row(input_tokens_total="/home/alice", is_subagent="yes", tools="oops")
    row["timing_events"].append("not an event")
    out = sanitize_row(row, KEY)
    assert out["input_tokens_total"] is None
    assert out["is_subagent"] is False  # derived from the session id instead
    assert out["tools"] is None
    assert len(out["timing_events"]) == 3


# --- pseudonyms: stable, order-independent, keyed ------------------------------------------


def _ids(row: dict[str, Any]) -> list[Any]:
    return [
        row["user"],
        row["project"],
        row["session_id"],
        row["turn_id"],
        row["round_id"],
        row["trace_key"],
        *[t["tool_call_id"] for t in row["tools"] or ()],
        *[t["tool_name"] for t in row["tools"] or ()],
    ]


def test_pseudonyms_are_stable_across_runs() -> None:
    first = [sanitize_row(r, KEY) for r in all_rows()]
    second = [sanitize_row(r, KEY) for r in all_rows()]
    assert first == second


def test_pseudonyms_do_not_depend_on_row_order(tmp_path: Path) -> None:
    rows = all_rows()
    shuffled = rows[:]
    random.Random(4).shuffle(shuffled)
    assert shuffled != rows
    write_rows(rows, tmp_path / "a.jsonl")
    write_rows(shuffled, tmp_path / "b.jsonl")
    sanitize_file(tmp_path / "a.jsonl", tmp_path / "a.public.jsonl", KEY)
    sanitize_file(tmp_path / "b.jsonl", tmp_path / "b.public.jsonl", KEY)
    a = {r["trace_key"]: r for r in read_rows(tmp_path / "a.public.jsonl")}
    b = {r["trace_key"]: r for r in read_rows(tmp_path / "b.public.jsonl")}
    assert a == b
    assert len(a) == len(rows)


def test_different_keys_give_different_pseudonyms() -> None:
    for row in all_rows():
        mine, theirs = _ids(sanitize_row(row, KEY)), _ids(sanitize_row(row, OTHER_KEY))
        for a, b in zip(mine, theirs, strict=True):
            if a is None or a in ("Read", "exec_command"):  # absent or kept as is
                assert a == b
            else:
                assert a != b


def test_kinds_are_separate_namespaces() -> None:
    """A user and a project with the same name do not get linkable ids."""
    out = sanitize_row(claude_row(user="same", project="same"), KEY)
    assert out["user"][2:] != out["project"][2:]


# --- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_sanitize_file_round_trip(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"private{suffix}"
    dst = tmp_path / "out" / f"public{suffix}"
    write_rows(all_rows(), src)
    report = sanitize_file(src, dst, KEY)
    assert isinstance(report, SanitizeReport)
    assert (report.rows_in, report.rows_out, report.skipped_lines) == (4, 4, 0)
    assert report.ok and report.audit is not None and report.audit.ok
    assert report.audit.rows == 4
    public = list(read_rows(dst))
    expected = [sanitize_row(r, KEY) for r in all_rows()]
    assert [drop_nulls(r) for r in public] == [drop_nulls(r) for r in expected]
    assert_no_private(public)
    if suffix != ".parquet":
        raw = dst.read_bytes()
        assert_no_private((gzip.decompress(raw) if suffix.endswith(".gz") else raw).decode())
    # no staging leftovers beside the output
    assert sorted(p.name for p in dst.parent.iterdir()) == [dst.name]
    assert report.to_json()["ok"] is True


def test_sanitize_file_counts_unreadable_lines(tmp_path: Path) -> None:
    src = tmp_path / "private.jsonl"
    lines = [orjson.dumps(r) for r in all_rows()]
    lines.insert(2, b'{"provider": "claude", "cwd": "/home/alice/secret-pr')  # truncated
    src.write_bytes(b"\n".join(lines) + b"\n")
    report = sanitize_file(src, tmp_path / "public.jsonl", KEY)
    assert (report.rows_in, report.rows_out, report.skipped_lines) == (4, 4, 1)
    assert report.ok


def test_failed_audit_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "private.jsonl", tmp_path / "public.jsonl"
    write_rows(all_rows(), src)
    dst.write_bytes(b"previous good output\n")
    real = sanitize_mod.sanitize_row

    def leaky(row: dict[str, Any], key: bytes) -> dict[str, Any]:
        out = real(row, key)
        out["model"] = row["cwd"]  # a bug that lets a private path through
        return out

    monkeypatch.setattr(sanitize_mod, "sanitize_row", leaky)
    with pytest.raises(SanitizeAuditError) as info:
        sanitize_file(src, dst, KEY)
    assert "failed the privacy audit" in str(info.value)
    assert info.value.report.audit is not None
    assert not info.value.report.ok
    assert {f.field for f in info.value.report.audit.findings} == {"model"}
    assert dst.read_bytes() == b"previous good output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.jsonl", "public.jsonl"]


def test_failed_audit_catches_verbatim_private_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit gets the private strings seen in the input, so even a bare user name is caught."""
    src, dst = tmp_path / "private.jsonl", tmp_path / "public.jsonl"
    write_rows(all_rows(), src)
    real = sanitize_mod.sanitize_row

    def leaky(row: dict[str, Any], key: bytes) -> dict[str, Any]:
        out = real(row, key)
        out["first_input_event_type"] = f"by_{row['user']}"
        return out

    monkeypatch.setattr(sanitize_mod, "sanitize_row", leaky)
    with pytest.raises(SanitizeAuditError):
        sanitize_file(src, dst, KEY)
    assert not dst.exists()


def test_sanitize_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    write_rows(all_rows(), path)
    sanitize_file(path, path, KEY)
    assert_no_private(list(read_rows(path)))


def test_sanitized_rows_pass_a_strict_audit_with_all_private_values() -> None:
    out = [sanitize_row(r, KEY) for r in all_rows()]
    report = audit_rows(out, set(PRIVATE_STRINGS), strict=True)
    assert report.ok, report.summary()


# --- the key ------------------------------------------------------------------------------


def test_key_is_created_once_with_owner_only_mode(tmp_path: Path) -> None:
    path = default_key_path()
    assert path == Path(os.environ["TRACELAB_CONFIG_DIR"]) / "sanitize.key"
    assert not path.exists()
    key = load_or_create_key()
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert re.fullmatch(rb"[0-9a-f]{64}\n", path.read_bytes())
    assert load_or_create_key() == key
    assert [p.name for p in path.parent.iterdir()] == ["sanitize.key"]  # no temp leftovers


def test_key_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACELAB_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_key_path() == tmp_path / "xdg" / "tracelab" / "sanitize.key"
    load_or_create_key()
    assert (tmp_path / "xdg" / "tracelab" / "sanitize.key").is_file()


def test_shared_key_file(tmp_path: Path) -> None:
    shared = tmp_path / "team.key"
    shared.write_text("ab" * 32 + "\n")
    assert load_or_create_key(shared) == bytes([0xAB]) * 32
    raw = tmp_path / "passphrase.key"
    raw.write_bytes(b"correct horse battery staple\n")  # not hex: used as raw key material
    assert load_or_create_key(raw) == b"correct horse battery staple"
    # the same shared key gives the same pseudonyms on every machine
    assert sanitize_row(claude_row(), load_or_create_key(shared)) == sanitize_row(
        claude_row(), bytes([0xAB]) * 32
    )


def test_shared_key_file_must_exist_and_be_long_enough(tmp_path: Path) -> None:
    with pytest.raises(SanitizeKeyError, match="does not exist"):
        load_or_create_key(tmp_path / "missing.key")
    assert not (tmp_path / "missing.key").exists()  # a given key file is never created
    short = tmp_path / "short.key"
    short.write_text("abcdef\n")
    with pytest.raises(SanitizeKeyError, match="at least 16"):
        load_or_create_key(short)
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"")
    with pytest.raises(SanitizeKeyError):
        load_or_create_key(empty)


def test_corrupt_default_key_is_an_error_not_replaced() -> None:
    path = default_key_path()
    path.parent.mkdir(parents=True)
    path.write_text("tooshort")
    with pytest.raises(SanitizeKeyError):
        load_or_create_key()
    assert path.read_text() == "tooshort"


def test_concurrent_first_use_agrees_on_one_key() -> None:
    """Two collectors starting at once must not end up with different keys."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(), range(16)))
    assert len(keys) == 1
    assert [p.name for p in default_key_path().parent.iterdir()] == ["sanitize.key"]
