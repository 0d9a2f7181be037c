"""`tool_calls/tool_time_by_kind` (amendments §7; study §6.2): which tools the tool time goes to."""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result
from tracelab.experiments.fmt import count, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import NO_TOOLS, _grouped, _label, _panels, _table
from tracelab.figures.plots import no_data
from tracelab.figures.style import provider_color
from tracelab.metrics import tool_time as m


@experiment(
    "tool_calls/tool_time_by_kind",
    title="Tool time by tool",
    question="Which tools does the time spent in tools go to, and how many calls carry it?",
    definitions=f"""
- **Tool name**: the call's name with surrounding whitespace trimmed; a blank or missing name
  is `{m.UNKNOWN_TOOL}` (the reference's naming, kept so the CSV matches it).
- Per name: **calls** (all), **valid** (effective latency > 0; effective = internal latency if
  not null, else wall), **missing** (effective latency null), **errors** (`is_error` true),
  **tool time** Σ of the positive effective latencies; **latency share** = its tool time / all
  names' tool time; **avg** = tool time / valid calls.
- The table is **global** (providers pooled, as the reference's CSV), raw names, names with at
  least one valid call only, sorted by tool time descending, then by first appearance in the
  file.
- The figure has a panel per provider: names starting with `mcp_` merged into `mcp`, names with
  fewer than {m.MIN_CALLS} calls pooled as "Other", the {m.TOP} largest by hours, each bar
  labelled with its calls.
""",
    study_item="§6.2 (reference)",
)
def tool_time_by_kind(con: duckdb.DuckDBPyConnection) -> Result:
    recs = m.by_tool(con)
    table = _table(
        "tool_time_by_kind",
        "Tool time per tool name (all providers)",
        recs,
        {
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "valid calls": ("valid", "int"),
            "missing latency": ("missing", "int"),
            "errors": ("errors", "int"),
            "tool time (ms)": ("total_ms", "float"),
            "tool time (s)": ("total_s", "float"),
            "tool time (h)": ("total_h", "float2"),
            "latency share": ("latency_share", "pct"),
            "avg (ms)": ("avg_ms", "ms"),
        },
    )
    bars = _table(
        "tool_time_by_kind_bars",
        f"Tool hours per provider: top {m.TOP} (mcp_* merged, < {m.MIN_CALLS} calls → Other)",
        m.figure_bars(con),
        {
            "provider": ("provider", "text"),
            "rank": ("rank", "int"),
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "valid calls": ("valid", "int"),
            "tool time (h)": ("total_h", "float2"),
        },
    )
    return Result([table, bars], _text(recs))


def _text(recs: list[dict[str, Any]]) -> str:
    if not recs:
        return NO_TOOLS
    top = recs[:3]
    listed = ", ".join(f"{r['tool']} {pct(r['latency_share'])}" for r in top)
    total_h = sum(r["total_h"] for r in recs)
    calls = sum(r["calls"] for r in recs)
    return (
        f"{count(len(recs))} tool names with a positive latency take {total_h:,.1f} h of tool "
        f"time over {count(calls)} calls; the largest shares are {listed}."
    )


@tool_time_by_kind.figures
def _(result: Result) -> list[Figure]:
    bars = result.table("tool_time_by_kind_bars")
    groups = _grouped(bars)
    height = max(3.0, 0.24 * max((len(v) for v in groups.values()), default=0) + 1.2)
    fig, axes = _panels(list(groups), 4.6, height)
    for i, (provider, recs) in enumerate(groups.items()):
        ax = axes[i]
        ys = range(len(recs))
        hours = [r["tool time (h)"] for r in recs]
        ax.barh(ys, hours, color=provider_color(provider, i), height=0.7)
        for y, r in zip(ys, recs, strict=True):
            ax.annotate(
                f"n={r['calls']:,}",
                (r["tool time (h)"], y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.set_yticks(list(ys), [r["tool"] for r in recs], fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("tool time (h)")
        ax.set_xlim(0, max(hours, default=0) * 1.25 or 1)
        ax.set_title(_label(provider))
    if not groups:
        no_data(axes[0], "no tool calls")
    return [
        Figure(
            name="tool_time_by_kind_bars",
            title="Tool time by tool, per provider",
            figure=fig,
            data=bars,
            caption=f"Hours of positive effective latency per tool (mcp_* merged, tools with "
            f"fewer than {m.MIN_CALLS} calls as Other, top {m.TOP}); n = calls.",
        )
    ]
