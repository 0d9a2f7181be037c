"""`llm_generation/append_share` (Fig. 2): share of steps vs share of append tokens per bucket
of append length.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import pct
from tracelab.experiments.llm_generation._shared import _plotly_layout, _sorted
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import generation as g

APPEND_LABELS = g.bucket_labels(g.APPEND_SHARE_EDGES, g.APPEND_SHARE_UNIT)


@experiment(
    "llm_generation/append_share",
    title="Share of steps vs share of append tokens by append length",
    question="Do the rare long appends carry most of the prefill work?",
    definitions=f"""
- Steps are bucketed by **append** tokens (`newly_append_tokens`): {", ".join(APPEND_LABELS)}
  (here **k = 1,000**, so the study's "< 1k" and "≥ 10k" are bucket edges; a bucket includes
  its lower edge).
- Per provider and bucket: **share of steps** = steps in the bucket / all steps; **share of
  append tokens** = Σ append in the bucket / Σ append of all steps.
""",
    study_item="Fig. 2",
)
def append_share(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    stats = records(
        con,
        f"""
        SELECT provider, {g.bucket_sql("append", g.APPEND_SHARE_EDGES)} AS bucket,
               count(*) AS steps, sum(append) AS tokens,
               count(*) / sum(count(*)) OVER (PARTITION BY provider) AS step_share,
               sum(append) / nullif(sum(sum(append)) OVER (PARTITION BY provider), 0)
                   AS token_share
        FROM step_facts GROUP BY 1, 2
        """,
    )
    by_key = {(r["provider"], r["bucket"]): r for r in stats}
    body = []
    for p in provs:
        for b, label in enumerate(APPEND_LABELS):
            r = by_key.get((p, b), {"steps": 0, "tokens": 0, "step_share": 0.0})
            body.append([p, label, r["steps"], r["tokens"], r["step_share"], r.get("token_share")])
    table = Table(
        name="fig2_append_share",
        title="Fig. 2 data — share of steps and of append tokens by append bucket (k = 1,000)",
        columns=[
            "provider",
            "append",
            "steps",
            "append_tokens",
            "share_steps",
            "share_append_tokens",
        ],
        rows=body,
        kinds={
            "steps": "int",
            "append_tokens": "tokens",
            "share_steps": "pct",
            "share_append_tokens": "pct",
        },
    )
    if not provs:
        return Result([table], "The trace has no steps, so there are no append shares.")
    heads = records(
        con,
        f"""
        SELECT provider,
               count(*) FILTER (WHERE append < {g.SMALL_APPEND}) / count(*) AS small_steps,
               sum(append) FILTER (WHERE append >= {g.LARGE_APPEND}) / nullif(sum(append), 0)
                   AS large_tokens,
               count(*) FILTER (WHERE append >= {g.LARGE_APPEND}) / count(*) AS large_steps
        FROM step_facts GROUP BY provider
        """,
    )
    small, large = _short_label(g.SMALL_APPEND), _short_label(g.LARGE_APPEND)
    parts = [
        f"{r['provider']}: {pct(r['small_steps'])} of steps append fewer than {small} tokens, "
        f"yet the {pct(r['large_steps'])} of steps appending {large} or more carry "
        f"{pct(r['large_tokens'] or 0.0)} of all append tokens"
        for r in _sorted(heads, provs)
    ]
    return Result([table], "; ".join(parts) + ".")


def _short_label(n: int) -> str:
    return f"{n // g.APPEND_SHARE_UNIT}k" if n >= g.APPEND_SHARE_UNIT else str(n)


def _bucket_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["YlGnBu"]
    return [cmap(0.2 + 0.75 * i / max(1, n - 1)) for i in range(n)]


@append_share.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig2_append_share")
    provs = list(dict.fromkeys(table.column("provider")))
    fig, ax = new_figure(width=6.8, height=1.2 + 1.0 * max(1, len(provs)))
    colors = _bucket_colors(len(APPEND_LABELS))
    labels, ypos = [], []
    for i, p in enumerate(provs):
        recs = [r for r in table.records() if r["provider"] == p]
        for j, (col, what) in enumerate(
            (("share_steps", "steps"), ("share_append_tokens", "append tokens"))
        ):
            y = i * 2.6 + j
            left = 0.0
            for k, r in enumerate(recs):
                w = r[col] or 0.0
                ax.barh(
                    y,
                    w,
                    left=left,
                    color=colors[k],
                    edgecolor="white",
                    height=0.8,
                    label=APPEND_LABELS[k] if i == 0 and j == 0 else None,
                )
                if w >= 0.06:
                    ax.text(
                        left + w / 2,
                        y,
                        f"{w * 100:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if k < 3 else "white",
                    )
                left += w
            labels.append(f"{p}: {what}")
            ypos.append(y)
    if provs:
        ax.set_yticks(ypos, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.legend(
            title="append tokens per step (k = 1,000)",
            ncols=len(APPEND_LABELS),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.25),
            fontsize=7,
        )
        ax.grid(False)
    else:
        no_data(ax)
    ax.set_xlabel("share")
    ax.set_title("Fig. 2 — share of steps vs share of append tokens")
    return [
        Figure(
            name="fig2_append_share",
            title="Fig. 2 — share of steps vs share of append tokens by append length",
            figure=fig,
            data=table,
            caption="Per provider, the upper bar splits steps and the lower bar append tokens "
            "by the step's append length.",
            interactive=_plotly_append_share(table, provs),
        )
    ]


def _plotly_append_share(table: Table, provs: list[str]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    ys = [f"{p}: {w}" for p in provs for w in ("steps", "append tokens")]
    recs = table.records()
    for label in APPEND_LABELS:
        xs = []
        for p in provs:
            r = next(r for r in recs if r["provider"] == p and r["append"] == label)
            xs += [r["share_steps"] or 0.0, r["share_append_tokens"] or 0.0]
        fig.add_trace(
            go.Bar(y=ys, x=xs, name=label, orientation="h", hovertemplate=f"{label}: %{{x:.1%}}")
        )
    return _plotly_layout(
        fig,
        "Fig. 2 — share of steps vs share of append tokens",
        barmode="stack",
        xaxis={"title": "share", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
        legend={"title": {"text": "append (k = 1,000)"}},
    )
