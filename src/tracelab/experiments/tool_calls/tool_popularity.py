"""`tool_calls/tool_popularity` (Fig. 7): calls per tool, the top-k share and error rates per
provider.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result
from tracelab.experiments.fmt import count, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import (
    NO_TOOLS,
    _grouped,
    _label,
    _panels,
    _plotly_panels,
    _table,
)
from tracelab.figures.plots import no_data
from tracelab.figures.style import provider_color
from tracelab.metrics import tools as m

POPULAR_TOP = 15
TOP_K = 3


@experiment(
    "tool_calls/tool_popularity",
    title="Tool popularity and error rates",
    question="Which tools do the agents call, how concentrated are the calls, and how often "
    "does each tool fail?",
    definitions=f"""
- **Calls** of a tool: its rows in `tool_calls` (one per call); a missing name is `(unnamed)`;
  in the popularity table every name starting with `{m.MCP_MERGE_PREFIX}` is one `{m.MCP_MERGED}`
  row. Per provider, the {POPULAR_TOP} most-called tools are listed and the rest summed as
  *Other* (`tools` = how many tool names a row covers).
- **Share**: the tool's calls / all the provider's calls.
- **Error rate** (amendments §14.6): calls with `is_error` true / **all** calls of the tool; a
  call without `is_error` (a success — Claude marks only failures — or an unfinished call)
  counts as a non-error call. *Finished calls* (a result or a status) are shown beside it.
- **Top-{TOP_K} share**: calls of the {TOP_K} most-called tools / all calls (ties broken by
  name); *all* ranks tool names over both providers together. The study reports 54 Claude and
  31 Codex tools, with the top 3 taking over 80% (Claude) and 95% (Codex) of calls.
""",
    study_item="Fig. 7",
)
def tool_popularity(con: duckdb.DuckDBPyConnection) -> Result:
    popular = _table(
        "tool_popularity",
        f"Tool calls per provider: top {POPULAR_TOP} tools and Other",
        m.popularity(con, POPULAR_TOP),
        {
            "provider": ("provider", "text"),
            "rank": ("rank", "int"),
            "tool": ("tool", "text"),
            "tools": ("tools", "int"),
            "calls": ("calls", "int"),
            "share": ("share", "pct"),
            "errors": ("errors", "int"),
            "finished calls": ("with_status", "int"),
            "error rate": ("error_rate", "pct"),
        },
    )
    summary_rows = m.top_share_rows(con, TOP_K)
    summary = _table(
        "tool_popularity_summary",
        f"Distinct tools, top-{TOP_K} share and error rate per provider",
        summary_rows,
        {
            "provider": ("provider", "text"),
            "calls": ("calls", "int"),
            "distinct tools": ("distinct_tools", "int"),
            f"top {TOP_K} tools": ("top_tools", "text"),
            f"top-{TOP_K} share": ("top_share", "pct"),
            "errors": ("errors", "int"),
            "finished calls": ("with_status", "int"),
            "error rate": ("error_rate", "pct"),
        },
    )
    return Result([popular, summary], _popularity_text(summary_rows))


def _popularity_text(summary: list[dict[str, Any]]) -> str:
    if not summary:
        return NO_TOOLS
    parts = []
    for r in summary:
        if r["provider"] == m.ALL and len(summary) <= 2:
            continue  # one provider: "all" repeats it
        errors = (
            f"{pct(r['error_rate'])} of them failed ({count(r['errors'])} calls with an error "
            f"status)"
            if r["errors"]
            else "no call reported an error"
        )
        parts.append(
            f"{_label(r['provider'])}: {count(r['calls'])} tool calls over "
            f"{count(r['distinct_tools'])} distinct tools; the top {TOP_K} ({r['top_tools']}) "
            f"take {pct(r['top_share'])} of the calls, and {errors}."
        )
    return " ".join(parts)


@tool_popularity.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_popularity")
    groups = _grouped(table)
    height = max(3.0, 0.24 * max((len(v) for v in groups.values()), default=0) + 1.2)
    fig, axes = _panels(list(groups), 4.6, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _popularity_panel(axes[i], provider, recs, i)
    if not groups:
        no_data(axes[0], "no tool calls")
    return [
        Figure(
            name="fig7_tool_popularity",
            title="Fig. 7 — tool popularity per provider",
            figure=fig,
            data=table,
            caption=f"Calls per tool (log scale), the top {POPULAR_TOP} per provider and Other; "
            "the label gives the call count and the error rate (errors / calls with a status).",
            interactive=_popularity_plotly(groups),
        )
    ]


def _error_label(rec: dict[str, Any]) -> str:
    rate = "–" if rec["error rate"] is None else pct(rec["error rate"])
    return f"{count(rec['calls'])} · err {rate}"


def _popularity_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    y = list(range(len(recs)))
    calls = [r["calls"] for r in recs]
    ax.barh(y, calls, color=provider_color(provider, index))
    for yi, rec in zip(y, recs, strict=True):
        ax.text(rec["calls"] * 1.15, yi, _error_label(rec), va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(0.8, max(calls) * 40)
    ax.set_yticks(y, [r["tool"] for r in recs], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("tool calls (log scale)")
    ax.set_title(f"{_label(provider)} — {count(sum(calls))} calls")


def _popularity_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Tool popularity (calls, log scale) and error rate")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        fig.add_trace(
            go.Bar(
                x=[r["calls"] for r in recs],
                y=[r["tool"] for r in recs],
                orientation="h",
                name=_label(provider),
                marker_color=provider_color(provider, i - 1),
                text=[_error_label(r) for r in recs],
                hovertemplate="%{y}: %{text}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="log", title_text="tool calls", row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig
