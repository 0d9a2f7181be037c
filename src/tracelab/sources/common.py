"""Pieces every log parser shares: JSON lines that may be broken, counting, timestamps, tools.

Each parser (`claude.py`, `codex.py`) is an incremental state machine: `feed(line)` for every
complete line, `finish()` to emit rows without disturbing the state, so the collector can
pickle the state and later resume a file that grew (only the new bytes are read).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from tracelab.schema import ROW_FIELDS, TOOL_RESULT, USER_MESSAGE, Row


def content_chars(value: Any) -> int:
    """Length of a content value: code points of a string, 0 for null, else its compact JSON
    (`ensure_ascii=False`, separators `,` `:`), exactly as Python's json writes it."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    try:
        out = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes, or ints beyond 64 bits
        return _json_chars(value)
    if _float_may_differ(out):
        return _json_chars(value)
    return len(out) if out.isascii() else len(out.decode())  # ASCII: bytes = code points


def _json_chars(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


_DIGITS = frozenset(b"0123456789")


def _float_may_differ(out: bytes) -> bool:
    """Whether orjson's text may hold a float Python's json (the spec's reference) prints
    differently: a negative exponent (orjson `1e-7`, Python `1e-07`) or a small decimal
    (orjson `0.00001`, Python `1e-05`). Both write every other float, int, string and
    escape alike, and a float's exponent always follows a digit: prose such as `line-height`
    or `pre-commit` (common in tool inputs) is not a candidate. Text that merely looks like
    a float only costs the slower exact path. (Substring searches: far cheaper than a regex.)
    """
    if b".0000" in out:
        return True
    at = out.find(b"e-")
    while at >= 0:
        if at and out[at - 1] in _DIGITS:
            return True
        at = out.find(b"e-", at + 2)
    return False


#: Counts must fit a signed 64-bit column: |value| < INT64_BOUND.
INT64_BOUND = 2**63


def as_count(value: Any) -> int | None:
    """A token count from a usage dict, tolerating schema drift (floats, numeric strings).

    Values no int64 column can hold (1e300, "1e400") are not counts: None, like "abc".
    """
    if type(value) is int:  # the common case first
        return value if -INT64_BOUND < value < INT64_BOUND else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float):
        if not value.is_integer():  # also NaN and ±inf
            return None
        value = int(value)
    if isinstance(value, int):
        return value if -INT64_BOUND < value < INT64_BOUND else None
    return None


def latency_ms(start: str | None, end: str | None) -> int | None:
    """`round(end − start in ms)`, half to even as Python's round; not clamped (skew stays)."""
    if type(start) is not str or type(end) is not str:
        return None
    try:
        a, b = _fromisoformat(start), _fromisoformat(end)
    except ValueError:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        return None
    micros = (b - a) // _MICROSECOND
    return round(micros / 1000)


_fromisoformat = datetime.fromisoformat
_MICROSECOND = timedelta(microseconds=1)


def seconds_to_ms(value: Any, scale: float) -> int | None:
    """A runner-reported duration (seconds or ms, per `scale`) as whole ms; None if unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    ms = value * scale
    if not math.isfinite(ms) or abs(ms) >= INT64_BOUND:  # absurd (or 1e308 s → inf): unknown
        return None
    return round(ms)


#: Why a log with model output but no token usage at all is skipped (a Codex rollout format
#: seen from September 2025 carries none): there is no step to measure in it.
NO_USAGE = "its log has no usage data"


@dataclass
class ParseIssues:
    """What a parser could not use in one file: counted by kind, a few examples kept."""

    bad_json: int = 0
    repaired_utf8: int = 0
    not_object: int = 0
    unknown_types: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    truncated_tail: bool = False
    #: the file has model output but no usage data: nothing in it can be kept (`NO_USAGE`)
    no_usage: bool = False

    @property
    def skipped_lines(self) -> int:
        return self.bad_json + self.not_object

    def set_count(self, kind: str, n: int) -> None:
        """Record a count that is recomputed over the whole file (not accumulated)."""
        if n:
            self.other[kind] = n
        else:
            self.other.pop(kind, None)

    def describe(self) -> list[str]:
        """One human line per kind of problem (only `NO_USAGE` when nothing can be kept)."""
        if self.no_usage:
            return [NO_USAGE]
        out = []
        if self.bad_json:
            out.append(f"{self.bad_json} line(s) not valid JSON")
        if self.truncated_tail:
            out.append("last line incomplete (still being written?)")
        if self.not_object:
            out.append(f"{self.not_object} line(s) not a JSON object")
        if self.repaired_utf8:
            out.append(f"{self.repaired_utf8} line(s) with invalid UTF-8 (replaced, kept)")
        if self.unknown_types:
            kinds = ", ".join(f"{k}×{n}" for k, n in sorted(self.unknown_types.items()))
            out.append(f"unknown record types ignored: {kinds}")
        for kind, n in sorted(self.other.items()):
            out.append(f"{n}× {kind}")
        return out


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _reject(token: str) -> Any:
    raise ValueError(token)


def _int64(token: str) -> int:
    value = int(token)
    if not -INT64_BOUND < value < INT64_BOUND:
        raise ValueError("integer out of range")
    return value


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _scrub(value: Any) -> Any:
    """Lone UTF-16 surrogates → U+FFFD, so every string can be written as UTF-8 again."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _loads_repaired(line: bytes | memoryview) -> Any:
    """Second chance for a line orjson refused: invalid UTF-8 bytes are replaced, and lone
    surrogate escapes (JavaScript's JSON.stringify writes a cut emoji as `"\\ud83d"`) become
    U+FFFD. Numbers orjson would refuse (beyond int64, infinite) stay refused."""
    text = bytes(line).decode("utf-8", "replace")  # (a memoryview from the reader)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    record = json.loads(text, parse_int=_int64, parse_float=_finite, parse_constant=_reject)
    return _scrub(record)


