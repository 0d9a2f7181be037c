"""Grading an answer against a canonical query's result (the QA benchmark's rules).

The expected values come from running the task's canonical query on the same trace, so a task
grades on any trace. Rules, applied to the answer *text*:

- `exact`: the single expected value (first cell) appears: a number equal after rounding to
  the decimals the answer wrote (or as a percent), a text case-insensitively. A number that
  rounds a non-zero value to 0 ("0" for 0.43) states none of its digits and does not count.
- `numeric`: as `exact`, but a number within a relative tolerance (default 1 %).
  For both, an answer stating more than `MAX_NUMBERS` numbers is a listing, not an answer
  (a table of every hour contains the busiest one).
- `set` (order-insensitive): every row's label (first column) and values (other columns,
  numeric tolerance) appear.
- `ordered`: every row's label appears, in the result's order.
- `must_use_tool` (default true): the answer made at least one successful tool call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracelab.ask.loop import _as_float, numbers_in

GRADES = ("exact", "numeric", "set", "ordered")
DEFAULT_TOLERANCE = 0.01
MAX_NUMBERS = 6


@dataclass
class Grade:
    correct: bool
    reason: str = ""


def _number_matches(value: float, text: str, rel: float) -> bool:
    for token in numbers_in(text):
        n = _as_float(token)
        if n is None:
            continue
        decimals = len(token.split(".", 1)[1]) if "." in token else 0
        slack = 0.5 * 10**-decimals + 1e-9
        candidates = (value, value * 100) if abs(value) <= 1 else (value,)
        for candidate in candidates:
            if candidate != 0 and round(candidate, decimals) == 0:
                continue  # "0" states no digit of 0.43: it is not that value rounded
            if abs(candidate - n) <= max(slack, rel * abs(candidate)):
                return True
    return False


def value_in(value: Any, text: str, rel: float) -> bool:
    """Whether `value` is stated in `text` (numbers with tolerance, texts case-insensitively)."""
    if value is None:
        return "none" in text.lower() or "null" in text.lower() or "—" in text
    if isinstance(value, bool):
        return str(value).lower() in text.lower()
    if isinstance(value, int | float):
        return _number_matches(float(value), text, rel)
    return str(value).lower() in text.lower()


def grade(
    text: str,
    expected: list[list[Any]],
    rule: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    tool_used: bool = True,
    must_use_tool: bool = True,
) -> Grade:
    """Grade answer `text` against the canonical result rows `expected`."""
    if rule not in GRADES:
        raise ValueError(f"unknown grading rule {rule!r}")
    if must_use_tool and not tool_used:
        return Grade(False, "no successful tool call")
    if not expected:
        return Grade(False, "the canonical query returned no rows")
    if rule in ("exact", "numeric"):
        if len(numbers_in(text)) > MAX_NUMBERS:
            return Grade(False, f"states more than {MAX_NUMBERS} numbers for one value")
        value = expected[0][0]
        rel = 0.0 if rule == "exact" else tolerance
        ok = value_in(value, text, rel)
        return Grade(ok, "" if ok else f"expected {value!r}")
    if rule == "set":
        for row in expected:
            for i, cell in enumerate(row):
                if not value_in(cell, text, 0.0 if i == 0 else tolerance):
                    return Grade(False, f"missing {cell!r} of row {row!r}")
        return Grade(True)
    lowered = text.lower()
    pos = 0
    for row in expected:
        label = str(row[0]).lower()
        found = lowered.find(label, pos)
        if found < 0:
            return Grade(False, f"missing or out of order: {row[0]!r}")
        pos = found + len(label)
    return Grade(True)
