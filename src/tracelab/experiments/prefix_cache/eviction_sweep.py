"""`prefix_cache/eviction_sweep` (Fig. 12): achievable hit rate, KV storage ratio and prefill
amplification as the eviction time grows.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count, format_value, pct
from tracelab.experiments.prefix_cache._shared import _marks, _steps, _time_axis
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import cache

SWEEP_MEASURES = [
    ("hit rate", "hit_rate", "pct"),
    ("prefill tokens", "prefill", "tokens"),
    ("prefill amplification", "amplification", "float2"),
    ("KV storage ratio R", "storage_ratio", "float2"),
    ("active ratio 1/(1+R)", "active_ratio", "pct"),
]
#: The three panels of Fig. 12 (table column, axis label).
SWEEP_PANELS = (
    ("hit rate", "achievable hit rate"),
    ("KV storage ratio R", "storage ratio R\n(suspended / active KV)"),
    ("prefill amplification", "prefill amplification\n(prefill / fresh)"),
)


@experiment(
    "prefix_cache/eviction_sweep",
    title="Eviction-time sweep: hit rate, KV storage and prefill amplification",
    question="How do the achievable hit rate, the suspended KV storage and the prefill "
    "amplification trade off as the prefix-cache eviction time grows from 1 s to 1 h?",
    definitions="""
- Idealized rule: a covered step is a **full hit** if its idle gap g ≤ τ (a gap equal to τ is
  a hit), else a **full miss** (the whole context is prefilled again).
- **Steps and gaps** (amendments §14.3): a session's steps in (round_index, first activity, file
  order) order. A step whose first timing event is a `user_message` has the gap *its first
  event − the previous step's last activity* (the latest of its events and its tools'
  emitted/result times; a negative gap is no gap); one whose first timing event is a
  `tool_result` has the gap *the longest wall duration* (`result_at − emitted_at`, ≥ 0) of the
  earlier calls its leading `tool_result` events answer — not the internal or effective tool
  latency. **Covered** steps have such a first event, C > 0, a predecessor and a gap.
