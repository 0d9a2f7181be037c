"""Leak audit: scan every value of every row for things that must not reach a public trace.

The sanitizer builds its output from an allow-list, but an allow-list is only as good as the
values it lets through; this audit is the independent second check. It walks every key and
value of a row (known fields and unknown ones, at any depth) and reports, with line number and
dotted field path (`tools[2].input`), private keys that still hold a value, path-like strings,
e-mails, URLs, raw agent ids, secrets, and verbatim occurrences of known private strings.

The same detectors are used by the sanitizer to decide whether a kept string (a model name, a
tool name) may pass, so "sanitized" and "passes the audit" mean the same thing. The pseudonym
format is defined here, so the audit can recognize the sanitizer's own ids and never flag them.
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from tracelab.io import read_rows, trace_format
from tracelab.schema import (
    EVENT_TYPES,
    PRIVATE_ROW_FIELDS,
    PRIVATE_TOOL_FIELDS,
    PROVIDERS,
    ROW_FIELDS,
    STORES,
    TIMING_EVENT_FIELDS,
    TOOL_FIELDS,
    Row,
)

# --- the pseudonym format ------------------------------------------------------------------

#: Readable prefix per kind of identifier the sanitizer replaces.
PSEUDONYM_PREFIXES: dict[str, str] = {
    "user": "u_",
    "project": "p_",
    "session": "s_",
    "turn": "t_",
    "round": "r_",
    "tool_call": "c_",
    "model": "m_",
    "store": "st_",
    "provider": "x_",
    "mcp_server": "srv_",
    "tool_name": "tool_",
}
#: Hex digits of the HMAC kept in a pseudonym (64 bits: collisions need ~4e9 distinct ids).
PSEUDONYM_HEX_CHARS = 16

_PREFIX_ALT = "|".join(sorted((p[:-1] for p in PSEUDONYM_PREFIXES.values()), key=len)[::-1])
_HEX = f"[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}"
PSEUDONYM_RE = re.compile(rf"(?<![A-Za-z0-9])(?:{_PREFIX_ALT})_{_HEX}(?![A-Za-z0-9])")

# --- reasons ---------------------------------------------------------------------------------

PRIVATE_KEY = "private key"
PATH = "path-like value"
EMAIL = "e-mail address"
URL = "URL"
RAW_ID = "raw agent id"
SECRET = "secret"
HIGH_ENTROPY = "high-entropy token"
PRIVATE_VALUE = "known private value"
NOT_PSEUDONYMIZED = "identifier not pseudonymized"
UNPARSEABLE = "unparseable line"

# --- key names ------------------------------------------------------------------------------

#: Keys that only a private trace may fill (from the schema, plus `workdir` of other writers).
PRIVATE_KEYS = frozenset((*PRIVATE_ROW_FIELDS, *PRIVATE_TOOL_FIELDS, "workdir"))
_PRIVATE_KEY_RE = re.compile(r"path|dir|file", re.IGNORECASE)


def is_private_key(name: str) -> bool:
    """Keys naming local context: the private schema fields and any *path*, *dir*, *file*."""
    return name in PRIVATE_KEYS or bool(_PRIVATE_KEY_RE.search(name))


# --- value detectors ------------------------------------------------------------------------

_SEG = r"[A-Za-z0-9._~@%+\-]+"
_PATH_RES = (
    re.compile(r"(?<![A-Za-z0-9._~\-])/(?:home|Users|root)(?![A-Za-z0-9._\-])"),
    re.compile(rf"(?<![A-Za-z0-9._~\-:/])/{_SEG}/{_SEG}"),
    re.compile(r"(?<![A-Za-z0-9])[A-Za-z]:[\\/]"),  # C:\ and C:/
    re.compile(r"\\\\[A-Za-z0-9._\-]+\\"),  # \\server\share
    re.compile(r"(?<![A-Za-z0-9])~[A-Za-z0-9._\-]*/"),  # ~/ and ~alice/
    # Claude project directories: the path with `/` (and `:\`) replaced by `-`
    re.compile(r"(?<![A-Za-z0-9._\-])(?:[A-Za-z]-)?-(?:home|Users|root)-[A-Za-z0-9]"),
)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL_RES = (
    re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9+.\-]{1,15}://\S"),
    re.compile(r"(?<![A-Za-z0-9.])www\.[A-Za-z0-9\-]+\.[A-Za-z]{2,}"),
)
_RAW_ID_RES = (
    # Claude message / tool-use ids, Codex call ids, API request ids
    re.compile(r"(?<![A-Za-z0-9_])(?:msg|toolu|srvtoolu|call|req)_[A-Za-z0-9]{10,}"),
    re.compile(
        r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
        r"[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
    ),
)
_SECRET_RES = (
    re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"),  # OpenAI / Anthropic keys
    re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|AIPA)[0-9A-Z]{16}(?![0-9A-Z])"),
    re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}"),  # Google API keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\."),  # JWT
    re.compile(
        r"(?i)(?<![A-Za-z0-9])(?:password|passwd|secret|api[_\-]?key|access[_\-]?token)"
        r"[\"']?\s*[:=]\s*[\"']?[^\s\"']{6,}"
    ),
)
_TOKEN_CANDIDATE_RE = re.compile(r"[A-Za-z0-9+_\-]{20,}")
_HEX_RUN_RE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])")
_NON_ALNUM_RE = re.compile(r"[^A-Za-z0-9]")
#: An ISO date or timestamp: a value that fully matches it is never a leak (`string_leaks`;
#: the pool's vectorized audit builds its safe-value pattern from it).
ISO_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+\-]\d{2}:?\d{2})?)?"
)


def shannon_entropy(text: str) -> float:
    """Bits per character; random base64 scores ~4-6, words and model names ~3-3.8."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _looks_random(token: str) -> bool:
    """A long token mixing letters and digits with near-random character statistics."""
    alnum = _NON_ALNUM_RE.sub("", token)
    if len(alnum) < 20:
        return False
    has_digit = any(c.isdigit() for c in alnum)
    has_lower = any(c.islower() for c in alnum)
    has_upper = any(c.isupper() for c in alnum)
    if not has_digit or not (has_lower or has_upper):
        return False
    entropy = shannon_entropy(alnum)
    if has_lower and has_upper:
        return entropy >= 3.9
    return len(alnum) >= 32 and entropy >= 4.2


