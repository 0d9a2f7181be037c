"""`llm_generation/decode_speed` (Fig. 6): normalized and pure decode speed and residual TTFT
vs context length.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import format_value, pct
from tracelab.experiments.llm_generation._shared import _plotly_layout, _pow2_label, _sorted, _tok
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import generation as g

SPEED_METRICS = (
    ("norm_speed", "normalized decode speed (tokens/s)"),
    ("fig6_pure_speed", "pure decode speed (tokens/s)"),
    ("fig6_residual_ttft_ms", "residual TTFT (s)"),
)


@experiment(
    "llm_generation/decode_speed",
    title="Decode speed and residual TTFT vs context length",
    question="How fast do steps generate, and does it slow down with longer context?",
    definitions=f"""
- **Generation time** `gen_ms`: the latest `user_message`/`tool_result` event before the first
  model-output event → the last model-output event (`reasoning`, `text`, `tool_call`).
- **Context** C = `input_tokens_total` (else prefix + append). **Base steps**: output > 0,
  C > 0, `gen_ms` > 0.
- **Normalized decode speed** = `output_tokens / gen_ms × 1000` (tokens/s) of a base step. It
  includes TTFT, reasoning, emission and logging effects. **CV** = sample standard deviation /
  mean of it over a provider's steps.
- **Codex split** (amendments §14.4; base Codex steps with R reasoning tokens > 0): V = output −
  R visible tokens; `t_post` = the latest reasoning event → the latest text/tool_call event
  (at or after it); `t_in→r` = the generation start → the latest reasoning event.
- **Fig. 6** (eligible: V > 0, `t_post` ≥ {format_value(g.FIG6_MIN_POST_MS, "ms")}, `t_in→r` >
  0): pure decode speed = V / t_post; L = Σ t_post / Σ V over the eligible steps (time per
  visible token); residual TTFT = t_in→r − R·L (can be negative).
