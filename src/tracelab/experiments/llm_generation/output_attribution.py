"""`llm_generation/output_attribution` (Fig. 3): is a step's output cached into the next step's
prefix or re-sent as append, per model.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import format_value, pct
from tracelab.experiments.llm_generation._shared import _count, _plotly_layout, _sorted
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import generation as g

ATTRIBUTION_COLORS = {"cached": "#3b6fb6", "resend": "#e0a030", "neither": "#b0b0b0"}
#: Fig. 3 scatter: at most this many pairs per model, chosen by hash(round_pk) (deterministic).
SAMPLE_PER_MODEL = 2_000
#: Fig. 3 scatter: g / O_{i−1} is clipped to this range for display.
GAIN_RATIO_RANGE = (-1.0, 2.0)

_TOL = f"{g.ATTRIBUTION_TOLERANCE * 100:g}%"


@experiment(
    "llm_generation/output_attribution",
    title="Output attribution: output-cached vs output-resend",
    question="Is a step's output cached into the next step's prefix, or re-sent as append?",
    definitions=f"""
- Pairs of consecutive steps (i−1, i) of a session (session order; the first step of a
  session has no pair) whose earlier step wrote **O_{{i−1}} ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}**
  output tokens, grouped by the model of step i.
- **Prefix gain** `g = prefix_i − (prefix_{{i−1}} + append_{{i−1}})`.
- **Output-cached**: `|g − O_{{i−1}}| ≤ {_TOL} × O_{{i−1}}` (the prior output is now prefix).
- **Output-resend**: `|g| ≤ {_TOL} × O_{{i−1}}` and `append_i ≥ O_{{i−1}}` (the prefix stops
  at the prior prompt; the prior output comes back as append).
- **Neither**: any other pair (cache miss, compaction, partial caching …). The tolerance
  ({_TOL}, `ATTRIBUTION_TOLERANCE`) makes the two tests exclusive.
- Scatter: at most {SAMPLE_PER_MODEL:,} pairs per model, the ones with the smallest
  `hash(round_pk)` (deterministic); `g / O_{{i−1}}` clipped to
  [{GAIN_RATIO_RANGE[0]:g}, {GAIN_RATIO_RANGE[1]:g}] for display.
