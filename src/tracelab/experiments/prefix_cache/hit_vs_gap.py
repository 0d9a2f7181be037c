"""`prefix_cache/hit_vs_gap` (Fig. 11): the prefix hit rate per bin and band of the idle gap
before a step.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count, format_value, pct
from tracelab.experiments.prefix_cache._shared import KIND_LABELS, _marks, _steps, _time_axis
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import STEP_KIND_COLORS, new_figure
from tracelab.metrics import cache

GAP_FIELDS = ("steps", "hit_rate", "median_ratio", "low_share")
BAND_LABELS = ("< 5m", "5m–1h", "≥ 1h")
#: Where the Fig. 11 axis shows the open-ended first and last gap bins (ms).
UNDER_X_MS = 0.5 * cache.SECOND_MS
OVER_X_MS = 1.5 * cache.DAY_MS
TIME_TICKS_MS = (
    cache.SECOND_MS,
    10 * cache.SECOND_MS,
    cache.MINUTE_MS,
    5 * cache.MINUTE_MS,
    cache.HOUR_MS,
    cache.DAY_MS,
)


@experiment(
    "prefix_cache/hit_vs_gap",
    title="Prefix hit rate versus the preceding idle gap",
    question="How does the prefix hit rate of a step depend on how long the session was idle "
    "before it, for user-initiated and tool-initiated steps?",
    definitions="""
- **Idle gap** before a step: the human input wait for a user-initiated step (previous event of
  the session → its user message), the longest effective tool latency among the results it
  carries for a tool-initiated step (`step_facts.idle_gap_ms`).
- Steps: those with a predecessor in the session and an observable idle gap.
- **Gap bins**: below 1 s; then logarithmic, 4 per decade from 1 s (the last closed at 1 day);
  then 1 day and more. The figure draws the open-ended first and last bins at 0.5 s and 1.5 d.
- Per bin: steps; **token-weighted hit rate** Σ prefix / Σ (prefix + append); the **median step
  hit ratio** prefix / (prefix + append) (quantile_cont); the share of steps whose ratio is
  below 50%.
- Second table: the same per gap band (< 5 min, 5 min–1 h, ≥ 1 h), with each band's share of
  the steps of its type.
