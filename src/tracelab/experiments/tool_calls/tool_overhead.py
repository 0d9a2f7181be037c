"""`tool_calls/tool_overhead` (Table 10): end-to-end vs runner-reported tool time and their
residual.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count, dur, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import (
    NO_TOOLS,
    _figure_legend,
    _grouped,
    _label,
    _panels,
    _plotly_panels,
    _table,
)
from tracelab.figures.plots import no_data
from tracelab.figures.style import provider_color
from tracelab.metrics import tools as m

OVERHEAD_TOP = 4
RESIDUAL_COLOR = "#4c5c74"


@experiment(
    "tool_calls/tool_overhead",
    title="Tool-call overhead: end-to-end vs runner-reported time",
    question="How much of a tool call's observed time is not execution (approval, scheduling, "
    "startup, output propagation)?",
    definitions=f"""
- **Timed calls**: calls with both `tool_wall_latency_ms` (end-to-end, E2E: emitted → result)
  and `tool_internal_latency_ms` (runner-reported execution) non-null and wall ≥ 0 (a negative
  wall latency is clock skew). Internal latencies are never negative.
- **Residual** = wall − internal, per call; kept signed (a runner reporting slightly more time
  than the trace observed gives a small negative residual instead of being dropped).
- E2E / internal / residual are sums over the timed calls; *residual share* = Σ residual / Σ E2E;
  avg and p50/p90/p99 are over the per-call residuals.
- Rows: *All timed*, then the {OVERHEAD_TOP} tools with the most timed calls, then *Other*.
  Every provider with timed calls gets its rows (in the study, only Codex reports internal
  time: 253k calls, 87.3% coverage, 77.8 h residual of 418.1 h E2E).
- **Coverage**: timed calls / all the provider's tool calls.
""",
    study_item="Table 10",
)
def tool_overhead(con: duckdb.DuckDBPyConnection) -> Result:
    rows = m.overhead(con, OVERHEAD_TOP)
    table = _table(
        "table10_tool_overhead",
        "Table 10 — tool overhead: end-to-end vs internal time and their residual",
        rows,
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "E2E": ("wall_ms", "ms"),
            "internal": ("internal_ms", "ms"),
            "residual": ("residual_ms", "ms"),
            "residual share": ("residual_share", "pct"),
            "avg residual": ("avg", "ms"),
            "p50": ("p50", "ms"),
            "p90": ("p90", "ms"),
            "p99": ("p99", "ms"),
        },
        latex=True,
    )
    coverage = _table(
        "tool_overhead_coverage",
        "Tool calls with both an end-to-end and an internal latency",
        m.overhead_coverage(con),
        {
            "provider": ("provider", "text"),
            "tool calls": ("calls", "int"),
            "timed calls": ("timed_calls", "int"),
            "coverage": ("coverage", "pct"),
        },
    )
    return Result([table, coverage], _overhead_text(table, coverage))


def _overhead_text(table: Table, coverage: Table) -> str:
    if not coverage.rows:
        return NO_TOOLS
    totals = [r for r in table.records() if r["tool"] == m.ALL_TIMED]
    if not totals:
        return (
            "No tool call has both an end-to-end and a runner-reported latency, so the overhead "
            "cannot be decomposed."
        )
    cover = {r["provider"]: r for r in coverage.records()}
    parts = []
    for r in totals:
        c = cover[r["provider"]]
        tools = [
            t
            for t in table.records()
            if t["provider"] == r["provider"] and t["tool"] not in (m.ALL_TIMED, m.OTHER)
        ]
        top = max(tools, key=lambda t: t["residual"], default=None)
        parts.append(
            f"{_label(r['provider'])}: {count(r['calls'])} of {count(c['tool calls'])} tool calls "
            f"({pct(c['coverage'])}) have both timings; they take {dur(r['E2E'])} end to end "
            f"and {dur(r['internal'])} of reported execution, leaving {dur(r['residual'])} of "
            f"residual ({pct(r['residual share'])}). The average residual is "
            f"{dur(r['avg residual'])} (p50 {dur(r['p50'])}, p90 {dur(r['p90'])}, "
            f"p99 {dur(r['p99'])})"
            + (f"; {top['tool']} contributes the most ({dur(top['residual'])})." if top else ".")
        )
    return " ".join(parts)


@tool_overhead.figures
def _(result: Result) -> list[Figure]:
    table = result.table("table10_tool_overhead")
    groups = {
        p: [r for r in recs if r["tool"] != m.ALL_TIMED] for p, recs in _grouped(table).items()
    }
    height = max(2.8, 0.35 * max((len(v) for v in groups.values()), default=0) + 1.4)
    fig, axes = _panels(list(groups), 4.6, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _overhead_panel(axes[i], provider, recs, i)
    if groups:
        _figure_legend(fig, axes[0])
    else:
        no_data(axes[0], "no calls with both timings")
    return [
        Figure(
            name="tool_overhead_hours",
            title="Tool time split into runner-reported execution and residual overhead",
            figure=fig,
            data=table,
            caption="Per tool (timed calls only): Σ internal latency and, stacked after it, "
            "Σ residual (wall − internal), in hours.",
            interactive=_overhead_plotly(groups),
        )
    ]


def _hours(ms: float | None) -> float:
    return (ms or 0.0) / 3_600_000.0


def _overhead_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    y = list(range(len(recs)))
    internal = [_hours(r["internal"]) for r in recs]
    residual = [_hours(r["residual"]) for r in recs]
    ax.barh(y, internal, color=provider_color(provider, index), label="internal (execution)")
    ax.barh(y, residual, left=internal, color=RESIDUAL_COLOR, label="residual (overhead)")
    ax.set_yticks(y, [r["tool"] for r in recs], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("hours")
    ax.set_title(_label(provider))


def _overhead_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Tool time: internal execution + residual overhead (h)")
    fig.update_layout(barmode="stack")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        for key, color in (("internal", provider_color(provider, i - 1)), ("residual", None)):
            fig.add_trace(
                go.Bar(
                    x=[_hours(r[key]) for r in recs],
                    y=[r["tool"] for r in recs],
                    orientation="h",
                    name=f"{_label(provider)}: {key}",
                    marker_color=color or RESIDUAL_COLOR,
                    hovertemplate="%{y}: %{x:.2f} h<extra></extra>",
                ),
                row=1,
                col=i,
            )
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig
