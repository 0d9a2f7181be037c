"""Sanitize a private trace for public release: allow-list, keyed pseudonyms, then an audit.

Three rules make this safe by construction rather than by vigilance:

* **Allow-list.** The output row is built field by field from a fixed policy; any field the
  policy does not name — a new field of a future row format, a private field, a typo — is
  dropped, never copied. Kept strings are checked with the audit's detectors (paths, e-mails,
  URLs, raw ids, secrets, the row's own user/home/project/cwd) and pseudonymized or dropped if
  they look private.
* **Keyed pseudonyms.** Identifiers become `HMAC-SHA256(key, kind + value)`, truncated, with a
  readable prefix (`u_`, `p_`, `s_`, `t_`, `r_`, `c_`, …; see `privacy.PSEUDONYM_PREFIXES`).
  They are stable across runs and independent of row order (a re-collected session gets the
  same ids, so traces can be merged), yet cannot be recomputed from a guessed name without the
  key. The kind is part of the hashed message, so a user and a project with the same name get
  unrelated ids.
* **Audit before publish.** `sanitize_file` writes to a staging file, audits it (including for
  the private strings it saw in the input), and only then renames it over the destination.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracelab.filecheck import check_trace_input
from tracelab.io import ReadReport, TraceFormatError, read_rows, trace_format, write_rows
from tracelab.privacy import (
    PSEUDONYM_HEX_CHARS,
    PSEUDONYM_PREFIXES,
    AuditReport,
    PrivateMatcher,
    audit_file,
    string_leaks,
)
from tracelab.schema import (
    PRIVATE_ROW_FIELDS,
    PRIVATE_TOOL_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    TOKEN_FIELDS,
    TOOL_FIELDS,
    Row,
    is_step_row,
    make_trace_key,
)

# --- pseudonyms -----------------------------------------------------------------------------

_NAMESPACE = b"tracelab/sanitize/v1\x00"


@lru_cache(maxsize=1 << 16)
def pseudonym(key: bytes, kind: str, value: str) -> str:
    """`<prefix><16 hex>` = HMAC-SHA256(key, namespace, kind, value): keyed, stable, per kind."""
    msg = _NAMESPACE + kind.encode() + b"\x00" + value.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, msg, hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIXES[kind] + digest[:PSEUDONYM_HEX_CHARS]


# --- what a kept string may look like -------------------------------------------------------

#: Model names and stores: conservative characters, no path separators, at most one `:`
#: (`qwen2.5-coder:32b`, `…-v1:0`; fine-tuned ids `ft:<base>:<org>:<name>:<id>` name the org),
#: optionally a Vertex `@<date>` version.
SAFE_NAME_RE = re.compile(r"(?=[^:]*:?[^:]*(?:@|$))[A-Za-z0-9._:\-\[\]]{1,80}(?:@\d{8})?")
#: Provider names (also the `provider:` prefix of session ids and of trace keys).
SAFE_PROVIDER_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
#: Tool names: identifiers such as `Bash`, `apply_patch`, `mcp__srv__tool`.
SAFE_TOOL_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")
#: Event types and input-event types: snake-case words.
SAFE_WORD_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Event sources: dotted raw-record paths such as `response_item.function_call_output`.
SAFE_SOURCE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.|\-]{0,99}")
ISO_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+\-]\d{2}:?\d{2})?"
)
_ROUND_SUFFIX_RE = re.compile(r"(.+):(\d{1,9})")
_MCP_RE = re.compile(r"mcp__(.+?)__(.+)")
_SUBAGENT_MARKER = "/subagents/"


def _clean(value: str, private: PrivateMatcher) -> bool:
    return not string_leaks(value) and not private.found_in(value)


class _RowContext:
    """Per-row state: the key, and the row's own private strings (to catch them verbatim)."""

    def __init__(self, key: bytes, row: Row) -> None:
        self.key = key
        self.private = _matcher(tuple(private_strings(row)))

    def pseudo(self, kind: str, value: str) -> str:
        return pseudonym(self.key, kind, value)

    def safe_or_pseudo(self, kind: str, value: Any, pattern: re.Pattern[str]) -> str | None:
        """Keep a harmless name as is; any other string becomes a pseudonym of its kind."""
        if not isinstance(value, str) or not value:
            return None
        if pattern.fullmatch(value) and _clean(value, self.private):
            return value
        return self.pseudo(kind, value)

    def safe_or_none(self, value: Any, pattern: re.Pattern[str]) -> str | None:
        """Vocabulary strings (event types, sources): kept if harmless, else dropped."""
        if isinstance(value, str) and pattern.fullmatch(value) and _clean(value, self.private):
            return value
        return None

    def tool_name(self, value: Any) -> str | None:
        """`mcp__<server>__<tool>` hides the server (often a private service); other names are
        kept unless they look like a path, e-mail, URL or private string."""
        if not isinstance(value, str) or not value:
            return None
        mcp = _MCP_RE.fullmatch(value)
        if mcp:
            server = self.pseudo("mcp_server", mcp.group(1))
            tool = mcp.group(2)
            if not (SAFE_TOOL_RE.fullmatch(tool) and _clean(tool, self.private)):
                tool = self.pseudo("tool_name", tool)
            return f"mcp__{server}__{tool}"
        if SAFE_TOOL_RE.fullmatch(value) and _clean(value, self.private):
            return value
        return self.pseudo("tool_name", value)


