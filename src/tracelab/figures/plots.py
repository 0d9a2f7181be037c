"""Drawing primitives several experiments share: CDF curves, the no-data panel, Plotly CDFs.

Static figures use matplotlib; the HTML report can show a Plotly version of the same data
(`interactive` on `experiments.base.Figure`). Both are drawn from the same table rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def no_data(ax: Any, text: str = "no data in this trace") -> None:
    """Mark an empty panel: a figure must render even when the trace has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.45")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_cdf(
    ax: Any,
    points: Sequence[tuple[float, float]],
    label: str,
    color: str | None = None,
    logx: bool = True,
) -> None:
    """Draw a CDF from (value, cumulative share) points; non-positive values skipped on log x."""
    pts = [(v, q) for v, q in points if v is not None and (v > 0 or not logx)]
    if not pts:
        return
    ax.plot([v for v, _ in pts], [q for _, q in pts], label=label, color=color, lw=1.6)
    if logx:
        ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_ylabel("cumulative share")


def plotly_cdf(
    curves: dict[str, Sequence[tuple[float, float]]],
    title: str,
    x_title: str,
    logx: bool = True,
    colors: dict[str, str] | None = None,
) -> Any:
    """A Plotly figure with one CDF line per curve (hover shows value and share)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, points in curves.items():
        pts = [(v, q) for v, q in points if v is not None and (v > 0 or not logx)]
        fig.add_trace(
            go.Scatter(
                x=[v for v, _ in pts],
                y=[q for _, q in pts],
                mode="lines",
                name=name,
                line={"color": (colors or {}).get(name)},
            )
        )
    fig.update_layout(
        title=title,
        xaxis={"title": x_title, "type": "log" if logx else "linear"},
        yaxis={"title": "cumulative share", "range": [0, 1]},
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        height=380,
    )
    return fig