@lru_cache(maxsize=1 << 16)
def string_leaks(value: str) -> tuple[str, ...]:
    """The reasons (in a fixed order, deduplicated) why `value` must not be published."""
    if ISO_TIMESTAMP_RE.fullmatch(value) or PSEUDONYM_RE.fullmatch(value):
        return ()
    text = PSEUDONYM_RE.sub(" ", value)
    reasons: list[str] = []
    if any(r.search(text) for r in _URL_RES):
        reasons.append(URL)
    if _EMAIL_RE.search(text):
        reasons.append(EMAIL)
    if any(r.search(text) for r in _PATH_RES):
        reasons.append(PATH)
    if any(r.search(text) for r in _RAW_ID_RES):
        reasons.append(RAW_ID)
    if any(r.search(text) for r in _SECRET_RES):
        reasons.append(SECRET)
    elif (
        _HEX_RUN_RE.search(text)
        and any(shannon_entropy(m.group()) >= 3.0 for m in _HEX_RUN_RE.finditer(text))
    ) or any(_looks_random(m.group()) for m in _TOKEN_CANDIDATE_RE.finditer(text)):
        reasons.append(HIGH_ENTROPY)
    return tuple(reasons)


# --- known private strings ------------------------------------------------------------------

_WORD_RE = re.compile(r"[A-Za-z0-9]+")

#: Words that are part of the trace vocabulary or generic account/dir names: a user called
#: `root` or `user` (or a project called `src`) is not identified by them, and matching them
#: would flag every event source.
_GENERIC = (
    "root user users home admin ubuntu runner guest default nobody ec2 vagrant codespace",
    "tmp temp var mnt media opt srv data work workspace workspaces project projects code src",
    "repo repos dev desktop documents downloads private agent agents subagents assistant",
    "content message event msg response item function call output exec command end token",
    "thinking use result patch apply",
)
GENERIC_WORDS = frozenset(w for chunk in _GENERIC for w in chunk.split()) | frozenset(
    w.lower()
    for name in (*ROW_FIELDS, *TOOL_FIELDS, *TIMING_EVENT_FIELDS, *EVENT_TYPES, *PROVIDERS, *STORES)
    for w in re.findall(r"[A-Za-z0-9]+", name)
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD_RE.findall(text))


class PrivateMatcher:
    """Find verbatim occurrences of known private strings (user names, homes, projects, cwds).

    Matching is on word sequences, case-insensitive: `/home/alice/proj` is found in
    `-home-alice-proj` too, but `alice` is not found inside `malice`. Single generic words and
    words shorter than 3 characters are ignored (see GENERIC_WORDS).
    """

    _MEMO_LIMIT = 1 << 14

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._by_first: dict[str, set[tuple[str, ...]]] = {}
        self._memo: dict[str, bool] = {}  # the same sources / tool names recur on every row
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        if not isinstance(value, str):
            return
        words = _words(value)
        if not words:
            return
        if len(words) == 1 and (len(words[0]) < 3 or words[0] in GENERIC_WORDS):
            return
        if all(w in GENERIC_WORDS or len(w) < 3 for w in words):
            return  # e.g. `/workspace/project`: nothing identifying to look for
        self._by_first.setdefault(words[0], set()).add(words)
        self._memo.clear()

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def found_in(self, text: str) -> bool:
        """True if any private string occurs in `text` as a whole word sequence."""
        if not self._by_first:
            return False
        found = self._memo.get(text)
        if found is None:
            found = self._search(text)
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[text] = found
        return found

    def _search(self, text: str) -> bool:
        words = _words(text)
        for i, word in enumerate(words):
            for seq in self._by_first.get(word, ()):
                if words[i : i + len(seq)] == seq:
                    return True
        return False