- **Fresh** of a covered step = max(0, C − C_prev) − O_prev, clipped to [0, append] (unlike
  Table 12's unclipped sum).
- **hit(τ)** = Σ_{g ≤ τ} (C − fresh) / Σ C over covered steps, with C = prefix + append;
  **prefill(τ)** = Σ fresh + Σ_{g > τ} (C − fresh); **amplification(τ)** = prefill(τ) / Σ fresh
  (1 for a cache that never evicts).
- **KV storage ratio** R(τ) = Σ_covered min(g, τ) / G, with G = Σ of the positive generation
  times of **all** steps of the provider (or of the trace, for *total*); **active ratio** =
  1 / (1 + R).
- **Effective eviction time**: the grid τ whose hit(τ) is closest to the covered steps'
  observed hit rate Σ prefix / Σ C (the smallest on ties).
- τ grid: 260 log-spaced points from 1 s to 4 h plus the marks 1m, 5m, 10m, 30m, 1h, 2h, 4h;
  per provider and in total.
""",
    study_item="Fig. 12",
)
def eviction_sweep(con: duckdb.DuckDBPyConnection) -> Result:
    sweep = cache.eviction_sweep(con)
    population = cache.sweep_population(con)
    effective = cache.effective_eviction_times(sweep)
    observed = {r["provider"]: r["observed_hit"] for r in sweep}
    columns = ["provider", "eviction time τ (ms)", "steps", "hit steps"]
    columns += [label for label, _, _ in SWEEP_MEASURES]
    kinds = {"eviction time τ (ms)": "ms", "steps": "int", "hit steps": "int"}
    kinds |= {label: fmt for label, _, fmt in SWEEP_MEASURES}

    def body(recs: list[dict[str, Any]]) -> list[list[Any]]:
        return [
            [r["provider"], r["tau_ms"], r["steps"], r["hit_steps"]]
            + [r[field] for _, field, _ in SWEEP_MEASURES]
            for r in recs
        ]

    marks = [r for r in sweep if r["tau_ms"] in cache.SWEEP_MARKS_MS]
    tables = [
        Table(
            "fig12_eviction_sweep",
            "Fig. 12 — eviction-time sweep (every τ)",
            columns,
            body(sweep),
            kinds=kinds,
        ),
        Table(
            "eviction_sweep_marks",
            "Eviction-time sweep at the marked τ",
            columns,
            body(marks),
            kinds=kinds,
        ),
        Table(
            "effective_eviction_time",
            "Effective eviction time: the τ whose idealized hit rate matches the observed one",
            ["provider", "observed hit rate", "effective eviction time τ (ms)"],
            [[g, observed.get(g), t] for g, t in effective.items()],
            kinds={"observed hit rate": "pct", "effective eviction time τ (ms)": "ms"},
        ),
    ]
    return Result(tables, _sweep_text(marks, population, effective))


def _sweep_text(
    marks: list[dict[str, Any]], population: dict[str, Any], effective: dict[str, Any]
) -> str:
    total = {r["tau_ms"]: r for r in marks if r["provider"] == "total"}
    left_out = (
        f"left out are {_steps(population['session_first'], 'session-first')}, "
        f"{_steps(population['other_first_event'])} whose first event is no user message or "
        f"tool result, {_steps(population['no_context'])} without input tokens and "
        f"{_steps(population['unknown_gap'])} without an observable idle gap"
    )
    if not population["swept"]:
        return f"No step enters the sweep ({left_out})."
    lo, mid, hi = (total[t] for t in (cache.MINUTE_MS, 5 * cache.MINUTE_MS, cache.HOUR_MS))

    def ratio(r: dict[str, Any]) -> str:
        return format_value(r["storage_ratio"], "float2")

    text = (
        f"Under the idealized rule, raising the eviction time from 1 min to 5 min to 1 h lifts "
        f"the achievable hit rate from {pct(lo['hit_rate'])} to {pct(mid['hit_rate'])} to "
        f"{pct(hi['hit_rate'])}, while the KV storage ratio R grows from {ratio(lo)} to "
        f"{ratio(mid)} to {ratio(hi)} (active share {pct(lo['active_ratio'])} → "
        f"{pct(hi['active_ratio'])})."
    )
    if lo["amplification"] is not None:
        text += (
            f" Prefill amplification falls from {format_value(lo['amplification'], 'float2')} "
            f"at 1 min to {format_value(mid['amplification'], 'float2')} at 5 min and "
            f"{format_value(hi['amplification'], 'float2')} at 1 h (1.0 would prefill only "
            "fresh tokens)."
        )
    if effective.get("total") is not None:
        text += (
            f" The observed hit rate ({pct(lo['observed_hit'])}) matches an effective eviction "
            f"time of {format_value(effective['total'], 'ms')}."
        )
    if lo["storage_ratio"] is None:
        text += " No step has a positive generation time, so R is undefined."
    text += f" The sweep covers {count(population['swept'])} steps; {left_out}."
    return text


@eviction_sweep.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig12_eviction_sweep")
    rows = table.records()
    groups = list(dict.fromkeys(r["provider"] for r in rows))
    fig, axes = new_figure(nrows=3, width=6.4, height=7.2, sharex=True, squeeze=False)
    for i, (column, label) in enumerate(SWEEP_PANELS):
        ax = axes[i][0]
        for j, group in enumerate(groups):
            pts = [r for r in rows if r["provider"] == group and r[column] is not None]
            ax.plot(
                [r["eviction time τ (ms)"] / cache.SECOND_MS for r in pts],
                [r[column] for r in pts],
                color=provider_color(group, j),
                lw=2.2 if group == "total" else 1.4,
                label=group,
            )
            marked = [r for r in pts if r["eviction time τ (ms)"] in cache.SWEEP_MARKS_MS]
            ax.plot(
                [r["eviction time τ (ms)"] / cache.SECOND_MS for r in marked],
                [r[column] for r in marked],
                "o",
                ms=3.5,
                color=provider_color(group, j),
            )
        ax.set_ylabel(label)
        _marks(ax, cache.SWEEP_MARKS_MS, labelled=i == 0)
        if not rows:
            no_data(ax)
    axes[0][0].set_ylim(top=1.0)
    axes[2][0].axhline(1.0, color="#888888", lw=1, ls="--")
    axes[2][0].annotate(
        "never evicts: 1.0",
        (0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(4, 3),
        textcoords="offset points",
        fontsize=7,
        color="#555555",
    )
    if groups:
        axes[0][0].legend(loc="lower right")
    _time_axis(
        axes[2][0],
        (cache.SECOND_MS, 10 * cache.SECOND_MS, *cache.SWEEP_MARKS_MS),
        "eviction time τ",
    )
    fig.suptitle("Idealized eviction-time sweep")
    return [
        Figure(
            name="fig12_eviction_sweep",
            title="Fig. 12 — eviction-time sweep",
            figure=fig,
            data=table,
            caption="Achievable hit rate, KV storage ratio R (suspended over active KV time) and "
            "prefill amplification against the eviction time τ (log axis), per provider and "
            "in total; dotted lines mark 1m, 5m, 10m, 30m and 1h.",
            interactive=_sweep_plotly(rows, groups),
        )
    ]


def _sweep_plotly(rows: list[dict[str, Any]], groups: list[str]) -> Any:
    """Plotly version of Fig. 12: three stacked panels on one log τ axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, subplot_titles=[c for c, _ in SWEEP_PANELS]
    )
    for i, (column, label) in enumerate(SWEEP_PANELS, start=1):
        for j, group in enumerate(groups):
            pts = [r for r in rows if r["provider"] == group]
            fig.add_trace(
                go.Scatter(
                    x=[r["eviction time τ (ms)"] / cache.SECOND_MS for r in pts],
                    y=[r[column] for r in pts],
                    mode="lines",
                    name=group,
                    legendgroup=group,
                    showlegend=i == 1,
                    line={"color": provider_color(group, j)},
                ),
                row=i,
                col=1,
            )
        fig.update_yaxes(title_text=label.replace("\n", " "), row=i, col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="eviction time τ (s)", row=3, col=1)
    for m in cache.SWEEP_MARKS_MS:
        fig.add_vline(x=m / cache.SECOND_MS, line_dash="dot", line_color="#555555")
    fig.update_layout(title="Idealized eviction-time sweep", template="plotly_white", height=760)
    return fig
