"""How a number is shown in Markdown, LaTeX, HTML and the terminal (CSV/JSON keep raw values).

A table column names its kind; one function renders every kind, so "95.7%" or "8.2h" look the
same in every output.
"""

from __future__ import annotations

import math
from typing import Any

KINDS = ("text", "int", "float", "float1", "float2", "float3", "pct", "usd", "tokens", "ms", "s")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def human_tokens(value: float) -> str:
    """1,234 below 10k; then 12.3K / 4.56 M / 1.19 B (the study's style)."""
    v = abs(value)
    if v < 10_000:
        return f"{value:,.0f}"
    if v < 1_000_000:
        return f"{value / 1e3:.1f}K"
    if v < 1_000_000_000:
        return f"{value / 1e6:.1f} M"
    return f"{value / 1e9:.2f} B"


def human_usd(value: float) -> str:
    v = abs(value)
    if v >= 1_000:
        return f"${value / 1e3:.1f}K"
    if v >= 100:
        return f"${value:,.0f}"
    if v >= 10:
        return f"${value:.1f}"
    return f"${value:.2f}"


def human_duration_ms(ms: float) -> str:
    """0.3s, 38.3s, 5.1m, 8.2h — seconds below a minute, minutes below an hour, then hours."""
    s = ms / 1000.0
    if abs(s) < 60:
        return f"{s:.1f}s" if abs(s) >= 1 or s == 0 else f"{s:.2f}s"
    if abs(s) < 3600:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def format_value(value: Any, kind: str = "text") -> str:
    """Render one cell; missing values are an en dash."""
    if _missing(value):
        return "–"
    if kind == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "float":
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if kind in ("float1", "float2", "float3"):
        return f"{value:,.{kind[-1]}f}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "usd":
        return human_usd(value)
    if kind == "tokens":
        return human_tokens(value)
    if kind == "ms":
        return human_duration_ms(value)
    if kind == "s":
        return human_duration_ms(value * 1000.0)
    raise ValueError(f"unknown format kind {kind!r}")


# Short names for the kinds result texts use most.
def pct(value: Any) -> str:
    return format_value(value, "pct")


def count(value: Any) -> str:
    return format_value(value, "int")


def tokens(value: Any) -> str:
    return format_value(value, "tokens")


def dur(value: Any) -> str:
    """A duration given in ms: 0.13s, 38.3s, 5.1m, 8.2h."""
    return format_value(value, "ms")


def cost_text(cost: Any, unpriced_steps: int | None) -> str:
    """A headline cost that says next to the number when steps are missing from it."""
    text = format_value(cost, "usd")
    if unpriced_steps:
        return f"{text} ({count(unpriced_steps)} steps unpriced)"
    return text
