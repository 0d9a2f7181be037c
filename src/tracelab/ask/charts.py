"""When a result table gets a chart, and which: a small spec the page draws with Plotly.

A chart helps when a result has a label column (text or date) and at least one numeric
column over two or more rows: a line for days/weeks, else bars. One-row answers and tables
without numbers get none — the table is the evidence.
"""

from __future__ import annotations

from typing import Any

TIME_COLUMNS = ("day", "week", "date", "hour_of_day", "month")
MAX_BARS = 50


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def chart_spec(columns: list[str], rows: list[list[Any]]) -> dict[str, Any] | None:
    """{'type': 'bar'|'line', 'x': label column, 'y': [the first numeric column],
    'series': a second label column} or None."""
    if len(rows) < 2 or len(columns) < 2:
        return None
    numeric = [
        i
        for i in range(len(columns))
        if any(_is_number(r[i]) for r in rows)
        and all(r[i] is None or _is_number(r[i]) for r in rows)
    ]
    labels = [i for i in range(len(columns)) if i not in numeric]
    if not numeric:
        return None
    if labels:
        x = labels[0]
    elif len(numeric) >= 2 and columns[numeric[0]] in TIME_COLUMNS:
        x = numeric.pop(0)
    else:
        return None
    ys = [i for i in numeric if i != x][:1]
    if not ys:
        return None
    kind = "line" if columns[x] in TIME_COLUMNS else "bar"
    spec: dict[str, Any] = {"type": kind, "x": columns[x], "y": [columns[i] for i in ys]}
    if len(labels) > 1:
        spec["series"] = columns[labels[1]]
    if kind == "bar" and len(rows) > MAX_BARS:
        return None
    return spec
