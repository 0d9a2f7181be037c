"""The privacy audit: every kind of leak is found at the right line and field; clean files pass."""

from __future__ import annotations

import gzip
import string
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelab import privacy
from tracelab.io import write_rows
from tracelab.privacy import (
    AuditFinding,
    AuditReport,
    PrivateMatcher,
    audit_file,
    audit_rows,
    string_leaks,
)
from tracelab.sanitize import sanitize_file, sanitize_row
from tracelab.schema import make_trace_key

KEY = b"k" * 32


def clean_row() -> dict[str, Any]:
    """What a sanitized row looks like (shapes as the sanitizer writes them)."""
    session, rnd = "claude:s_0123456789abcdef", "r_fedcba9876543210"
    return {
        "provider": "claude",
        "project": "p_00112233445566aa",
        "session_id": session,
        "session_file": None,
        "is_subagent": False,
        "round_index": 0,
        "round_id": rnd,
        "turn_id": None,
        "cwd": None,
        "model": "claude-opus-4-8",
        "input_tokens_total": 100,
        "timing_events": [
            {
                "event_type": "tool_call",
                "timestamp": "2026-06-01T05:40:30.836Z",
                "source": "assistant.content.tool_use",
                "tool_call_id": "c_aaaaaaaaaaaaaaaa",
                "tool_name": "mcp__srv_0123456789abcdef__create_issue",
                "tool_index": 0,
            }
        ],
        "tools": [
            {
                "tool_index": 0,
                "tool_name": "mcp__srv_0123456789abcdef__create_issue",
                "tool_call_id": "c_aaaaaaaaaaaaaaaa",
                "emitted_at": "2026-06-01T05:40:30.836Z",
                "result_at": "2026-06-01T05:40:31.696+00:00",
                "input": None,
                "input_chars": 168,
                "is_error": False,
            }
        ],
        "first_input_event_type": "user_message",
        "home": None,
        "user": "u_1234567890abcdef",
        "store": ".claude.back",
        "trace_key": make_trace_key("claude", session, rnd),
    }


def findings_of(report: AuditReport) -> set[tuple[int, str, str]]:
    return {(f.line, f.field, f.reason) for f in report.findings}


# --- each kind of leak ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/home/alice/proj", privacy.PATH),
        ("/Users/bob", privacy.PATH),
        ("/root", privacy.PATH),
        ("cd /opt/service/bin && make", privacy.PATH),
        ("C:\\Users\\carol\\src", privacy.PATH),
        ("D:/work/x", privacy.PATH),
        ("~/notes.md", privacy.PATH),
        ("\\\\fileserver\\share", privacy.PATH),
        ("-home-alice-secret-proj", privacy.PATH),
        ("C--Users-carol-proj", privacy.PATH),
        ("mail alice.smith+tl@example.co.uk please", privacy.EMAIL),
        ("https://intranet.example.com/x", privacy.URL),
        ("see www.example.org", privacy.URL),
        ("msg_01HkTq9ZxVb3RmN8pLw2Ys4D", privacy.RAW_ID),
        ("toolu_01AbCdEfGhIjKlMnOpQrSt", privacy.RAW_ID),
        ("call_Zk3mQ8rT1vX6yB0nH4jL", privacy.RAW_ID),
        ("9d3b7f0e-1c2a-4b5d-8e6f-0a1b2c3d4e5f", privacy.RAW_ID),
        ("sk-ant-api03-Xy7_Qw2-Zr9TtUvWxYz012345", privacy.SECRET),
        ("sk-proj-abcdefghij0123456789", privacy.SECRET),
        ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", privacy.SECRET),
        ("AKIAIOSFODNN7EXAMPLE", privacy.SECRET),
        ("-----BEGIN RSA PRIVATE KEY-----", privacy.SECRET),
        ("password=hunter2hunter2", privacy.SECRET),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", privacy.SECRET),
        ("sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd1", privacy.HIGH_ENTROPY),
        ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdI", privacy.HIGH_ENTROPY),
        ("x9K2mQ7vL4pR8tW1zB6nC3", privacy.HIGH_ENTROPY),
    ],
)  # fmt: skip
def test_each_kind_of_leak_is_found_with_line_and_field(value: str, reason: str) -> None:
    rows = [clean_row(), clean_row(), clean_row()]
    rows[1]["tools"][0]["tool_name"] = value  # line 2, nested
    rows[2]["extra"] = {"deep": [0, {"note": value}]}  # line 3, unknown field, deeper
    report = audit_rows(rows)
    assert not report.ok
    assert (2, "tools[0].tool_name", reason) in findings_of(report)
    assert (3, "extra.deep[1].note", reason) in findings_of(report)
    assert {f.line for f in report.findings} == {2, 3}


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("session_file",), "session_file"),
        (("home",), "home"),
        (("cwd",), "cwd"),
        (("workdir",), "workdir"),
        (("tools", 0, "input"), "tools[0].input"),
        (("logPath",), "logPath"),
        (("cache_dir",), "cache_dir"),
        (("meta",), "meta"),
    ],
)
def test_private_keys_holding_a_value_are_found(where: tuple[Any, ...], field: str) -> None:
    row = clean_row()
    target: Any = row
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = {"filename": "notes"} if field == "meta" else "x"
    report = audit_rows([clean_row(), row])
    expected = "meta.filename" if field == "meta" else field
    assert (2, expected, privacy.PRIVATE_KEY) in findings_of(report)