""",
    study_item="Fig. 3",
)
def output_attribution(con: duckdb.DuckDBPyConnection) -> Result:
    g.prepare_generation(con)
    provs = providers(con)
    summary = _sorted(
        records(
            con,
            """
            SELECT provider, model, count(*) AS pairs,
                   count(*) FILTER (WHERE attribution = 'cached') / count(*) AS cached,
                   count(*) FILTER (WHERE attribution = 'resend') / count(*) AS resend,
                   count(*) FILTER (WHERE attribution = 'neither') / count(*) AS neither,
                   quantile_cont(gain_ratio, 0.5) AS median_gain_ratio
            FROM attribution_pairs GROUP BY ALL
            """,
        ),
        provs,
        "model",
    )
    cols = ["provider", "model", "pairs", "cached", "resend", "neither", "median_gain_ratio"]
    table = Table(
        name="fig3_output_attribution",
        title=f"Fig. 3 — output attribution per model (prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens, tolerance {_TOL})",
        columns=cols,
        rows=[[r[c] for c in cols] for r in summary],
        kinds={
            "pairs": "int",
            "cached": "pct",
            "resend": "pct",
            "neither": "pct",
            "median_gain_ratio": "float2",
        },
    )
    sample = records(
        con,
        f"""
        SELECT provider, model, gain_ratio, append_ratio, attribution,
               (hash(round_pk) % 1000) / 1000.0 - 0.5 AS jitter
        FROM attribution_pairs
        QUALIFY row_number() OVER (PARTITION BY provider, model ORDER BY hash(round_pk), round_pk)
                <= {SAMPLE_PER_MODEL}
        ORDER BY provider, model, hash(round_pk), round_pk
        """,
    )
    points = Table(
        name="fig3_output_attribution_points",
        title="Fig. 3 data — sampled step pairs: g / O_{i−1}, append_i / O_{i−1}, class",
        columns=["provider", "model", "gain_ratio", "append_ratio", "attribution", "jitter"],
        rows=[
            [
                r[c]
                for c in (
                    "provider",
                    "model",
                    "gain_ratio",
                    "append_ratio",
                    "attribution",
                    "jitter",
                )
            ]
            for r in sample
        ],
        kinds={"gain_ratio": "float2", "append_ratio": "float2", "jitter": "float2"},
    )
    if not summary:
        text = (
            f"No pair of consecutive steps has a prior output of at least "
            f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens, so output attribution cannot be tested."
        )
    else:
        text = "Per model, over consecutive-step pairs with a prior output of at least " + (
            f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens: "
            + "; ".join(
                f"{r['model']} ({r['provider']}, {_count(r['pairs'], 'pair')}) is "
                f"mostly {_dominant(r)} — {pct(r['cached'])} cached, {pct(r['resend'])} "
                f"resend, {pct(r['neither'])} neither"
                for r in summary
            )
            + "."
        )
    return Result([table, points], text)


def _dominant(r: dict[str, Any]) -> str:
    best = max(g.ATTRIBUTION_CLASSES, key=lambda c: r[c])
    return {"cached": "output-cached", "resend": "output-resend", "neither": "neither"}[best]


def _model_key(r: dict[str, Any]) -> str:
    return f"{r['model']} ({r['provider']})"


@output_attribution.figures
def _(result: Result) -> list[Figure]:
    summary = result.table("fig3_output_attribution")
    points = result.table("fig3_output_attribution_points")
    models = [_model_key(r) for r in summary.records()]
    return [
        _attribution_scatter(points, models),
        _attribution_bars(summary, models),
    ]


def _attribution_scatter(points: Table, models: list[str]) -> Figure:
    lo, hi = GAIN_RATIO_RANGE
    fig, ax = new_figure(width=6.6, height=1.4 + 0.45 * max(2, len(models)))
    if not models:
        no_data(ax, f"no step pairs with prior output ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}")
    else:
        row = {m: i for i, m in enumerate(models)}
        recs = points.records()
        for cls in g.ATTRIBUTION_CLASSES:
            mine = [r for r in recs if r["attribution"] == cls]
            ax.scatter(
                [min(max(r["gain_ratio"], lo), hi) for r in mine],
                [row[_model_key(r)] + 0.7 * r["jitter"] for r in mine],
                s=6 if len(recs) > 500 else 14,
                alpha=0.35 if len(recs) > 500 else 0.8,
                color=ATTRIBUTION_COLORS[cls],
                label=cls,
                linewidths=0,
            )
        tol = g.ATTRIBUTION_TOLERANCE
        for x in (0.0, 1.0):
            ax.axvspan(x - tol, x + tol, color="#555", alpha=0.08, lw=0)
            ax.axvline(x, color="#555", lw=0.8, ls="--")
        ax.set_yticks(range(len(models)), models)
        ax.invert_yaxis()
        ax.set_xlim(lo - 0.05, hi + 0.05)
        ax.legend(loc="lower right", markerscale=3, fontsize=7)
    ax.set_xlabel("prefix gain / prior output  (g / O_{i−1}; 1 = output-cached, 0 = resend)")
    ax.set_title("Fig. 3 — output attribution per model")
    return Figure(
        name="fig3_output_attribution",
        title="Fig. 3 — prefix gain relative to the prior output, per model",
        figure=fig,
        data=points,
        caption=f"Each dot is a pair of consecutive steps with prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens (≤ {SAMPLE_PER_MODEL:,} per model); x = 1 means "
        f"the prior output became prefix (cached), x = 0 that it did not (resend when it "
        f"returns as append). Values clipped to [{lo:g}, {hi:g}].",
    )


def _attribution_bars(summary: Table, models: list[str]) -> Figure:
    import plotly.graph_objects as go

    fig, ax = new_figure(width=6.6, height=1.4 + 0.45 * max(2, len(models)))
    recs = summary.records()
    plotly_fig = go.Figure()
    if not recs:
        no_data(ax)
    else:
        left = [0.0] * len(recs)
        labels = [
            f"{m}, n = {format_value(r['pairs'], 'int')}" for m, r in zip(models, recs, strict=True)
        ]
        for cls in g.ATTRIBUTION_CLASSES:
            widths = [r[cls] for r in recs]
            ax.barh(labels, widths, left=left, color=ATTRIBUTION_COLORS[cls], label=cls)
            left = [a + b for a, b in zip(left, widths, strict=True)]
            plotly_fig.add_trace(
                go.Bar(
                    y=models,
                    x=widths,
                    name=cls,
                    orientation="h",
                    marker={"color": ATTRIBUTION_COLORS[cls]},
                    customdata=[r["pairs"] for r in recs],
                    hovertemplate=f"{cls}: %{{x:.1%}} of %{{customdata}} pairs",
                )
            )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7)
    ax.set_xlabel("share of step pairs")
    ax.set_title("Fig. 3 — output-cached vs output-resend per model")
    _plotly_layout(
        plotly_fig,
        "Fig. 3 — output attribution per model",
        barmode="stack",
        xaxis={"title": "share of step pairs", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
    )
    return Figure(
        name="fig3_output_attribution_shares",
        title="Fig. 3 — share of output-cached / output-resend / neither pairs per model",
        figure=fig,
        data=summary,
        caption=f"Classification of consecutive-step pairs (tolerance {_TOL} of the prior output).",
        interactive=plotly_fig,
    )
