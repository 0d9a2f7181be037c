"""`tool_calls/tool_latency` (Fig. 9): the effective-latency distribution of the most-called
tools.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import dur
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import (
    _grouped,
    _label,
    _panels,
    _plotly_panels,
    _table,
)
from tracelab.figures.plots import no_data
from tracelab.figures.style import provider_color
from tracelab.metrics import tools as m

LATENCY_TOP = 12


@experiment(
    "tool_calls/tool_latency",
    title="Latency distribution of the most-called tools",
    question="How long does each popular tool take, and how much does its latency vary?",
    definitions=f"""
- **Tools**: per provider, the {LATENCY_TOP} tools with the most calls (all calls count for the
  ranking). *(all tools)* rows cover every call of the provider; *all* pools the providers.
- **Latency**: effective latency (internal if not null, else wall); the distribution keeps only
  strictly positive values (`timed calls`).
- The figure draws, per tool, a box from p25 to p75 with the median marked and whiskers from
  p1 to p99 — all `quantile_cont` values computed in SQL, not from individual calls.
- The study reports an average tool latency of 16.8 s overall, with Read/Edit mostly fast and
  Agent/AskUserQuestion taking minutes.
""",
    study_item="Fig. 9",
)
def tool_latency(con: duckdb.DuckDBPyConnection) -> Result:
    records = m.tool_latency(con, LATENCY_TOP)
    ms_cols = {c: (c, "ms") for c in ("avg", "p25", "p50", "p90", "p99")}
    table = _table(
        "tool_latency_top12",
        f"Effective latency of the {LATENCY_TOP} most-called tools per provider",
        records,
        {
            "provider": ("provider", "text"),
            "rank": ("rank", "int"),
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "timed calls": ("timed_calls", "int"),
            **ms_cols,
        },
    )
    boxes = _table(
        "fig9_tool_latency",
        "Box quantiles of the effective latency per tool (ms)",
        [r for r in records if r["rank"] > 0],
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "timed calls": ("timed_calls", "int"),
            **{c: (c, "ms") for c in ("p1", "p25", "p50", "p75", "p99", "avg")},
        },
    )
    return Result([table], _tool_latency_text(records), data={"boxes": boxes})


def _tool_latency_text(records: list[dict[str, Any]]) -> str:
    overall = [r for r in records if r["rank"] == 0 and r["timed_calls"]]
    tools = [r for r in records if r["rank"] > 0 and r["timed_calls"]]
    if not overall:
        return "No tool call has a positive effective latency, so there is no distribution."
    summary = ", ".join(
        f"{_label(r['provider'])} {dur(r['avg'])} (median {dur(r['p50'])})" for r in overall
    )
    text = f"Average effective tool latency: {summary}."
    fast = min(tools, key=lambda r: r["p50"])
    slow = max(tools, key=lambda r: r["p50"])
    text += (
        f" Among the most-called tools, medians range from {dur(fast['p50'])} "
        f"({fast['tool']}, {fast['provider']}) to {dur(slow['p50'])} "
        f"({slow['tool']}, {slow['provider']})."
    )
    top = tools[0]
    text += (
        f" Within one tool latency still varies widely: {top['tool']} ({top['provider']}'s "
        f"most-called tool) spans {dur(top['p1'])} at p1 to {dur(top['p99'])} at p99."
    )
    return text


@tool_latency.figures
def _(result: Result) -> list[Figure]:
    boxes: Table = result.data["boxes"]
    groups = _grouped(boxes)
    height = max(3.0, 0.28 * max((len(v) for v in groups.values()), default=0) + 1.2)
    fig, axes = _panels(list(groups), 4.4, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _box_panel(axes[i], provider, recs, i)
    if not groups:
        no_data(axes[0], "no timed tool calls")
    return [
        Figure(
            name="fig9_tool_latency",
            title=f"Fig. 9 — latency of the {LATENCY_TOP} most-called tools per provider",
            figure=fig,
            data=boxes,
            caption="Effective latency in seconds (log scale): box p25–p75, white line the "
            "median, whiskers p1–p99, dot the mean; positive latencies only.",
            interactive=_box_plotly(groups),
        )
    ]


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _box_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    color = provider_color(provider, index)
    drawn = [r for r in recs if r["p50"] is not None]
    if not drawn:
        no_data(ax, f"{_label(provider)}: no timed calls")
        return
    for y, r in enumerate(drawn):
        p1, p25, p50, p75, p99, avg = (
            _seconds(r[c]) for c in ("p1", "p25", "p50", "p75", "p99", "avg")
        )
        ax.hlines(y, p1, p99, color=color, lw=1)
        ax.barh(y, p75 - p25, left=p25, height=0.6, color=color, alpha=0.8)
        ax.vlines(p50, y - 0.3, y + 0.3, color="white", lw=1.6)
        ax.plot([avg], [y], "o", color="black", ms=2.5)
    ax.set_xscale("log")
    ax.set_yticks(range(len(drawn)), [r["tool"] for r in drawn], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("effective latency (s, log scale)")
    ax.set_title(_label(provider))


def _box_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Effective latency per tool (s): p1–p25–p50–p75–p99")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        drawn = [r for r in recs if r["p50"] is not None]
        col = {c: [_seconds(r[c]) for r in drawn] for c in ("p1", "p25", "p50", "p75", "p99")}
        fig.add_trace(
            go.Box(
                y=[r["tool"] for r in drawn],
                q1=col["p25"],
                median=col["p50"],
                q3=col["p75"],
                lowerfence=col["p1"],
                upperfence=col["p99"],
                mean=[_seconds(r["avg"]) for r in drawn],
                orientation="h",
                name=_label(provider),
                marker_color=provider_color(provider, i - 1),
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="log", title_text="seconds", row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig
