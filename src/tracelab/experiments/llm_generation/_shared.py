"""What several `llm_generation` experiments share: rows in the study's provider order, token and
count wording, the Plotly layout and the power-of-two tick label.
"""

from __future__ import annotations

from typing import Any

from tracelab.experiments.fmt import format_value


def _sorted(items: list[dict[str, Any]], order: list[str], *keys: str) -> list[dict[str, Any]]:
    """Rows in the study's provider order, then by `keys`."""
    rank = {p: i for i, p in enumerate(order)}
    return sorted(items, key=lambda r: (rank.get(r["provider"], len(rank)), *(r[k] for k in keys)))


def _tok(value: float | None) -> str:
    return format_value(value, "tokens")


def _count(n: int, noun: str) -> str:
    """'1 pair', '2,000 pairs'."""
    return f"{format_value(n, 'int')} {noun}{'' if n == 1 else 's'}"


def _plotly_layout(fig: Any, title: str, **kwargs: Any) -> Any:
    fig.update_layout(
        title=title,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        height=kwargs.pop("height", 400),
        **kwargs,
    )
    return fig


def _pow2_label(v: float, _pos: Any = None) -> str:
    """Tick label of a power of two on the x+1 axis: 1, 32, 1k, 32k, 1M (binary k/M)."""
    if v >= 2**20:
        return f"{v / 2**20:g}M"
    if v >= 2**10:
        return f"{v / 2**10:g}k"
    return f"{v:g}"
