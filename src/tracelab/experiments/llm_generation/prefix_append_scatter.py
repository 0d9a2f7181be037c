"""`llm_generation/prefix_append_scatter` (Fig. 1): steps per log₂ bin of prefix and append
tokens, drawn as a density.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import pct
from tracelab.experiments.llm_generation._shared import _plotly_layout, _pow2_label, _sorted, _tok
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import generation as g


@experiment(
    "llm_generation/prefix_append_scatter",
    title="Prefix vs append tokens (log–log density)",
    question="How do a step's cached prefix and its appended input relate?",
    definitions=f"""
- Each step is placed in a 2D log bin: `floor(log2(prefix + 1))` × `floor(log2(append + 1))`
  (bin b holds `2^b − 1 ≤ tokens < 2^(b+1) − 1`; b = 0 is 0 tokens). Counts per bin are
  computed in SQL and drawn as a heatmap with a log colour scale.
- *Short prefix* = prefix < {g.SHORT_PREFIX // g.KIB}k (k = 1,024): mostly cache misses and
  initial prefills.
""",
    study_item="Fig. 1",
)
def prefix_append_scatter(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    cells = _sorted(
        records(
            con,
            f"""
            SELECT provider, {g.log2_bin_sql("prefix")} AS prefix_bin,
                   {g.log2_bin_sql("append")} AS append_bin, count(*) AS steps,
                   count(*) / sum(count(*)) OVER (PARTITION BY provider) AS share
            FROM step_facts GROUP BY 1, 2, 3
            """,
        ),
        provs,
        "prefix_bin",
        "append_bin",
    )
    table = Table(
        name="fig1_prefix_append_bins",
        title="Fig. 1 data — steps per (prefix, append) log2 bin",
        columns=[
            "provider",
            "prefix_bin",
            "append_bin",
            "prefix_lo",
            "prefix_hi",
            "append_lo",
            "append_hi",
            "steps",
            "share",
        ],
        rows=[
            [
                c["provider"],
                c["prefix_bin"],
                c["append_bin"],
                2 ** c["prefix_bin"] - 1,
                2 ** (c["prefix_bin"] + 1) - 1,
                2 ** c["append_bin"] - 1,
                2 ** (c["append_bin"] + 1) - 1,
                c["steps"],
                c["share"],
            ]
            for c in cells
        ],
        kinds={
            "prefix_lo": "tokens",
            "prefix_hi": "tokens",
            "append_lo": "tokens",
            "append_hi": "tokens",
            "steps": "int",
            "share": "pct",
            "prefix_bin": "int",
            "append_bin": "int",
        },
    )
    if not provs:
        return Result([table], "The trace has no steps, so there is no density to draw.")
    groups = {
        r["provider"]: r
        for r in records(
            con,
            f"""
            SELECT provider,
                   count(*) FILTER (WHERE prefix < {g.SHORT_PREFIX}) / count(*) AS short_share,
                   quantile_cont(append, 0.5) FILTER (WHERE prefix < {g.SHORT_PREFIX}) AS short_p50,
                   quantile_cont(append, 0.5) FILTER (WHERE prefix >= {g.SHORT_PREFIX}) AS long_p50
            FROM step_facts GROUP BY provider
            """,
        )
    }
    parts = []
    for p in provs:
        top = max((c for c in cells if c["provider"] == p), key=lambda c: c["steps"])
        gr = groups[p]
        parts.append(
            f"For {p} the densest cell is prefix {_tok(2 ** top['prefix_bin'] - 1)}–"
            f"{_tok(2 ** (top['prefix_bin'] + 1) - 1)} × append {_tok(2 ** top['append_bin'] - 1)}"
            f"–{_tok(2 ** (top['append_bin'] + 1) - 1)} ({pct(top['share'])} of steps); "
            f"the {pct(gr['short_share'])} of steps with a prefix under "
            f"{g.SHORT_PREFIX // g.KIB}k append a median "
            f"{_tok(gr['short_p50'])} tokens, the others {_tok(gr['long_p50'])}."
        )
    return Result([table], " ".join(parts))


@prefix_append_scatter.figures
def _(result: Result) -> list[Figure]:
    import numpy as np
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FixedLocator

    table = result.table("fig1_prefix_append_bins")
    recs = table.records()
    provs = list(dict.fromkeys(table.column("provider")))
    fig, axes = new_figure(
        ncols=max(1, len(provs)), width=4.2 * max(1, len(provs)), height=3.8, squeeze=False
    )
    if not recs:
        no_data(axes[0][0])
        axes[0][0].set_title("Fig. 1 — prefix vs append")
    else:
        px = range(min(table.column("prefix_bin")), max(table.column("prefix_bin")) + 2)
        ay = range(min(table.column("append_bin")), max(table.column("append_bin")) + 2)
        vmax = max(table.column("steps"))
        mesh = None
        for ax, p in zip(axes[0], provs, strict=True):
            counts = np.zeros((len(ay) - 1, len(px) - 1))
            for r in recs:
                if r["provider"] == p:
                    counts[r["append_bin"] - ay[0], r["prefix_bin"] - px[0]] = r["steps"]
            mesh = ax.pcolormesh(
                [2.0**b for b in px],
                [2.0**b for b in ay],
                np.ma.masked_equal(counts, 0),
                norm=LogNorm(vmin=1, vmax=max(vmax, 2)),
                cmap="viridis",
            )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
            for axis, bins in ((ax.xaxis, px), (ax.yaxis, ay)):
                step = max(1, (len(bins) - 1) // 6)
                axis.set_major_locator(FixedLocator([2.0**b for b in bins[::step]]))
                axis.set_major_formatter(_pow2_label)
                axis.set_minor_locator(FixedLocator([]))
            ax.set_xlabel("prefix tokens + 1 (log₂ bins, k = 1,024)")
            ax.set_title(f"Fig. 1 — {p}")
            ax.grid(False)
        axes[0][0].set_ylabel("append tokens + 1 (log₂ bins)")
        fig.colorbar(mesh, ax=list(axes[0]), label="steps per bin (log scale)")
    return [
        Figure(
            name="fig1_prefix_append_density",
            title="Fig. 1 — prefix vs append tokens per step (log–log density)",
            figure=fig,
            data=table,
            caption="Steps per log₂ bin of prefix and append tokens, colour on a log scale.",
            interactive=_plotly_density(recs, provs),
        )
    ]


def _plotly_density(recs: list[dict[str, Any]], provs: list[str]) -> Any:
    import math

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=max(1, len(provs)), subplot_titles=provs or ["no data"])
    if not recs:
        return _plotly_layout(fig, "Fig. 1 — prefix vs append (log–log density)")
    xs = list(range(min(r["prefix_bin"] for r in recs), max(r["prefix_bin"] for r in recs) + 1))
    ys = list(range(min(r["append_bin"] for r in recs), max(r["append_bin"] for r in recs) + 1))
    for i, p in enumerate(provs):
        steps = {(r["prefix_bin"], r["append_bin"]): r["steps"] for r in recs if r["provider"] == p}
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=[[math.log10(steps[x, y]) if (x, y) in steps else None for x in xs] for y in ys],
                text=[[f"{steps.get((x, y), 0):,} steps" for x in xs] for y in ys],
                hovertemplate="prefix + 1 ≥ 2^%{x}<br>append + 1 ≥ 2^%{y}<br>%{text}",
                coloraxis="coloraxis",
            ),
            row=1,
            col=i + 1,
        )
        fig.update_xaxes(
            title_text="prefix + 1 (log₂ bins)",
            tickvals=xs,
            ticktext=[_pow2_label(2**b) for b in xs],
            row=1,
            col=i + 1,
        )
    fig.update_yaxes(tickvals=ys, ticktext=[_pow2_label(2**b) for b in ys])
    fig.update_yaxes(title_text="append + 1 (log₂ bins)", row=1, col=1)
    return _plotly_layout(
        fig,
        "Fig. 1 — prefix vs append (log–log density)",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "log10 steps"}},
    )
