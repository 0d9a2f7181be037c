"""The approval class of each Codex function call, read from the raw rollout logs (amendments
§13, the reference's approval audit).

A Codex `function_call` record's `arguments` (a JSON string) may carry `sandbox_permissions`:
`require_escalated` when the model asked to run outside the sandbox — the call then waits for
the user's approval. The normalized trace keeps only the private raw input, which a sanitized
trace drops and the database never holds, so the audit reads the logs themselves, by the
`session_file` a private trace names. Only the class leaves this module, never an argument; a
call with no `function_call` record (a `custom_tool_call`, a log that is gone) is `raw_missing`
where the records are joined to the calls (`metrics.wall_gap`).
"""

from __future__ import annotations

import mmap
import os
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
_ARG = b"sandbox_permissions"


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
    of a call id wins, as in the parser). Only the lines holding the record's type are parsed
    (found by a byte search over the mapped file); unreadable lines are skipped, OSError
    propagates."""
    issues = ParseIssues()
    classes: dict[str, str] = {}
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return classes
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = data.find(_NEEDLE)
            while pos >= 0:
                start = data.rfind(b"\n", 0, pos) + 1
                end = data.find(b"\n", pos)
                end = len(data) if end < 0 else end
                line = data[start:end]
                _add(classes, load_line(line, issues), _ARG in line)
                pos = data.find(_NEEDLE, end)
    return classes


def _add(classes: dict[str, str], record: dict | None, has_arg: bool) -> None:
    """Record a function_call's class; its arguments are parsed only when the line names the
    argument at all (most do not, and they are `no_escalation_arg` without parsing)."""
    if record is None or record.get("type") != "response_item":
        return
    payload = record.get("payload")
    if not isinstance(payload, dict) or payload.get("type") != "function_call":
        return
    call_id = payload.get("call_id")
    if isinstance(call_id, str) and call_id not in classes:
        classes[call_id] = (
            permission_class(payload.get("arguments")) if has_arg else NO_ESCALATION_ARG
        )


@dataclass
class RawLogs:
    """The class of every `function_call` record of the logs read, as three columns: the log
    (`session_file`), the call id, the class."""

    session_files: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)


def read_logs(paths: Iterable[str]) -> RawLogs:
    """Every `function_call` record's class in each raw log; logs that cannot be read (moved,
    deleted, no permission) are listed, not raised."""
    out = RawLogs()
    for path in dict.fromkeys(paths):
        out.files += 1
        try:
            classes = file_classes(path)
        except (OSError, ValueError):  # ValueError: a file mmap refuses
            out.unreadable.append(path)
            continue
        out.session_files.extend([path] * len(classes))
        out.call_ids.extend(classes)
        out.classes.extend(classes.values())
    return out