# --- strict shape of sanitized identifiers --------------------------------------------------


def _pseudo(kind: str) -> str:
    return f"{PSEUDONYM_PREFIXES[kind]}{_HEX}"


_PROVIDER_PART = r"[a-z][a-z0-9_\-]{0,31}"
_SESSION_SHAPE = rf"(?:{_PROVIDER_PART}:)?{_pseudo('session')}"
_ROUND_SHAPE = rf"{_pseudo('round')}(?::\d{{1,9}})?"
#: What the sanitizer writes into identifier fields; checked by `audit_rows(strict=True)`.
ROW_ID_SHAPES: dict[str, re.Pattern[str]] = {
    "user": re.compile(_pseudo("user")),
    "project": re.compile(_pseudo("project")),
    "turn_id": re.compile(_pseudo("turn")),
    "session_id": re.compile(_SESSION_SHAPE),
    "parent_session_id": re.compile(_SESSION_SHAPE),
    "parent_tool_call_id": re.compile(_pseudo("tool_call")),
    "round_id": re.compile(_ROUND_SHAPE),
    "trace_key": re.compile(rf"{_PROVIDER_PART}:{_SESSION_SHAPE}:{_ROUND_SHAPE}"),
}
NESTED_ID_SHAPES: dict[str, re.Pattern[str]] = {"tool_call_id": re.compile(_pseudo("tool_call"))}
_NESTED_LISTS = ("tools", "timing_events")

# --- the audit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFinding:
    """One leak: 1-based line (row ordinal for Parquet), dotted field path, what was found."""

    line: int
    field: str
    reason: str


#: Findings an audit lists by default; the counts (total and per group) always cover all.
MAX_LISTED_FINDINGS = 1000
#: Lines remembered per group of findings (the first ones, for the grouped display).
GROUP_LINES = 6
_INDEX = re.compile(r"\[\d+\]")


@dataclass
class FindingGroup:
    """All findings of one field (list indices dropped: `tools[].input`) and one reason."""

    count: int = 0
    lines: list[int] = field(default_factory=list)  # the first distinct lines

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < GROUP_LINES and (not self.lines or self.lines[-1] != line):
            self.lines.append(line)


