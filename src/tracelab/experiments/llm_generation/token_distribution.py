"""`llm_generation/token_distribution` (Table 8, Fig. 4): prefix, append and output tokens per
step, and the log-binned histogram of output tokens.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import dist_columns, dist_sql, providers, records
from tracelab.experiments.fmt import pct
from tracelab.experiments.llm_generation._shared import _plotly_layout, _sorted, _tok
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import generation as g

TOKEN_KINDS = (
    ("prefix", "Prefix tokens"),
    ("append", "Append tokens"),
    ("output", "Output tokens"),
)


@experiment(
    "llm_generation/token_distribution",
    title="Prefix, append and output tokens per step",
    question="How long are a step's cached prefix, its appended input and its output, per "
    "provider?",
    definitions=f"""
- **Prefix** = `prefix_tokens` (input served from the prompt cache); **append** =
  `newly_append_tokens` (input not served from cache); **output** = `output_tokens` (including
  reasoning). Missing counts count as 0. Every step counts once.
- **Output histogram (Fig. 4)**: log bins of output tokens, {g.OUTPUT_BINS_PER_DECADE} per
  factor of ten (bin k holds `10^(k/{g.OUTPUT_BINS_PER_DECADE}) ≤ output <
  10^((k+1)/{g.OUTPUT_BINS_PER_DECADE})`), computed in SQL; the height of a bin is its share of
  ALL the provider's steps (steps with 0 output tokens are reported separately, not drawn).
""",
    study_item="Table 8, Fig. 4",
)
def token_distribution(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    dist = records(
        con,
        " UNION ALL ".join(
            f"SELECT provider, '{k}' AS kind, count(*) AS steps, {dist_sql(k)} "
            f"FROM step_facts GROUP BY provider"
            for k, _ in TOKEN_KINDS
        ),
    )
    by_key = {(r["kind"], r["provider"]): r for r in dist}
    body = [
        [label, p, *(by_key[(k, p)][c] for c in dist_columns())]
        for k, label in TOKEN_KINDS
        for p in provs
        if (k, p) in by_key
    ]
    table8 = Table(
        name="table8_token_distribution",
        title="Table 8 — prefix, append and output tokens per step",
        columns=["tokens", "provider", *dist_columns()],
        rows=body,
        kinds={c: "int" for c in dist_columns()},
        latex=True,
    )
    hist = _output_histogram(con, provs)
    hist_table = Table(
        name="fig4_output_histogram",
        title="Fig. 4 data — output tokens per step, share of steps per log bin",
        columns=["provider", "bin", "bin_lo", "bin_hi", "steps", "share"],
        rows=[[r["provider"], r["b"], r["lo"], r["hi"], r["steps"], r["share"]] for r in hist],
        kinds={"bin": "int", "bin_lo": "float", "bin_hi": "float", "steps": "int", "share": "pct"},
    )
    zero = {
        r["provider"]: r
        for r in records(
            con,
            "SELECT provider, count(*) AS steps, count(*) FILTER (WHERE output = 0) AS zero "
            "FROM step_facts GROUP BY provider",
        )
    }
    modes = _modes(hist)
    text = _token_text(provs, by_key, modes, zero)
    return Result([table8, hist_table], text, data={"modes": modes, "zero": zero})


def _output_histogram(con: duckdb.DuckDBPyConnection, provs: list[str]) -> list[dict[str, Any]]:
    n = g.OUTPUT_BINS_PER_DECADE
    hist = records(
        con,
        f"""
        WITH totals AS (SELECT provider, count(*) AS total FROM step_facts GROUP BY provider),
        bins AS (
            SELECT provider, {g.log10_bin_sql("output")} AS b, count(*) AS steps
            FROM step_facts WHERE output >= 1 GROUP BY ALL
        )
        SELECT provider, b, pow(10, b / {n}) AS lo, pow(10, (b + 1) / {n}) AS hi, steps,
               steps / total AS share
        FROM bins JOIN totals USING (provider)
        """,
    )
    return _sorted(hist, provs, "b")


def _modes(hist: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per provider, the most common output bin (the Codex spike of very short outputs)."""
    modes: dict[str, dict[str, Any]] = {}
    for r in hist:
        best = modes.get(r["provider"])
        if best is None or r["steps"] > best["steps"]:
            modes[r["provider"]] = r
    return modes