""",
    study_item="Fig. 11",
)
def hit_vs_gap(con: duckdb.DuckDBPyConnection) -> Result:
    edges = cache.gap_bin_edges_ms()
    bins = cache.hit_by_gap(con, cache.gap_bin_sql())
    bands = cache.hit_by_gap(con, cache.gap_band_sql())
    measures = ["steps", "hit rate", "median step hit ratio", "share of steps < 50% hit"]
    kinds = {
        "gap from (ms)": "ms",
        "gap to (ms)": "ms",
        "plot at (ms)": "ms",
        "steps": "int",
        "hit rate": "pct",
        "median step hit ratio": "pct",
        "share of steps < 50% hit": "pct",
    }
    bin_table = Table(
        name="fig11_hit_vs_gap",
        title="Fig. 11 — prefix hit rate per idle-gap bin",
        columns=[
            "provider",
            "step type",
            "gap bin",
            "gap from (ms)",
            "gap to (ms)",
            "plot at (ms)",
            *measures,
        ],
        rows=[
            [r["provider"], r["kind"], *_gap_bin(edges, r["bin"]), *(r[f] for f in GAP_FIELDS)]
            for r in bins
        ],
        kinds=kinds,
    )
    band_table = Table(
        name="hit_by_gap_band",
        title="Prefix hit rate per idle-gap band",
        columns=["provider", "step type", "gap band", "steps", "share of type", *measures[1:]],
        rows=[
            [
                r["provider"],
                r["kind"],
                BAND_LABELS[r["bin"]],
                r["steps"],
                r["step_share"],
                *(r[f] for f in GAP_FIELDS[1:]),
            ]
            for r in bands
        ],
        kinds={**kinds, "share of type": "pct"},
    )
    return Result([bin_table, band_table], _gap_text(bands))


def _gap_bin(edges: list[float], index: int) -> list[Any]:
    """[label, from, to, plot position] of gap bin `index` (-1 = below the first edge)."""
    if index < 0:
        return [f"< {format_value(edges[0], 'ms')}", None, edges[0], UNDER_X_MS]
    if index >= len(edges) - 1:
        return [f"≥ {format_value(edges[-1], 'ms')}", edges[-1], None, OVER_X_MS]
    lo, hi = edges[index], edges[index + 1]
    label = f"{format_value(lo, 'ms')}–{format_value(hi, 'ms')}"
    return [label, lo, hi, (lo * hi) ** 0.5]


def _gap_text(bands: list[dict[str, Any]]) -> str:
    total = {(r["kind"], r["bin"]): r for r in bands if r["provider"] == "total"}
    if not total:
        return (
            "No step has both a predecessor and an observable idle gap, so there is nothing to bin."
        )
    sentences = []
    for kind, label in (("user", "User-initiated"), ("tool", "Tool-initiated")):
        parts = [
            f"{pct(r['hit_rate'])} after gaps {BAND_LABELS[b]} ({_steps(r['steps'])})"
            for b in range(len(BAND_LABELS))
            if (r := total.get((kind, b)))
        ]
        if parts:
            sentences.append(f"{label} steps hit (token-weighted) " + ", ".join(parts) + ".")
    tool = [r for (kind, _), r in total.items() if kind == "tool"]
    if tool:
        n_tool = sum(r["steps"] for r in tool)
        n_long = sum(r["steps"] for r in tool if r["bin"] > 0)
        sentences.append(
            f"{count(n_long)} of {count(n_tool)} tool-initiated steps "
            f"({pct(n_long / n_tool)}) follow an idle gap of 5 min or more."
        )
    return " ".join(sentences)


def _gap_series(pts: list[dict[str, Any]], *columns: str) -> list[list[Any]]:
    """[x (s), *columns] of a Fig. 11 series; a NaN breaks the line where gap bins are missing."""
    out: list[list[Any]] = [[] for _ in range(len(columns) + 1)]
    for prev, r in zip([None, *pts], pts, strict=False):
        if prev is not None and prev["gap to (ms)"] != r["gap from (ms)"]:
            for values in out:
                values.append(math.nan)
        out[0].append(r["plot at (ms)"] / cache.SECOND_MS)
        for values, column in zip(out[1:], columns, strict=True):
            values.append(math.nan if r[column] is None else r[column])
    return out


@hit_vs_gap.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig11_hit_vs_gap")
    rows = [r for r in table.records() if r["provider"] != "total"]
    provs = list(dict.fromkeys(r["provider"] for r in rows))
    fig, axes = new_figure(
        ncols=max(1, len(provs)),
        nrows=2,
        width=max(6.4, 4.4 * len(provs)),
        height=5.4,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    bands = (5 * cache.MINUTE_MS, cache.HOUR_MS)
    for col, prov in enumerate(provs or ["no data"]):
        top, bottom = axes[0][col], axes[1][col]
        series = [r for r in rows if r["provider"] == prov]
        if not series:
            no_data(top)
        for kind in ("user", "tool"):
            pts = [r for r in series if r["step type"] == kind]
            if not pts:
                continue
            color = STEP_KIND_COLORS[kind]
            name = KIND_LABELS[kind].lower()
            top.plot(*_gap_series(pts, "hit rate"), "o-", color=color, ms=3, label=name)
            top.plot(
                *_gap_series(pts, "median step hit ratio"),
                "--",
                color=color,
                lw=1,
                label=f"{name}: median step",
            )
            bottom.plot(*_gap_series(pts, "steps"), "o-", color=color, ms=3, label=name)
        top.set_title(prov, pad=14)
        top.set_ylim(0, 1.02)
        top.set_ylabel("prefix hit rate")
        bottom.set_ylabel("steps")
        if series:
            bottom.set_yscale("log")
            top.legend(loc="lower left", fontsize=7)
        _marks(top, bands, labelled=True)
        _marks(bottom, bands, labelled=False)
        _time_axis(bottom, TIME_TICKS_MS, "idle gap before the step")
    fig.suptitle("Prefix hit rate vs the preceding idle gap (solid: token-weighted)")
    return [
        Figure(
            name="fig11_hit_vs_gap",
            title="Fig. 11 — prefix hit rate vs the preceding idle gap",
            figure=fig,
            data=table,
            caption="Per provider: token-weighted hit rate (solid) and median step hit ratio "
            "(dashed) per idle-gap bin, user-initiated vs tool-initiated steps; below, the "
            "number of steps per bin. Dotted lines: 5 min and 1 h. The first and last points "
            "gather gaps below 1 s and of 1 day or more.",
            interactive=_gap_plotly(rows, provs),
        )
    ]


def _gap_plotly(rows: list[dict[str, Any]], provs: list[str]) -> Any:
    """Plotly version of Fig. 11: hit rate (top) and step counts (bottom) per provider."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cols = max(1, len(provs))
    fig = make_subplots(
        rows=2,
        cols=cols,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        subplot_titles=provs or ["no data"],
    )
    for col, prov in enumerate(provs, start=1):
        for kind in ("user", "tool"):
            pts = [r for r in rows if r["provider"] == prov and r["step type"] == kind]
            pts = [
                {
                    **r,
                    "hover": f"{r['gap bin']}<br>{r['steps']} steps<br>median "
                    f"{pct(r['median step hit ratio'])}<br>"
                    f"{pct(r['share of steps < 50% hit'])} below 50%",
                }
                for r in pts
            ]
            x, hit, steps, hover = _gap_series(pts, "hit rate", "steps", "hover")
            style = {"color": STEP_KIND_COLORS[kind]}
            name = f"{prov} {kind}"
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=hit,
                    mode="lines+markers",
                    name=name,
                    line=style,
                    text=hover,
                    hovertemplate="%{text}<br>hit %{y:.1%}",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=steps,
                    mode="lines+markers",
                    name=f"{name} steps",
                    line=style,
                    showlegend=False,
                    text=hover,
                    hovertemplate="%{text}",
                ),
                row=2,
                col=col,
            )
        fig.update_yaxes(title_text="prefix hit rate", range=[0, 1.02], row=1, col=col)
        fig.update_yaxes(title_text="steps", type="log", row=2, col=col)
    fig.update_xaxes(type="log", title_text="idle gap (s)", row=2)
    fig.update_xaxes(type="log", row=1)
    for m in (5 * cache.MINUTE_MS, cache.HOUR_MS):
        fig.add_vline(x=m / cache.SECOND_MS, line_dash="dot", line_color="#555555")
    fig.update_layout(
        title="Prefix hit rate vs the preceding idle gap", template="plotly_white", height=520
    )
    return fig
