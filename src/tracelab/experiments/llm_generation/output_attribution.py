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
from tracelab.figures.style import SERIES_COLORS, new_figure
from tracelab.metrics import generation as g

ATTRIBUTION_COLORS = {"cached": "#3b6fb6", "resend": "#e0a030", "neither": "#b0b0b0"}
#: Fig. 3 scatter: at most this many pairs per group, rank-stratified by the prior output.
SAMPLE_PER_MODEL = 6_000

_TOL = f"{g.ATTRIBUTION_TOLERANCE * 100:g}%"


@experiment(
    "llm_generation/output_attribution",
    title="Output attribution: output-cached vs output-resend",
    question="Is a step's output cached into the next step's prefix, or re-sent as append?",
    definitions=f"""
- **Pairs** (amendments §14.5): consecutive steps (P, S) of a (provider, session), steps ordered
  by (round_index, first event time, file order) and steps without a timestamp dropped (no
  round-index step is required). Kept when the gap from P's latest model output (else its
  first event) to S's first event is 0–{g.ATTRIBUTION_MAX_GAP_MS // 1000} s, P's input
  (`input_tokens_total`) > 0 and P's output **O ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}** tokens.
  Grouped by P: *{g.CLAUDE_GROUP}* (every Claude model), else P's model.
- **Prefix gain** `gain = S.prefix − P.input`; tolerance `tol = max({g.ATTRIBUTION_MIN_TOL},
  {_TOL} × O)`.
- **Output-cached** (prefix-close): `|gain − O| ≤ tol` (the prior output is now prefix).
- **Output-resend** (append-side): `gain < O − tol` (the prefix stops short of the output) and
  `S.append ≥ O − tol` (the output comes back as append).
- **Neither**: any other pair (cache miss, compaction, partial caching …).
- **Decision** per group: fewer than {g.ATTRIBUTION_MIN_PAIRS} pairs → not_sure; cached ≥ 70%
  and resend ≤ 20% → cached; resend ≥ 70% and cached ≤ 20% → resend; both ≥ 30% → mixed; else
  not_sure.
- Scatter: O against max(0, gain) and against S.append (y = x: the whole output), at most
  {SAMPLE_PER_MODEL:,} pairs per group, evenly spaced in the ranking by O.
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
    for r in summary:
        r["decision"] = g.attribution_decision(r["pairs"], r["cached"], r["resend"])
    cols = [
        "provider", "model", "pairs", "cached", "resend", "neither", "median_gain_ratio",
        "decision",
    ]  # fmt: skip
    table = Table(
        name="fig3_output_attribution",
        title=f"Fig. 3 — output attribution per model (prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens, tolerance max({g.ATTRIBUTION_MIN_TOL}, {_TOL}))",
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
    point_cols = ["provider", "model", "prior_output", "gain", "append", "attribution"]
    sample = records(
        con,
        f"""
        SELECT provider, model, prev_output AS prior_output, greatest(gain, 0) AS gain, append,
               attribution
        FROM (
            SELECT *, row_number() OVER w - 1 AS r, count(*) OVER (PARTITION BY model) AS n
            FROM attribution_pairs
            WINDOW w AS (PARTITION BY model ORDER BY prev_output, round_pk)
        )
        WHERE n <= {SAMPLE_PER_MODEL}
           OR r = 0 OR floor(r * {SAMPLE_PER_MODEL} / n) <> floor((r - 1) * {SAMPLE_PER_MODEL} / n)
        ORDER BY provider, model, prior_output, round_pk
        """,
    )
    points = Table(
        name="fig3_output_attribution_points",
        title="Fig. 3 data — sampled step pairs: prior output O, max(0, gain), S.append, class",
        columns=point_cols,
        rows=[[r[c] for c in point_cols] for r in sample],
        kinds={"prior_output": "tokens", "gain": "tokens", "append": "tokens"},
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
                f"resend, {pct(r['neither'])} neither (decision: {r['decision']})"
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
    """O against max(0, gain) and against S.append, one colour per group, y = x drawn."""
    fig, axes = new_figure(ncols=2, width=9.0, height=4.0)
    recs = points.records()
    groups = list(dict.fromkeys(r["model"] for r in recs))
    panels = (("gain", "max(0, S.prefix − P.input)"), ("append", "S.append"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        if not recs:
            no_data(ax, f"no step pairs with prior output ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}")
            continue
        for i, group in enumerate(groups):
            mine = [r for r in recs if r["model"] == group]
            ax.scatter(
                [r["prior_output"] for r in mine],
                [max(r[column], 1) for r in mine],
                s=6 if len(recs) > 500 else 14,
                alpha=0.35 if len(recs) > 500 else 0.8,
                color=SERIES_COLORS[i % len(SERIES_COLORS)],
                label=group,
                linewidths=0,
            )
        top = max(max(r["prior_output"], r[column]) for r in recs)
        lo = g.ATTRIBUTION_MIN_OUTPUT
        ax.plot([lo, top], [lo, top], color="#555", lw=0.8, ls="--", label="y = x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("prior output O (tokens)")
        ax.set_ylabel(label)
        ax.legend(loc="lower right", markerscale=3, fontsize=7)
    axes[0].set_title("(a) prefix gain: on y = x → output-cached")
    axes[1].set_title("(b) next append: on/above y = x → output-resend")
    return Figure(
        name="fig3_output_attribution",
        title="Fig. 3 — prefix gain and next append against the prior output",
        figure=fig,
        data=points,
        caption=f"Each dot is a pair of consecutive steps with prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens (≤ {SAMPLE_PER_MODEL:,} per group, evenly spaced "
        f"by prior output); the dashed line is y = x.",
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