def _token_text(
    provs: list[str],
    by_key: dict[tuple[str, str], dict[str, Any]],
    modes: dict[str, dict[str, Any]],
    zero: dict[str, dict[str, Any]],
) -> str:
    if not provs:
        return "The trace has no steps, so there are no token distributions."
    parts = []
    for p in provs:
        pre, app, out = (by_key[(k, p)] for k, _ in TOKEN_KINDS)
        parts.append(
            f"A median {p} step reads {_tok(pre['p50'])} prefix tokens, appends "
            f"{_tok(app['p50'])} and writes {_tok(out['p50'])} output tokens (p99 output "
            f"{_tok(out['p99'])})."
        )
    spikes = [
        f"{p} {m['lo']:.0f}–{m['hi']:.0f} tokens ({pct(m['share'])} of its steps)"
        for p, m in modes.items()
    ]
    if spikes:
        parts.append("The most common output bin is " + "; ".join(spikes) + ".")
    zeros = [f"{p} {pct(z['zero'] / z['steps'])}" for p, z in zero.items() if z["zero"]]
    if zeros:
        parts.append("Steps with no output tokens (not drawn): " + ", ".join(zeros) + ".")
    return " ".join(parts)


@token_distribution.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig4_output_histogram")
    provs = list(dict.fromkeys(table.column("provider")))
    fig, ax = new_figure(width=6.4, height=3.6)
    for i, p in enumerate(provs):
        shares = {r["bin"]: r["share"] for r in table.records() if r["provider"] == p}
        bins = range(min(shares), max(shares) + 1)
        ax.stairs(
            [shares.get(b, 0.0) for b in bins],
            [10 ** (b / g.OUTPUT_BINS_PER_DECADE) for b in [*bins, bins[-1] + 1]],
            color=provider_color(p, i),
            label=p,
            lw=1.4,
        )
        mode = result.data["modes"].get(p)
        if mode:
            ax.annotate(
                f"{p} mode {mode['lo']:.0f}–{mode['hi']:.0f}",
                xy=((mode["lo"] * mode["hi"]) ** 0.5, mode["share"]),
                xytext=(8, 4 + 12 * i),
                textcoords="offset points",
                fontsize=7,
                color=provider_color(p, i),
            )
    if provs:
        ax.set_xscale("log")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.legend()
    else:
        no_data(ax)
    ax.set_xlabel("output tokens per step (log bins)")
    ax.set_ylabel("share of steps")
    ax.set_title("Fig. 4 — output tokens per step")
    return [
        Figure(
            name="fig4_output_tokens",
            title="Fig. 4 — output-token distribution per provider",
            figure=fig,
            data=table,
            caption=f"Share of each provider's steps per log bin of output tokens "
            f"({g.OUTPUT_BINS_PER_DECADE} bins per decade); the mode of each provider is marked.",
            interactive=_plotly_histogram(table, provs),
        )
    ]


def _plotly_histogram(table: Table, provs: list[str]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, p in enumerate(provs):
        recs = [r for r in table.records() if r["provider"] == p]
        fig.add_trace(
            go.Bar(
                x=[(r["bin_lo"] * r["bin_hi"]) ** 0.5 for r in recs],
                y=[r["share"] for r in recs],
                width=[r["bin_hi"] - r["bin_lo"] for r in recs],
                name=p,
                marker={"color": provider_color(p, i)},
                opacity=0.6,
                customdata=[[r["bin_lo"], r["bin_hi"], r["steps"]] for r in recs],
                hovertemplate="%{customdata[0]:.0f}–%{customdata[1]:.0f} tokens<br>"
                "%{y:.2%} of steps (%{customdata[2]})",
            )
        )
    return _plotly_layout(
        fig,
        "Fig. 4 — output tokens per step",
        barmode="overlay",
        xaxis={"title": "output tokens (log)", "type": "log"},
        yaxis={"title": "share of steps", "tickformat": ".0%"},
    )