@lru_cache(maxsize=256)
def _matcher(values: tuple[str, ...]) -> PrivateMatcher:
    """Rows of one session share their private strings: build each matcher once."""
    return PrivateMatcher(values)


def private_strings(row: Row) -> list[str]:
    """The strings of a private row that identify a person or machine: user, home, project,
    cwd, session file (and the last component of the directories)."""
    out: list[str] = []
    for name in ("user", "project", *PRIVATE_ROW_FIELDS, "workdir"):
        value = row.get(name)
        if isinstance(value, str) and value:
            out.append(value)
            if name in PRIVATE_ROW_FIELDS or name in ("project", "workdir"):
                tail = value.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
                if tail and tail != value:
                    out.append(tail)
    return out


# --- value policies -------------------------------------------------------------------------

Policy = Callable[[_RowContext, Any], Any]


def _number(_ctx: _RowContext, value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _boolean(_ctx: _RowContext, value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _timestamp(_ctx: _RowContext, value: Any) -> str | None:
    return value if isinstance(value, str) and ISO_TIMESTAMP_RE.fullmatch(value) else None


def _pseudo_of(kind: str) -> Policy:
    def policy(ctx: _RowContext, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return ctx.pseudo(kind, value if isinstance(value, str) else repr(value))

    return policy


def _by_type(fields: dict[str, pa.DataType]) -> dict[str, Policy]:
    """Counts, indices, latencies and flags of a nested record: numbers cannot carry a path."""
    out: dict[str, Policy] = {}
    for name, dtype in fields.items():
        if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
            out[name] = _number
        elif pa.types.is_boolean(dtype):
            out[name] = _boolean
    return out


def _tool_name(ctx: _RowContext, value: Any) -> str | None:
    return ctx.tool_name(value)


def _event_type(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_none(value, SAFE_WORD_RE)


def _source(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_none(value, SAFE_SOURCE_RE)


_tool_call_id = _pseudo_of("tool_call")


def _in_schema_order(policy: dict[str, Policy], fields: dict[str, pa.DataType]) -> dict:
    unknown = set(policy) - set(fields)
    assert not unknown, f"sanitize policy names fields schema.py does not define: {unknown}"
    return {name: policy[name] for name in fields if name in policy}


#: tools[]: everything but the raw `input`.
TOOL_POLICY: dict[str, Policy] = _in_schema_order(
    {
        **_by_type(TOOL_FIELDS),
        "tool_name": _tool_name,
        "tool_call_id": _tool_call_id,
        "emitted_at": _timestamp,
        "result_at": _timestamp,
    },
    TOOL_FIELDS,
)
#: timing_events[]
EVENT_POLICY: dict[str, Policy] = _in_schema_order(
    {
        **_by_type(TIMING_EVENT_FIELDS),
        "event_type": _event_type,
        "timestamp": _timestamp,
        "source": _source,
        "tool_call_id": _tool_call_id,
        "tool_name": _tool_name,
    },
    TIMING_EVENT_FIELDS,
)


def _records(policy: dict[str, Policy]) -> Policy:
    def sanitize_list(ctx: _RowContext, value: Any) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            return None
        return [
            {name: fn(ctx, item.get(name)) for name, fn in policy.items() if name in item}
            for item in value
            if isinstance(item, dict)
        ]

    return sanitize_list


def _provider(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_pseudo("provider", value, SAFE_PROVIDER_RE)


def _model(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_pseudo("model", value, SAFE_NAME_RE)


def _store(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_pseudo("store", value, SAFE_NAME_RE)


def _session_id(ctx: _RowContext, value: Any) -> str | None:
    """`claude:<key>` → `claude:s_<hash>`: the provider prefix stays, the whole id is hashed."""
    if not isinstance(value, str) or not value:
        return None
    prefix, sep, _rest = value.partition(":")
    hashed = ctx.pseudo("session", value)
    if sep and SAFE_PROVIDER_RE.fullmatch(prefix) and _clean(prefix, ctx.private):
        return f"{prefix}:{hashed}"
    return hashed


def _round_id(ctx: _RowContext, value: Any) -> str | None:
    """Codex `<turn>:<k>` keeps its step counter `:<k>`; the rest is hashed."""
    if not isinstance(value, str) or not value:
        return None
    suffix = _ROUND_SUFFIX_RE.fullmatch(value)
    if suffix:
        return f"{ctx.pseudo('round', suffix.group(1))}:{suffix.group(2)}"
    return ctx.pseudo("round", value)


def _first_input_event_type(ctx: _RowContext, value: Any) -> str | None:
    return ctx.safe_or_none(value, SAFE_WORD_RE)


_ROW_COUNTS = tuple(
    name
    for name, dtype in ROW_FIELDS.items()
    if name.startswith("current_") and pa.types.is_integer(dtype)
)

#: The allow-list: every output field and how its value is made public. Not listed = dropped
#: (the private fields, `is_subagent` and `trace_key` are derived below).
ROW_POLICY: dict[str, Policy] = {
    "provider": _provider,
    "project": _pseudo_of("project"),
    "session_id": _session_id,
    # same kinds as session_id / tool_call_id: a parent link equals the parent's pseudonym
    "parent_session_id": _session_id,
    "parent_tool_call_id": _tool_call_id,
    "round_index": _number,
    "round_id": _round_id,
    "turn_id": _pseudo_of("turn"),
    "model": _model,
    **dict.fromkeys(TOKEN_FIELDS, _number),
    "timing_events": _records(EVENT_POLICY),
    "tools": _records(TOOL_POLICY),
    **dict.fromkeys(_ROW_COUNTS, _number),
    "first_input_event_type": _first_input_event_type,
    "user": _pseudo_of("user"),
    "store": _store,
}
_DERIVED = ("is_subagent", "trace_key")

for _name in (*ROW_POLICY, *_DERIVED):
    assert _name in ROW_FIELDS, f"sanitize policy names {_name!r}, which schema.py does not define"
assert not set(PRIVATE_ROW_FIELDS) & set(ROW_POLICY)
assert not set(PRIVATE_TOOL_FIELDS) & set(TOOL_POLICY)


def _is_subagent(row: Row) -> bool | None:
    """Kept as a boolean marker; derived from the private Claude session key if not given."""
    value = row.get("is_subagent")
    if isinstance(value, bool):
        return value
    session_id = row.get("session_id")
    if isinstance(session_id, str) and _SUBAGENT_MARKER in session_id:
        return True
    if row.get("provider") == "claude" and isinstance(session_id, str):
        return False
    return None


def sanitize_row(row: Row, key: bytes) -> Row:
    """Return the public version of one private row (a new dict; the input is not changed).

    Only fields of the allow-list are emitted, in schema order; identifiers are replaced by
    keyed pseudonyms and `trace_key` is rebuilt from them, so dedup still works on public rows.
    """
    ctx = _RowContext(key, row)
    built = {name: policy(ctx, row.get(name)) for name, policy in ROW_POLICY.items()}
    built["is_subagent"] = _is_subagent(row)
    provider, session_id, round_id = built["provider"], built["session_id"], built["round_id"]
    built["trace_key"] = (
        make_trace_key(provider, session_id, round_id)
        if provider and session_id and round_id
        else None
    )
    return {name: built[name] for name in ROW_FIELDS if name in built}


# --- files ----------------------------------------------------------------------------------


class SanitizeError(RuntimeError):
    """Sanitizing could not produce a safe public file."""


class SanitizeAuditError(SanitizeError):
    """The sanitized output failed the privacy audit; nothing was written to the destination."""

    def __init__(self, report: SanitizeReport) -> None:
        self.report = report
        super().__init__(
            f"sanitized output for {report.dst} failed the privacy audit; it was not written.\n"
            f"{report.audit.summary() if report.audit else ''}"
        )


@dataclass
class SanitizeReport:
    """What `sanitize_file` did: rows read and written, unreadable input lines, the audit."""

    src: Path
    dst: Path
    rows_in: int = 0
    rows_out: int = 0
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)
    audit: AuditReport | None = None

    @property
    def ok(self) -> bool:
        return self.audit is not None and self.audit.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "src": str(self.src),
            "dst": str(self.dst),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "skipped_lines": self.skipped_lines,
            "problems": self.problems,
            "ok": self.ok,
            "audit": self.audit.to_json() if self.audit is not None else None,
        }

    def summary(self) -> str:
        parts = [f"sanitized {self.rows_in} rows → {self.rows_out} rows in {self.dst}"]
        if self.skipped_lines:
            parts.append(f"skipped {self.skipped_lines} unreadable input lines")
        if self.audit is not None:
            parts.append(self.audit.summary())
        return "; ".join(parts)


def sanitize_file(src: Path, dst: Path, key: bytes) -> SanitizeReport:
    """Sanitize a trace file into `dst` (format by suffix) and audit the result.

    The output is staged in a private temp directory beside `dst`, audited (strictly, and for
    every private string seen in the input), and renamed over `dst` only if the audit passes;
    otherwise it is deleted and `SanitizeAuditError` is raised. `dst` may equal `src`.
    """
    src, dst = Path(src), Path(dst)
    trace_format(dst)  # fail early on an unknown output suffix
    check_trace_input(src)
    report = SanitizeReport(src=src, dst=dst)
    read_report = ReadReport()
    seen_private: set[str] = set()
    not_steps = 0

    def public_rows() -> Iterator[Row]:
        nonlocal not_steps
        for row in read_rows(src, read_report):
            if not is_step_row(row):  # a foreign record: would become a row of nulls
                not_steps += 1
                continue
            seen_private.update(private_strings(row))
            yield sanitize_row(row, key)

    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.sanitize-", dir=dst.parent))
    try:
        staged = staging / dst.name
        report.rows_out = write_rows(public_rows(), staged)
        report.rows_in = read_report.rows - not_steps
        report.skipped_lines = read_report.skipped_lines + not_steps
        if not report.rows_in and report.skipped_lines:
            raise TraceFormatError(f"{src}: no line is a normalized step row; is it a trace?")
        if not_steps:
            report.problems.append(f"{not_steps} record(s) with no step identity skipped")
        report.problems = [*read_report.problems, *report.problems]
        report.audit = audit_file(staged, seen_private, strict=True)
        if not report.audit.ok:
            raise SanitizeAuditError(report)
        os.replace(staged, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return report
