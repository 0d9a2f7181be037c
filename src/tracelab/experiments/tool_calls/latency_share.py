"""`tool_calls/latency_share` (Fig. 8): share of tool calls vs share of tool time per
effective-latency bin.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import (
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

SHORT_CALL_MS = 1_000
CALLS_ALPHA = 0.45


@experiment(
    "tool_calls/latency_share",
    title="Share of tool calls vs share of tool time by latency",
    question="Do a few slow tool calls account for most of the time spent in tools?",
    definitions="""
- **Effective latency** of a call = `tool_internal_latency_ms` if not null, else
  `tool_wall_latency_ms`; only strictly positive values count (calls without one are left out).
- **Bins** are half-open `[lo, hi)`: <0.1 s, 0.1–1 s, 1–10 s, 10 s–1 min, 1–10 min, ≥10 min
  (a call of exactly 1 s is in 1–10 s).
- **Share of calls**: the bin's calls / all timed calls; **share of time**: the bin's Σ effective
  latency / Σ effective latency of all timed calls. *all* pools the providers.
- **Long calls**: effective latency ≥ 1 min (= the 1–10 min and ≥10 min bins). The study
  reports 4% of calls and 85% of tool time overall (Claude 4.9% / 92%, Codex 3.1% / 61%).
""",
    study_item="Fig. 8",
)
def latency_share(con: duckdb.DuckDBPyConnection) -> Result:
    bins = _table(
        "tool_latency_share",
        "Share of tool calls and of tool time per effective-latency bin",
        m.latency_bins(con),
        {
            "provider": ("provider", "text"),
            "latency bin": ("label", "text"),
            "calls": ("calls", "int"),
            "share of calls": ("call_share", "pct"),
            "tool time": ("time_ms", "ms"),
            "share of time": ("time_share", "pct"),
        },
    )
    groups = list(_grouped(bins))
    long_rows = [
        {
            "provider": g,
            "long": m.long_call_shares(con, None if g == m.ALL else g, m.LONG_CALL_MS),
            "not_short": m.long_call_shares(con, None if g == m.ALL else g, SHORT_CALL_MS),
        }
        for g in groups
    ]
    long_calls = Table(
        name="tool_long_calls",
        title="Calls of at least 1 min and under 1 s: share of calls and of tool time",
        columns=[
            "provider",
            "timed calls",
            "calls ≥ 1 min",
            "share of calls ≥ 1 min",
            "share of time ≥ 1 min",
            "share of calls < 1 s",
            "share of time < 1 s",
        ],
        rows=[
            [
                r["provider"],
                r["long"]["calls"],
                r["long"]["long_calls"],
                r["long"]["call_share"],
                r["long"]["time_share"],
                _complement(r["not_short"]["call_share"]),
                _complement(r["not_short"]["time_share"]),
            ]
            for r in long_rows
        ],
        kinds={
            "timed calls": "int",
            "calls ≥ 1 min": "int",
            **{c: "pct" for c in ("share of calls ≥ 1 min", "share of time ≥ 1 min")},
            **{c: "pct" for c in ("share of calls < 1 s", "share of time < 1 s")},
        },
    )
    return Result([bins, long_calls], _latency_share_text(long_calls))


def _complement(share: float | None) -> float | None:
    """1 − share: the calls below a threshold from the share at or above it."""
    return None if share is None else 1.0 - share


def _latency_share_text(long_calls: Table) -> str:
    recs = long_calls.records()
    if not recs:
        return "No tool call has a positive effective latency, so there is no tool time to split."
    parts = []
    for r in recs:
        if r["provider"] == m.ALL and len(recs) <= 2:
            continue
        parts.append(
            f"{_label(r['provider'])}: calls of at least 1 min are "
            f"{pct(r['share of calls ≥ 1 min'])} of {count(r['timed calls'])} timed calls but "
            f"{pct(r['share of time ≥ 1 min'])} of tool time, while calls under 1 s are "
            f"{pct(r['share of calls < 1 s'])} of calls and {pct(r['share of time < 1 s'])} "
            "of time."
        )
    return " ".join(parts)


@latency_share.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_latency_share")
    groups = {p: recs for p, recs in _grouped(table).items() if p != m.ALL}
    fig, axes = _panels(list(groups), 4.4, 3.4)
    for i, (provider, recs) in enumerate(groups.items()):
        _share_panel(axes[i], provider, recs, i)
    if groups:
        _figure_legend(fig, axes[0])
    else:
        no_data(axes[0], "no timed tool calls")
    return [
        Figure(
            name="fig8_tool_latency_share",
            title="Fig. 8 — share of tool calls vs share of tool time by latency bin",
            figure=fig,
            data=table,
            caption="Per effective-latency bin: its share of the timed tool calls (light) and "
            "of the total tool time (solid). Only calls with a positive latency count.",
            interactive=_share_plotly(groups),
        )
    ]


def _share_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    color = provider_color(provider, index)
    x = list(range(len(recs)))
    width = 0.4
    series = (("share of calls", CALLS_ALPHA, -width / 2), ("share of time", 1.0, width / 2))
    for column, alpha, offset in series:
        values = [r[column] or 0.0 for r in recs]
        bars = ax.bar([xi + offset for xi in x], values, width, color=color, alpha=alpha)
        bars.set_label(column)
        for xi, v in zip(x, values, strict=True):
            ax.text(xi + offset, v + 0.01, _short_pct(v), ha="center", fontsize=6.5)
    ax.set_xticks(x, [r["latency bin"] for r in recs], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.set_xlabel("effective tool latency")
    ax.set_ylabel("share (%)")
    ax.set_title(_label(provider))


def _short_pct(share: float) -> str:
    """A bar label: whole percent, "<1" for a sliver that would round to 0."""
    return "<1" if 0 < share < 0.005 else f"{share * 100:.0f}"


def _share_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Share of tool calls vs share of tool time by latency")
    fig.update_layout(barmode="group")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        for column, opacity in (("share of calls", CALLS_ALPHA), ("share of time", 1.0)):
            fig.add_trace(
                go.Bar(
                    x=[r["latency bin"] for r in recs],
                    y=[r[column] for r in recs],
                    name=f"{_label(provider)}: {column}",
                    marker_color=provider_color(provider, i - 1),
                    opacity=opacity,
                    hovertemplate="%{x}: %{y:.1%}<extra></extra>",
                ),
                row=1,
                col=i,
            )
        fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=i)
    return fig
