"""The approval class of each Codex function call, read from the raw rollout logs (amendments
§13, the reference's approval audit).

A Codex `function_call` record's `arguments` (a JSON string) may carry `sandbox_permissions`:
`require_escalated` when the model asked to run outside the sandbox — the call then waits for
the user's approval. The normalized trace keeps only the private raw input, which a sanitized
trace drops and the database never holds, so the audit reads the logs themselves, by the
`session_file` a private trace names. Only the class leaves this module, never an argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelab.sources.common import ParseIssues, load_line

REQUIRE_ESCALATED = "require_escalated"
NO_ESCALATION_ARG = "no_escalation_arg"
RAW_MISSING = "raw_missing"
SANDBOX_PREFIX = "sandbox_"
#: A `sandbox_permissions` value shown as `sandbox_<v>`; anything else is `sandbox_other`
#: (the class names a setting, it never carries free text from the log).
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
#: Every line holding a function_call record contains this (`function_call_output` does not).
_NEEDLE = b'function_call"'


def permission_class(arguments: Any) -> str:
    """The class of one call's `arguments` (the raw JSON string, or an object already).

    Missing, null or empty `sandbox_permissions` — or arguments that are not a JSON object —
    is `no_escalation_arg`.
    """
    if isinstance(arguments, str | bytes):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return NO_ESCALATION_ARG
    if not isinstance(arguments, dict):
        return NO_ESCALATION_ARG
    value = arguments.get("sandbox_permissions")
    if value is None or value == "":
        return NO_ESCALATION_ARG
    if value == REQUIRE_ESCALATED:
        return REQUIRE_ESCALATED
    shown = value if isinstance(value, str) and _SAFE_VALUE.fullmatch(value) else "other"
    return SANDBOX_PREFIX + shown


def file_classes(path: str) -> dict[str, str]:
    """call_id → class of every `function_call` record of one rollout file (the first record
    of a call id wins, as in the parser). Unreadable lines are skipped; OSError propagates."""
    issues = ParseIssues()
    classes: dict[str, str] = {}
    with open(path, "rb") as fh:
        for line in fh:
            if _NEEDLE not in line:
                continue
            record = load_line(line, issues)
            if record is None or record.get("type") != "response_item":
                continue
            payload = record.get("payload")
            if not isinstance(payload, dict) or payload.get("type") != "function_call":
                continue
            call_id = payload.get("call_id")
            if isinstance(call_id, str) and call_id not in classes:
                classes[call_id] = permission_class(payload.get("arguments"))
    return classes


@dataclass
class RawClasses:
    """The classes of the calls asked for, and which raw files could not be read."""

    classes: list[str] = field(default_factory=list)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)


def classify_calls(calls: Iterable[tuple[str, str]]) -> RawClasses:
    """The class of each (session_file, call_id), in order: its file's `function_call` record,
    else `raw_missing` (no such record, or the file cannot be read — listed in `unreadable`).
    Each file is read once."""
    calls = list(calls)
    by_file: dict[str, dict[str, str]] = {}
    out = RawClasses()
    for path in dict.fromkeys(p for p, _ in calls):
        try:
            by_file[path] = file_classes(path)
        except OSError:
            by_file[path] = {}
            out.unreadable.append(path)
    out.files = len(by_file)
    out.classes = [by_file[p].get(call_id, RAW_MISSING) for p, call_id in calls]
    return out
