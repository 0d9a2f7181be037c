"""`llm_generation/generation_time_cdf` (extra): the distribution of a step's generation time."""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import (
    curve_table,
    dist_columns,
    dist_sql,
    providers,
    quantile_curve,
    records,
)
from tracelab.experiments.fmt import format_value
from tracelab.experiments.llm_generation._shared import _sorted
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data, plot_cdf, plotly_cdf
from tracelab.figures.style import new_figure, provider_color


@experiment(
    "llm_generation/generation_time_cdf",
    title="Generation time per step",
    question="How long does one LLM step take to generate, per provider?",
    definitions="""
- **Generation time** `gen_ms`: the latest `user_message`/`tool_result` event before the first
  model-output event → the last model-output event (`reasoning`, `text`, `tool_call`).
- Only strictly positive generation times enter the distribution (steps without both events,
  or with clock skew, are left out and counted).
- The CDF is drawn from 201 quantiles computed in SQL.
""",
    study_item="Extra",
)
def generation_time_cdf(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    stats = _sorted(
        records(
            con,
            f"""
            SELECT provider, count(*) AS steps, count(pos) AS timed, {dist_sql("pos")}
            FROM (SELECT provider, CASE WHEN gen_ms > 0 THEN gen_ms END AS pos FROM step_facts)
            GROUP BY provider
            """,
        ),
        provs,
    )
    cols = ["provider", "timed", *dist_columns()]
    table = Table(
        name="generation_time",
        title="Generation time per step (positive gen_ms)",
        columns=["provider", "steps", *dist_columns()],
        rows=[[r[c] for c in cols] for r in stats],
        kinds={"steps": "int", **{c: "ms" for c in dist_columns()}},
    )
    curves = quantile_curve(
        con, "FROM step_facts WHERE gen_ms > 0", "gen_ms / 1000.0", group="provider"
    )
    timed = [r for r in stats if r["timed"]]
    if not timed:
        text = "No step has a positive observable generation time."
    else:
        text = (
            "; ".join(
                f"{r['provider']}: median {format_value(r['p50'], 'ms')}, p90 "
                f"{format_value(r['p90'], 'ms')}, p99 {format_value(r['p99'], 'ms')} "
                f"({format_value(r['timed'], 'int')} of {format_value(r['steps'], 'int')} steps "
                f"timed)"
                for r in timed
            )
            + "."
        )
    return Result(
        [table], "Generation time per step — " + text if timed else text, data={"curves": curves}
    )


@generation_time_cdf.figures
def _(result: Result) -> list[Figure]:
    curves = result.data["curves"]
    fig, ax = new_figure()
    for i, (p, pts) in enumerate(curves.items()):
        plot_cdf(ax, pts, label=p, color=provider_color(p, i))
    if curves:
        ax.legend()
    else:
        no_data(ax)
    ax.set_xlabel("generation time per step (s, log)")
    ax.set_title("Generation time per step")
    colors = {p: provider_color(p, i) for i, p in enumerate(curves)}
    return [
        Figure(
            name="generation_time_cdf",
            title="Generation time per step (CDF)",
            figure=fig,
            data=curve_table("generation_time_cdf", "Generation-time CDF", curves, "gen_s"),
            caption="CDF of positive generation times (201 quantiles per provider).",
            interactive=plotly_cdf(
                curves, "Generation time per step", "seconds (log)", colors=colors
            ),
        )
    ]