- **Per-provider summary** (the study's text values): the same formulas **without** the 0.1 s
  floor — pure speed and L over the steps with V > 0 and t_post > 0; residual TTFT over every
  Codex step with R > 0 and t_in→r > 0.
- **Bins**: `floor(log2 C)`, drawn at their midpoint 2^(b+0.5); each bin reports p25, median
  and p75 of each metric; the figure draws bins with at least {g.MIN_BIN_STEPS} rows.
""",
    study_item="Fig. 6",
)
def decode_speed(con: duckdb.DuckDBPyConnection) -> Result:
    g.prepare_generation(con)
    provs = providers(con)
    summary = _sorted(
        records(
            con,
            f"""
            SELECT provider, count(norm_speed) AS steps,
                   quantile_cont(norm_speed, 0.5) AS median_speed,
                   {g.SPEED_CV_SQL} AS cv_speed,
                   count(pure_speed) AS pure_steps,
                   quantile_cont(pure_speed, 0.5) AS median_pure_speed,
                   quantile_cont(residual_ttft_ms, 0.5) AS median_residual_ttft_ms,
                   any_value(ms_per_token) AS ms_per_token,
                   count(*) FILTER (WHERE eligible) AS fig6_steps,
                   any_value(fig6_ms_per_token) AS fig6_ms_per_token
            FROM decode_steps GROUP BY provider
            """,
        ),
        provs,
    )
    cols = [
        "provider",
        "steps",
        "median_speed",
        "cv_speed",
        "pure_steps",
        "median_pure_speed",
        "median_residual_ttft_ms",
        "ms_per_token",
        "fig6_steps",
        "fig6_ms_per_token",
    ]
    table = Table(
        name="decode_speed_summary",
        title="Decode speed per provider (tokens/s) and residual TTFT",
        columns=cols,
        rows=[[r[c] for c in cols] for r in summary],
        kinds={
            "steps": "int",
            "median_speed": "float1",
            "cv_speed": "pct",
            "pure_steps": "int",
            "median_pure_speed": "float1",
            "median_residual_ttft_ms": "ms",
            "ms_per_token": "float2",
            "fig6_steps": "int",
            "fig6_ms_per_token": "float2",
        },
    )
    binned = _binned_table(con, provs)
    text = _decode_text(summary, binned)
    return Result([table, binned], text)


def _binned_table(con: duckdb.DuckDBPyConnection, provs: list[str]) -> Table:
    parts = []
    for m, _ in SPEED_METRICS:
        parts.append(
            f"count({m}) AS {m}_steps, quantile_cont({m}, 0.25) AS {m}_p25, "
            f"quantile_cont({m}, 0.5) AS {m}_p50, quantile_cont({m}, 0.75) AS {m}_p75"
        )
    recs = _sorted(
        records(
            con,
            f"""
            SELECT provider, CAST(floor(log2(context)) AS INTEGER) AS bin, {", ".join(parts)}
            FROM decode_steps WHERE norm_speed IS NOT NULL
            GROUP BY ALL
            """,
        ),
        provs,
        "bin",
    )
    metric_cols = [f"{m}_{s}" for m, _ in SPEED_METRICS for s in ("steps", "p25", "p50", "p75")]
    kinds = {"context_lo": "tokens", "context_hi": "tokens", "context_mid": "tokens"}
    for m, _ in SPEED_METRICS:
        kinds[f"{m}_steps"] = "int"
        for s in ("p25", "p50", "p75"):
            kinds[f"{m}_{s}"] = "ms" if m.endswith("_ms") else "float1"
    return Table(
        name="fig6_decode_by_context",
        title="Fig. 6 data — decode metrics by context bin (floor of log₂ C)",
        columns=["provider", "context_lo", "context_hi", "context_mid", *metric_cols],
        rows=[
            [
                r["provider"],
                2 ** r["bin"],
                2 ** (r["bin"] + 1),
                2 ** (r["bin"] + 0.5),
                *(r[c] for c in metric_cols),
            ]
            for r in recs
        ],
        kinds=kinds,
    )


def _curve(binned: Table, provider: str, metric: str) -> list[dict[str, Any]]:
    """The bins of one provider's metric curve that have enough steps."""
    return [
        r
        for r in binned.records()
        if r["provider"] == provider and r[f"{metric}_steps"] >= g.MIN_BIN_STEPS
    ]


def _decode_text(summary: list[dict[str, Any]], binned: Table) -> str:
    with_speed = [r for r in summary if r["steps"]]
    if not with_speed:
        return (
            "No step has both a positive generation time and output tokens, so no decode "
            "speed can be measured."
        )
    parts = [
        f"{format_value(r['median_speed'], 'float1')} tokens/s for {r['provider']} (CV "
        f"{pct(r['cv_speed'])}, {format_value(r['steps'], 'int')} steps)"
        for r in with_speed
    ]
    text = "Median normalized decode speed: " + " and ".join(parts) + "."
    for r in with_speed:
        curve = _curve(binned, r["provider"], "norm_speed")
        if len(curve) >= 2:
            first, last = curve[0], curve[-1]
            text += (
                f" {r['provider']}'s binned median goes from "
                f"{format_value(first['norm_speed_p50'], 'float1')} tokens/s at "
                f"{_tok(first['context_lo'])}–{_tok(first['context_hi'])} context to "
                f"{format_value(last['norm_speed_p50'], 'float1')} at "
                f"{_tok(last['context_lo'])}–{_tok(last['context_hi'])}."
            )
    pure = [r for r in summary if r["pure_steps"]]
    if pure:
        text += (
            " "
            + "; ".join(
                f"{r['provider']}'s median pure decode speed is "
                f"{format_value(r['median_pure_speed'], 'float1')} tokens/s with a residual "
                f"TTFT of "
                f"{format_value(r['median_residual_ttft_ms'], 'ms')} per step "
                f"({format_value(r['pure_steps'], 'int')} steps with reasoning counts)"
                for r in pure
            )
            + "."
        )
    else:
        text += " No step reports reasoning tokens, so pure decode speed is not measured."
    return text


@decode_speed.figures
def _(result: Result) -> list[Figure]:
    binned = result.table("fig6_decode_by_context")
    provs = list(dict.fromkeys(binned.column("provider")))
    fig, axes = new_figure(ncols=3, width=11.0, height=3.6)
    for ax, (metric, label) in zip(axes, SPEED_METRICS, strict=True):
        scale = 1 / 1000 if metric.endswith("_ms") else 1.0
        drawn = False
        for i, p in enumerate(provs):
            curve = _curve(binned, p, metric)
            if not curve:
                continue
            xs = [r["context_mid"] for r in curve]
            color = provider_color(p, i)
            ax.plot(
                xs,
                [r[f"{metric}_p50"] * scale for r in curve],
                marker="o",
                ms=3,
                color=color,
                label=f"{p} median",
            )
            ax.fill_between(
                xs,
                [r[f"{metric}_p25"] * scale for r in curve],
                [r[f"{metric}_p75"] * scale for r in curve],
                color=color,
                alpha=0.15,
                lw=0,
                label=f"{p} p25–p75",
            )
            drawn = True
        if drawn:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(_pow2_label)
            ax.legend(fontsize=7)
        else:
            no_data(ax)
        ax.set_xlabel("total input context C (tokens, log₂ bins)")
        ax.set_ylabel(label)
    axes[0].set_title("(a) normalized decode speed")
    axes[1].set_title("(b) pure decode speed (eligible Codex steps)")
    axes[2].set_title("(c) residual TTFT (eligible Codex steps)")
    fig.suptitle("Fig. 6 — decode speed vs context length (binned medians)")
    return [
        Figure(
            name="fig6_decode_speed",
            title="Fig. 6 — decode speed and residual TTFT vs context length",
            figure=fig,
            data=binned,
            caption=f"Binned medians (lines) and interquartile ranges (bands) per log₂ bin of "
            f"context, drawn at the bin midpoints; bins with fewer than {g.MIN_BIN_STEPS} rows "
            f"are not drawn.",
            interactive=_plotly_decode(binned, provs),
        )
    ]


def _plotly_decode(binned: Table, provs: list[str]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=[label for _, label in SPEED_METRICS])
    for col, (metric, label) in enumerate(SPEED_METRICS, start=1):
        scale = 1 / 1000 if metric.endswith("_ms") else 1.0
        for i, p in enumerate(provs):
            curve = _curve(binned, p, metric)
            if curve:
                fig.add_trace(
                    go.Scatter(
                        x=[r["context_mid"] for r in curve],
                        y=[r[f"{metric}_p50"] * scale for r in curve],
                        customdata=[r[f"{metric}_steps"] for r in curve],
                        hovertemplate="C ≈ %{x:.3s}<br>median %{y:.1f}<br>%{customdata} steps",
                        mode="lines+markers",
                        name=p,
                        legendgroup=p,
                        showlegend=col == 1,
                        line={"color": provider_color(p, i)},
                    ),
                    row=1,
                    col=col,
                )
        fig.update_xaxes(type="log", title_text="context C (tokens)", row=1, col=col)
        fig.update_yaxes(title_text=label, row=1, col=col)
    return _plotly_layout(fig, "Fig. 6 — decode speed vs context length", height=420)
