"""`tool_calls/tool_categories` (extra): tool calls and tool time per category of tool."""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import NO_TOOLS, _grouped, _label, _table
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import tools as m


def _category_definition() -> str:
    lines = [f"  - *{c}*: {', '.join(names)}" for c, names in m.TOOL_CATEGORIES.items()]
    return "\n".join(lines)


@experiment(
    "tool_calls/tool_categories",
    title="Tool calls by category",
    question="What kinds of work do the tool calls do (shell, file reads, edits, search, web, "
    "subagents, planning, user interaction, MCP), and where does the tool time go?",
    definitions=f"""
- **Category** of a tool name (matched case-insensitively; names starting with `mcp__` are MCP;
  any other name is *other* — see `tool_category_members` for what landed where):
{_category_definition()}
- **Share**: the category's calls / the provider's calls. **Time share**: the category's Σ
  effective latency / the provider's Σ effective latency, positive latencies only.
""",
    study_item="Extra",
)
def tool_categories(con: duckdb.DuckDBPyConnection) -> Result:
    table = _table(
        "tool_categories",
        "Tool calls and tool time per category",
        m.categories(con),
        {
            "provider": ("provider", "text"),
            "category": ("category", "text"),
            "calls": ("calls", "int"),
            "share": ("share", "pct"),
            "tool time": ("time_ms", "ms"),
            "time share": ("time_share", "pct"),
        },
    )
    members = _table(
        "tool_category_members",
        "Which tool names fall in which category",
        m.category_members(con),
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "category": ("category", "text"),
            "calls": ("calls", "int"),
        },
    )
    return Result([table, members], _categories_text(table))


def _categories_text(table: Table) -> str:
    groups = _grouped(table)
    if not groups:
        return NO_TOOLS
    parts = []
    for provider, recs in groups.items():
        by_calls = max(recs, key=lambda r: r["calls"])
        by_time = max(recs, key=lambda r: r["time share"] or 0.0)
        other = sum(r["share"] for r in recs if r["category"] == m.OTHER_CATEGORY)
        time = (
            f"and {pct(by_calls['time share'])} of tool time"
            if by_time is by_calls
            else f"while {by_time['category']} takes the most tool time "
            f"({pct(by_time['time share'])})"
        )
        parts.append(
            f"{_label(provider)}: {by_calls['category']} is the largest category with "
            f"{pct(by_calls['share'])} of calls {time}; {pct(other)} of calls fall in no "
            "known category."
        )
    return " ".join(parts)


def _category_colors() -> dict[str, str]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {
        c: "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in cmap(i)[:3]))
        for i, c in enumerate(m.CATEGORY_ORDER)
    }


@tool_categories.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_categories")
    groups = _grouped(table)
    colors = _category_colors()
    bars = [(p, measure) for p in groups for measure in ("share", "time share")]
    fig, ax = new_figure(width=7.0, height=max(2.4, 0.5 * len(bars) + 1.4))
    if not groups:
        no_data(ax, "no tool calls")
    for y, (provider, measure) in enumerate(bars):
        left = 0.0
        for rec in groups[provider]:
            width = rec[measure] or 0.0
            ax.barh(y, width, left=left, color=colors[rec["category"]], label=rec["category"])
            if width >= 0.06:
                ax.text(left + width / 2, y, f"{width * 100:.0f}%", ha="center", va="center",
                        fontsize=6.5, color="white")  # fmt: skip
            left += width
    if groups:
        names = [f"{_label(p)} · {'calls' if k == 'share' else 'tool time'}" for p, k in bars]
        ax.set_yticks(range(len(bars)), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.set_xlabel("share of the provider's tool calls / tool time")
        ax.grid(axis="y", visible=False)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        order = [c for c in m.CATEGORY_ORDER if c in unique]
        ax.legend([unique[c] for c in order], order, fontsize=7, ncols=5,
                  loc="upper center", bbox_to_anchor=(0.5, -0.25))  # fmt: skip
    return [
        Figure(
            name="tool_categories",
            title="Tool calls and tool time by category",
            figure=fig,
            data=table,
            caption="Per provider, the share of tool calls (upper bar) and of tool time (lower "
            "bar, positive effective latencies) in each tool category.",
            interactive=_categories_plotly(groups, bars, colors),
        )
    ]


def _categories_plotly(
    groups: dict[str, list[dict[str, Any]]], bars: list[tuple[str, str]], colors: dict[str, str]
) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [f"{_label(p)} · {'calls' if k == 'share' else 'tool time'}" for p, k in bars]
    for category in m.CATEGORY_ORDER:
        values = []
        for provider, measure in bars:
            rec = next((r for r in groups[provider] if r["category"] == category), None)
            values.append(rec[measure] if rec else 0.0)
        if any(values):
            fig.add_trace(
                go.Bar(
                    x=values,
                    y=names,
                    orientation="h",
                    name=category,
                    marker_color=colors[category],
                    hovertemplate=category + ": %{x:.1%}<extra></extra>",
                )
            )
    fig.update_layout(
        barmode="stack",
        title="Tool calls and tool time by category",
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
        template="plotly_white",
        height=max(300, 60 * len(bars) + 160),
    )
    return fig