def test_private_keys_that_are_null_or_empty_are_fine() -> None:
    row = clean_row()
    row.update(session_file=None, home="", cwd=None, workdir=[])
    row["tools"][0]["input"] = None
    assert audit_rows([row]).ok


def test_key_names_are_scanned_too() -> None:
    row = clean_row()
    row["by_path"] = {"/home/alice/x": 1}
    report = audit_rows([row])
    assert (1, "by_path./home/alice/x (key name)", privacy.PATH) in findings_of(report)


def test_known_private_values_are_found_verbatim() -> None:
    row = clean_row()
    row["tools"][0]["tool_name"] = "Alice_export"
    row["timing_events"][0]["source"] = "assistant.secret-proj.x"
    report = audit_rows([row], {"/home/alice/secret-proj"})
    assert findings_of(report) == set()  # the path as a whole is not there
    report = audit_rows([row], {"alice", "secret-proj"})
    assert findings_of(report) == {
        (1, "tools[0].tool_name", privacy.PRIVATE_VALUE),
        (1, "timing_events[0].source", privacy.PRIVATE_VALUE),
    }


def test_private_matcher_word_boundaries_and_generic_words() -> None:
    m = PrivateMatcher({"alice", "/home/alice/secret-proj", "root", "user", "ab", "/workspace"})
    assert m.found_in("hi alice")
    assert m.found_in("-home-alice-secret-proj")  # the Claude project-dir spelling
    assert not m.found_in("malice aforethought")
    assert not m.found_in("user.message")  # generic names are not identifying
    assert not m.found_in("root abc")
    assert not m.found_in("/workspace/project")
    assert not PrivateMatcher({"user", "claude", "tool_result"})


def test_strict_mode_requires_pseudonyms() -> None:
    row = clean_row()
    row["user"] = "alice"
    row["round_id"] = "r_fedcba9876543210:12"  # the Codex suffix is a valid shape
    row["trace_key"] = make_trace_key("claude", row["session_id"], row["round_id"])
    row["timing_events"][0]["tool_call_id"] = "c_short"
    assert audit_rows([row]).ok  # not strict: nothing here is a leak by itself
    report = audit_rows([row], strict=True)
    assert findings_of(report) == {
        (1, "user", privacy.NOT_PSEUDONYMIZED),
        (1, "timing_events[0].tool_call_id", privacy.NOT_PSEUDONYMIZED),
    }


def test_strict_mode_requires_pseudonymized_parent_links() -> None:
    row = clean_row()
    row["parent_session_id"] = "claude:s_0123456789abcdef"  # shapes the sanitizer writes
    row["parent_tool_call_id"] = "c_aaaaaaaaaaaaaaaa"
    assert audit_rows([row], strict=True).ok
    row["parent_session_id"] = "claude:main-session"  # raw ids, harmless-looking words
    row["parent_tool_call_id"] = "spawn1"
    assert findings_of(audit_rows([row], strict=True)) == {
        (1, "parent_session_id", privacy.NOT_PSEUDONYMIZED),
        (1, "parent_tool_call_id", privacy.NOT_PSEUDONYMIZED),
    }


# --- what must NOT be flagged ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-06-01T05:40:30.836Z",
        "2026-06-01T05:40:30+02:00",
        "2026-06-01",
        "claude-opus-4-8",
        "claude-3-5-sonnet-20241022",
        "claude-sonnet-4-5@20250929",
        "gpt-5.4",
        "gpt-5.1-codex-max",
        "o4-mini-2025-04-16",
        "Qwen2.5-Coder-32B-Instruct",
        "claude-3-7-sonnet-20250219[1m]",
        "user.message",
        "user.content.tool_result",
        "assistant.content.thinking|text|tool_use",
        "response_item.function_call_output",
        "event_msg.exec_command_end",
        "event_msg.token_count",
        ".claude",
        ".claude.back",
        ".codex",
        "mcp__claude_ai_Google_Drive__search_files",
        "mcp__srv_0123456789abcdef__create_issue",
        "exec_command",
        "apply_patch",
        "TodoWrite",
        "u_0123456789abcdef",
        "claude:s_0123456789abcdef",
        "r_0123456789abcdef:17",
        "claude:claude:s_0123456789abcdef:r_0123456789abcdef",
        "tool_0123456789abcdef",
        "m_0123456789abcdef",
        "3/4 of the input and/or output",
        "",
    ],
)
def test_not_flagged(value: str) -> None:
    assert string_leaks(value) == ()


def test_clean_rows_pass() -> None:
    report = audit_rows([clean_row(), clean_row()], {"alice", "/home/alice"}, strict=True)
    assert report.ok, report.summary()
    assert report.rows == 2
    assert report.findings == []


