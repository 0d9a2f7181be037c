"""What the `tool_calls` experiments share: provider labels, tables from metric records,
records grouped by provider, one panel per provider (matplotlib and Plotly) and one legend
for all panels.
"""

from __future__ import annotations

from typing import Any

from tracelab.experiments.base import Table
from tracelab.figures.style import new_figure
from tracelab.metrics import tools as m

NO_TOOLS = "The trace has no tool calls, so there is nothing to measure."
NO_DATA = "no data"


def _label(provider: str) -> str:
    return "Overall" if provider == m.ALL else provider.capitalize()


def _table(
    name: str,
    title: str,
    records: list[dict[str, Any]],
    columns: dict[str, tuple[str, str]],
    latex: bool = False,
) -> Table:
    """A Table from metric records; `columns` maps display name → (record key, kind)."""
    return Table(
        name=name,
        title=title,
        columns=list(columns),
        rows=[[r[key] for key, _ in columns.values()] for r in records],
        kinds={c: kind for c, (_, kind) in columns.items()},
        latex=latex,
    )


def _grouped(table: Table, key: str = "provider") -> dict[str, list[dict[str, Any]]]:
    """Table records per value of `key`, in table order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in table.records():
        out.setdefault(rec[key], []).append(rec)
    return out


def _panels(groups: list[str], width_each: float, height: float) -> tuple[Any, list[Any]]:
    """One axes per group side by side (at least one, for the "no data" note)."""
    n = max(1, len(groups))
    fig, axes = new_figure(ncols=n, width=max(5.0, width_each * n), height=height, squeeze=False)
    return fig, list(axes[0])


def _plotly_panels(groups: list[str], title: str, height: int = 420) -> Any:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=max(1, len(groups)), subplot_titles=[_label(g) for g in groups] or None
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
    )
    return fig


def _figure_legend(fig: Any, ax: Any) -> None:
    """One legend for all panels, below them (never on top of a bar)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