@dataclass
class AuditReport:
    """Findings of one audit. `findings` lists the first `max_findings` (None: every one);
    `finding_count` and `groups` count every finding."""

    rows: int = 0
    findings: list[AuditFinding] = field(default_factory=list)
    finding_count: int = 0
    skipped_lines: int = 0
    max_findings: int | None = MAX_LISTED_FINDINGS
    groups: dict[tuple[str, str], FindingGroup] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.finding_count == 0

    def add(self, line: int, field_path: str, reason: str) -> None:
        self.finding_count += 1
        if self.max_findings is None or len(self.findings) < self.max_findings:
            self.findings.append(AuditFinding(line, field_path, reason))
        key = (_INDEX.sub("[]", field_path) if "[" in field_path else field_path, reason)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = FindingGroup()
        group.add(line)

    @property
    def complete(self) -> bool:
        """Whether `findings` lists every finding."""
        return len(self.findings) == self.finding_count

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "finding_count": self.finding_count,
            "skipped_lines": self.skipped_lines,
            "groups": [
                {"field": f, "reason": r, "count": g.count, "first_lines": g.lines}
                for (f, r), g in self.groups.items()
            ],
            "findings_listed": len(self.findings),
            "findings": [asdict(f) for f in self.findings],
        }

    def summary(self, limit: int = 10) -> str:
        """One line per finding (values are never echoed: the report itself may be shared)."""
        if self.ok:
            return f"audit passed: {self.rows} rows, no findings"
        lines = [f"audit FAILED: {self.finding_count} findings in {self.rows} rows"]
        lines += [f"  line {f.line}: {f.field}: {f.reason}" for f in self.findings[:limit]]
        if self.finding_count > limit:
            lines.append(f"  … and {self.finding_count - limit} more")
        return "\n".join(lines)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Auditor:
    """Walks a row keeping the current field path as a stack; renders it only for a finding."""

    def __init__(self, report: AuditReport, private: PrivateMatcher, strict: bool) -> None:
        self.report = report
        self.private = private
        self.strict = strict
        self.line = 0
        self.path: list[str | int] = []
        self._key_memo: dict[str, tuple[str, ...]] = {}

    def _render(self, suffix: str = "") -> str:
        out = ""
        for part in self.path:
            out = f"{out}[{part}]" if isinstance(part, int) else _join(out, part)
        return out + suffix

    def _leaks(self, text: str) -> tuple[str, ...]:
        reasons = string_leaks(text)
        if self.private.found_in(text):
            reasons = (*reasons, PRIVATE_VALUE)
        return reasons

    def string(self, text: str, suffix: str = "") -> None:
        reasons = self._leaks(text)
        if reasons:
            where = self._render(suffix)
            for reason in reasons:
                self.report.add(self.line, where, reason)

    def value(self, value: Any) -> None:
        if isinstance(value, str):
            self.string(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.entry(str(key), item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self.path.append(i)
                self.value(item)
                self.path.pop()

    def entry(self, key: str, item: Any) -> None:
        self.path.append(key)
        key_reasons = self._key_memo.get(key)
        if key_reasons is None:  # key names repeat on every row: judge each once
            key_reasons = self._leaks(key)
            if is_private_key(key):
                key_reasons = (*key_reasons, PRIVATE_KEY)
            if len(self._key_memo) < 1 << 14:
                self._key_memo[key] = key_reasons
        for reason in key_reasons:
            if reason != PRIVATE_KEY:
                self.report.add(self.line, self._render(" (key name)"), reason)
            elif item not in (None, "", [], {}):
                self.report.add(self.line, self._render(), PRIVATE_KEY)
        self.value(item)
        self.path.pop()

    def shapes(self, line: int, row: Row) -> None:
        for name, shape in ROW_ID_SHAPES.items():
            value = row.get(name)
            if value is not None and not (isinstance(value, str) and shape.fullmatch(value)):
                self.report.add(line, name, NOT_PSEUDONYMIZED)
        for list_name in _NESTED_LISTS:
            items = row.get(list_name)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                for name, shape in NESTED_ID_SHAPES.items():
                    value = item.get(name)
                    if value is not None and not (
                        isinstance(value, str) and shape.fullmatch(value)
                    ):
                        self.report.add(line, f"{list_name}[{i}].{name}", NOT_PSEUDONYMIZED)

    def row(self, line: int, row: Any) -> None:
        self.report.rows += 1
        self.line = line
        self.path.clear()
        self.value(row)
        if self.strict and isinstance(row, dict):
            self.shapes(line, row)


def audit_rows(
    rows: Iterable[Row],
    private_values: Collection[str] = frozenset(),
    *,
    strict: bool = False,
    start_line: int = 1,
) -> AuditReport:
    """Audit rows in memory; row i is reported as line `start_line + i`.

    `private_values` are strings known to be private (user names, home dirs, projects, cwds)
    that must not occur anywhere. With `strict`, identifier fields must also have the
    sanitizer's pseudonym shape (use it for files that claim to be sanitized by TraceLab).
    """
    report = AuditReport()
    auditor = _Auditor(report, PrivateMatcher(private_values), strict)
    for i, row in enumerate(rows):
        auditor.row(start_line + i, row)
    return report


def _numbered_jsonl(path: Path, gz: bool, auditor: _Auditor) -> Iterator[tuple[int, Row]]:
    opener = gzip.open if gz else open
    lineno = 0
    try:
        with opener(path, "rb") as fh:
            for raw in fh:
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    yield lineno, orjson.loads(raw)
                except orjson.JSONDecodeError:
                    # Cannot vouch for what we cannot parse; still say what the text leaks.
                    auditor.report.skipped_lines += 1
                    auditor.report.add(lineno, "<line>", UNPARSEABLE)
                    auditor.line, auditor.path[:] = lineno, ["<line>"]
                    auditor.string(raw.decode("utf-8", "replace"))
    except (EOFError, gzip.BadGzipFile) as exc:
        auditor.report.skipped_lines += 1
        auditor.report.add(lineno + 1, "<file>", f"{UNPARSEABLE} ({exc.__class__.__name__})")


def audit_file(
    path: Path,
    private_values: Collection[str] = frozenset(),
    *,
    strict: bool = False,
    max_findings: int | None = MAX_LISTED_FINDINGS,
) -> AuditReport:
    """Audit a trace file (JSONL, JSONL.gz or Parquet) with real line numbers; list the first
    `max_findings` findings (None: every one)."""
    path = Path(path)
    report = AuditReport(max_findings=max_findings)
    auditor = _Auditor(report, PrivateMatcher(private_values), strict)
    fmt = trace_format(path)
    if fmt == "parquet":
        for i, row in enumerate(read_rows(path), 1):
            auditor.row(i, row)
    else:
        for lineno, row in _numbered_jsonl(path, fmt == "jsonl.gz", auditor):
            auditor.row(lineno, row)
    return report