# --- files ------------------------------------------------------------------------------------


def test_audit_file_reports_physical_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    leaky = clean_row()
    leaky["cwd"] = "/home/alice/proj"
    lines = [orjson.dumps(clean_row()), b"", orjson.dumps(leaky), b"{not json /home/bob"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = audit_file(path)
    assert report.rows == 2
    assert report.skipped_lines == 1
    assert findings_of(report) == {
        (3, "cwd", privacy.PRIVATE_KEY),
        (3, "cwd", privacy.PATH),
        (4, "<line>", privacy.UNPARSEABLE),
        (4, "<line>", privacy.PATH),
    }
    assert report.findings[0] == AuditFinding(3, "cwd", privacy.PRIVATE_KEY)
    assert "line 3: cwd" in report.summary()
    assert "/home/alice" not in report.summary()  # values are never echoed
    assert report.to_json()["finding_count"] == 4


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".parquet"])
def test_audit_file_other_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    leaky = clean_row()
    leaky["tools"][0]["input"] = {"cmd": "cat /etc/passwd"}
    write_rows([clean_row(), leaky], path)
    report = audit_file(path)
    assert (2, "tools[0].input", privacy.PRIVATE_KEY) in findings_of(report)
    assert report.rows == 2


def test_truncated_gzip_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    data = gzip.compress(b"".join(orjson.dumps(clean_row()) + b"\n" for _ in range(50)))
    path.write_bytes(data[: len(data) // 2])
    report = audit_file(path)
    assert not report.ok
    assert report.findings[-1].field == "<file>"


def test_sanitized_file_passes_audit(tmp_path: Path) -> None:
    private = clean_row()
    private.update(
        project="-home-alice-secret-proj",
        session_id="claude:9d3b7f0e-1c2a-4b5d-8e6f-0a1b2c3d4e5f",
        session_file="/home/alice/.claude/projects/x.jsonl",
        round_id="msg_01HkTq9ZxVb3RmN8pLw2Ys4D",
        home="/home/alice",
        user="alice",
        cwd="/home/alice/secret-proj",
    )
    private["tools"][0]["input"] = {"path": "/home/alice/secret-proj/a.py"}
    src, dst = tmp_path / "private.jsonl", tmp_path / "public.jsonl"
    write_rows([private], src)
    assert not audit_file(src).ok
    sanitize_file(src, dst, KEY)
    report = audit_file(dst, {"alice", "/home/alice", "secret-proj"}, strict=True)
    assert report.ok, report.summary()


def test_many_findings_are_counted_but_capped() -> None:
    rows = [{"cwd": f"/home/u{i}/x"} for i in range(700)]
    report = audit_rows(rows)
    assert report.finding_count == 1400
    assert len(report.findings) == report.max_findings
    assert not report.ok


# --- property: injected private strings never survive sanitizing ----------------------------

_name = st.text(string.ascii_lowercase, min_size=3, max_size=10)
_junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=20)


@st.composite
def injected_leak(draw: st.DrawFn) -> str:
    user = draw(_name)
    return draw(
        st.sampled_from(
            [
                f"/home/{user}/{draw(_name)}",
                f"/Users/{user}/Documents",
                f"C:\\Users\\{user}\\src",
                f"{user}@{draw(_name)}.com",
                f"https://{draw(_name)}.example.com/{user}",
                f"~/{user}/notes",
            ]
        )
    )


_allowed_string_targets = st.sampled_from(
    [
        ("model",),
        ("store",),
        ("provider",),
        ("first_input_event_type",),
        ("tools", 0, "tool_name"),
        ("tools", 0, "emitted_at"),
        ("timing_events", 0, "source"),
        ("timing_events", 0, "event_type"),
        ("timing_events", 0, "tool_name"),
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leak=injected_leak(),
    before=_junk,
    after=_junk,
    extra_names=st.lists(
        st.text(string.ascii_letters + "_", min_size=1, max_size=12), min_size=1, max_size=4
    ),
    nested=st.booleans(),
    target=_allowed_string_targets,
)
def test_injected_private_strings_never_survive(
    leak: str,
    before: str,
    after: str,
    extra_names: list[str],
    nested: bool,
    target: tuple[Any, ...],
) -> None:
    value = f"{before}{leak}{after}"
    row = clean_row()
    for name in extra_names:  # random unknown fields, at the top and inside records
        row[f"x_{name}"] = {"v": [value]} if nested else value
        row["tools"][0][f"x_{name}"] = value
        row["timing_events"][0][f"x_{name}"] = value
    holder: Any = row
    for step in target[:-1]:
        holder = holder[step]
    holder[target[-1]] = value  # and into a field the allow-list keeps

    out = sanitize_row(row, KEY)

    dumped = orjson.dumps(out).decode()
    assert leak not in dumped
    assert value not in dumped
    report = audit_rows([out], {leak}, strict=True)
    assert report.ok, report.summary()