def load_line(line: bytes | memoryview, issues: ParseIssues) -> dict | None:
    """Parse one JSONL line; repair invalid UTF-8 (keep the row), count what is unreadable."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return load_refused(line, issues)
    if type(record) is dict:  # orjson makes exact dicts
        return record
    issues.not_object += 1
    return None


def load_refused(line: bytes | memoryview, issues: ParseIssues) -> dict | None:
    """`load_line` of a line orjson refused: repaired when possible, else counted."""
    try:
        record = _loads_repaired(line)
    except (ValueError, RecursionError):
        issues.bad_json += 1
        return None
    issues.repaired_utf8 += 1
    if not isinstance(record, dict):
        issues.not_object += 1
        return None
    return record


def add_input_summary(row: Row, events: list[dict]) -> None:
    """Set the row's `current_*` counts and `first_input_event_type` from its step's input
    events (written into the row: the parsers fill a template in schema order)."""
    user_count = tool_count = user_chars = tool_chars = 0
    first = None
    for ev in events:
        kind = ev["event_type"]
        if kind == USER_MESSAGE:
            user_count += 1
            user_chars += ev.get("content_chars") or 0
        elif kind == TOOL_RESULT:
            tool_count += 1
            tool_chars += ev.get("result_chars") or 0
        else:
            continue
        if first is None:
            first = kind
    row["current_user_message_count"] = user_count
    row["current_tool_result_count"] = tool_count
    row["current_input_event_count"] = user_count + tool_count
    row["current_user_message_chars"] = user_chars
    row["current_tool_result_chars"] = tool_chars
    row["current_input_chars"] = user_chars + tool_chars
    row["first_input_event_type"] = first


def event(event_type: str, timestamp: Any, source: str, **attrs: Any) -> dict[str, Any]:
    """A timing event with its null attributes left out (spec §3), so rows need no cleanup."""
    return lean({"event_type": event_type, "timestamp": timestamp, "source": source, **attrs})


def lean(ev: dict[str, Any]) -> dict[str, Any]:
    """A timing event without its null attributes (spec §3). The parsers' hot paths build the
    event as a literal dict (keys in `event`'s order) and pass it here: far cheaper than
    `event`'s keyword packing, for the same result."""
    if None in ev.values():  # rare: one pass finds it, a copy drops it
        return {key: value for key, value in ev.items() if value is not None}
    return ev


class ToolCall:
    """A tool call as emitted; its input size is measured once, when it is seen. (A slotted
    class: one is made per call, and pickled with the parser state.)"""

    __slots__ = ("emitted_at", "index", "input", "input_chars", "name")

    def __init__(self, name: str | None, emitted_at: str | None, input: Any, index: int) -> None:
        self.name = name
        self.emitted_at = emitted_at
        self.input = input
        self.index = index
        self.input_chars = len(input) if type(input) is str else content_chars(input)

    def __getstate__(self) -> tuple:
        return (self.name, self.emitted_at, self.input, self.index, self.input_chars)

    def __setstate__(self, state: tuple) -> None:
        self.name, self.emitted_at, self.input, self.index, self.input_chars = state


@dataclass
class SourceContext:
    """Provenance of one raw file, fixed before parsing: who, which store, which session key."""

    path: str
    provider: str
    store: str
    home: str | None = None
    user: str | None = None
    project: str | None = None
    session_key: str | None = None  # Claude: path relative to the project dir, no .jsonl
    file_stem: str | None = None

    def row_template(self, provider: str) -> Row:
        """A row of this file with every schema field in order (null) and its provenance set:
        each step's row is a copy with the step's fields filled — cheaper than building one
        in full, and the keys stay in schema order for serializing."""
        row = dict.fromkeys(ROW_FIELDS)
        row["provider"] = provider
        row["session_file"] = self.path
        row["home"], row["user"], row["store"] = self.home, self.user, self.store
        return row
