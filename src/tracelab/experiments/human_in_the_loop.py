"""Experiments of category `human_in_the_loop`: how long the human takes to answer (human input
waits) and how long the agent takes to answer the human (request response time).

Both are distributions of one duration per provider: a table (avg and quantiles) and a CDF on a
log time axis with the 1 min / 5 min / 1 h marks that matter for prompt-cache lifetimes.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import (
    DIST_COLUMNS,
    curve_table,
    dist_sql,
    providers,
    quantile_curve,
    records,
)
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data, plot_cdf, plotly_cdf
from tracelab.metrics.session import POSITIVE_WAITS, TIMED_REQUESTS, prepare_session

#: Reference durations drawn on the time axes (seconds, label).
TIME_MARKS = ((60.0, "1m"), (300.0, "5m"), (3600.0, "1h"))


def duration_stats(
    con: duckdb.DuckDBPyConnection, from_sql: str, value: str, extra: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Count, total, avg and quantiles of `value` (ms) per provider, then 'all' (last).

    `extra` adds columns: name → SQL aggregate over `v` (the value).
    """
    cols = "".join(f', {sql} AS "{name}"' for name, sql in (extra or {}).items())
    data = records(
        con,
        f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'all' ELSE provider END AS provider,
               count(v) AS n, sum(v) AS total, {dist_sql("v")}{cols}
        FROM (SELECT provider, {value} AS v {from_sql})
        GROUP BY ROLLUP (provider)
        """,
    )
    order = {p: i for i, p in enumerate(providers(con))}
    by_name = {r["provider"]: r for r in data if r["n"]}
    keys = sorted((k for k in by_name if k != "all"), key=lambda k: (order.get(k, len(order)), k))
    return [by_name[k] for k in [*keys, *(["all"] if "all" in by_name else [])]]


def _stats_table(
    name: str, title: str, stats: list[dict[str, Any]], count_name: str, extra: list[str]
) -> Table:
    columns = ["provider", count_name, "total", *DIST_COLUMNS, *extra]
    return Table(
        name=name,
        title=title,
        columns=columns,
        rows=[
            [r["provider"], r["n"], r["total"], *(r[c] for c in [*DIST_COLUMNS, *extra])]
            for r in stats
        ],
        kinds={count_name: "int", "total": "ms"}
        | {c: "ms" for c in DIST_COLUMNS}
        | {c: "pct" for c in extra},
    )


def _cdf_figure(
    name: str, title: str, curves: Table, stats: Table, x_label: str, caption: str
) -> Figure:
    """CDF per provider on a log time axis (seconds) with the 1m / 5m / 1h marks; the legend
    gives each provider's count from `stats`."""
    from tracelab.figures.style import new_figure, provider_color

    fig, ax = new_figure(width=6.4, height=3.8)
    groups: dict[str, list[tuple[float, float]]] = {}
    for g, v, q in curves.rows:
        groups.setdefault(g, []).append((v, q))
    if not groups:
        no_data(ax)
    counts = dict(zip(stats.column("provider"), stats.column(stats.columns[1]), strict=True))
    for i, (g, points) in enumerate(groups.items()):
        label = f"{g} (n={format_value(counts.get(g), 'int')})"
        plot_cdf(ax, points, label=label, color=provider_color(g, i))
    if groups:
        for seconds, label in TIME_MARKS:
            ax.axvline(seconds, color="grey", ls=":", lw=0.9)
            ax.annotate(
                label,
                (seconds, 0.02),
                fontsize=7,
                color="grey",
                xytext=(2, 0),
                textcoords="offset points",
            )
        ax.set_xlabel(x_label)
        ax.legend(loc="lower right")
    ax.set_title(title)
    return Figure(
        name=name,
        title=title,
        figure=fig,
        data=curves,
        caption=caption,
        interactive=_plotly(groups, title, x_label) if groups else None,
    )


def _plotly(groups: dict[str, list[tuple[float, float]]], title: str, x_label: str) -> Any:
    import plotly.graph_objects as go

    from tracelab.figures.style import provider_color

    colors = {g: provider_color(g, i) for i, g in enumerate(groups)}
    fig = plotly_cdf(groups, title, x_label, colors=colors)
    for seconds, label in TIME_MARKS:
        fig.add_trace(
            go.Scatter(
                x=[seconds, seconds],
                y=[0, 1],
                mode="lines",
                name=label,
                line={"color": "grey", "dash": "dot", "width": 1},
                showlegend=False,
                hoverinfo="name",
            )
        )
    return fig


def _medians(stats: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{r['provider']} {format_value(r['p50'], 'ms')}" for r in stats if r["provider"] != "all"
    )


# --- Human input waits -----------------------------------------------------------------------

WAIT_SHARES = {
    "> 5m": "avg((v > 300000)::INTEGER)",
    "> 1h": "avg((v > 3600000)::INTEGER)",
}


@experiment(
    "human_in_the_loop/human_wait_cdf",
    title="How long the agent waits for the human",
    question="How long is the gap before each user message — the time the agent (and its "
    "prompt cache) waits for the human?",
    definitions="""
- **Human input wait**: the previous event of any type in the same session → the next
  `user_message` event (`human_waits`). Only strictly positive waits count (a message written
  while the agent worked can arrive with no gap).
- Table: waits per provider and over all providers — count, total, avg and quantiles, and the
  shares longer than 5 min (a 5-minute prompt cache would have expired) and 1 h.
- Figure: the empirical CDF (201 quantiles per provider) on a log axis, marks at 1m, 5m, 1h.
""",
    study_item="Extra",
)
def human_wait_cdf(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    stats = duration_stats(con, POSITIVE_WAITS, "wait_ms", WAIT_SHARES)
    table = _stats_table(
        "human_waits", "Positive human input waits", stats, "waits", list(WAIT_SHARES)
    )
    curves = curve_table(
        "human_wait_curve",
        "CDF of positive human waits (seconds)",
        quantile_curve(con, POSITIVE_WAITS, "wait_ms / 1000.0", group="provider"),
        "wait_s",
    )
    return Result([table, curves], _wait_text(stats))


def _wait_text(stats: list[dict[str, Any]]) -> str:
    if not stats:
        return "The trace has no positive human input waits (no user message follows an event)."
    a = stats[-1]
    return (
        f"{format_value(a['n'], 'int')} positive human waits: median "
        f"{format_value(a['p50'], 'ms')}, p90 {format_value(a['p90'], 'ms')}, average "
        f"{format_value(a['avg'], 'ms')} (medians: {_medians(stats)}). "
        f"{format_value(a['> 5m'], 'pct')} of waits exceed 5 minutes and "
        f"{format_value(a['> 1h'], 'pct')} exceed an hour."
    )


@human_wait_cdf.figures
def _(result: Result) -> list[Figure]:
    return [
        _cdf_figure(
            "fig_human_wait_cdf",
            "Human input wait (CDF)",
            result.table("human_wait_curve"),
            result.table("human_waits"),
            "wait before a user message (s, log)",
            "Empirical CDF of strictly positive human input waits per provider; dotted: 1m, "
            "5m, 1h.",
        )
    ]


# --- Request response time -------------------------------------------------------------------


@experiment(
    "human_in_the_loop/response_time",
    title="How long the human waits for the agent",
    question="How long does the agent take to answer a user turn, from the user message to "
    "its last output of the request?",
    definitions="""
- **Request** (amendments §14.2): a step *opens* a request when it has a `user_message`
  timestamped at or before its earliest model-output event (whatever its first input event);
  the request runs up to the next opening step (`request_facts`). Steps before a session's
  first opening step belong to no request.
- **Response time**: the opening step's latest such `user_message` → the latest model-output
  event (`reasoning`, `text`, `tool_call`) of the request's steps. Requests without model
  output or with a response time ≤ 0 are dropped.
- Table: per provider and over all — requests, total response time, avg and quantiles.
  Figure: the empirical CDF (201 quantiles per provider), log axis, marks at 1m, 5m, 1h.
""",
    study_item="Extra",
)
def response_time(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    stats = duration_stats(con, TIMED_REQUESTS, "response_ms")
    table = _stats_table("response_times", "Request response time", stats, "requests", [])
    curves = curve_table(
        "response_time_curve",
        "CDF of request response times (seconds)",
        quantile_curve(con, TIMED_REQUESTS, "response_ms / 1000.0", group="provider"),
        "response_s",
    )
    return Result([table, curves], _response_text(stats))


def _response_text(stats: list[dict[str, Any]]) -> str:
    if not stats:
        return "The trace has no request with a positive response time (no user messages)."
    a = stats[-1]
    return (
        f"{format_value(a['n'], 'int')} requests took {format_value(a['total'], 'ms')} of "
        f"response time in total. A request is answered in {format_value(a['avg'], 'ms')} on "
        f"average (median {format_value(a['p50'], 'ms')}, p90 {format_value(a['p90'], 'ms')}, "
        f"p99 {format_value(a['p99'], 'ms')}); medians per provider: {_medians(stats)}."
    )


@response_time.figures
def _(result: Result) -> list[Figure]:
    return [
        _cdf_figure(
            "fig_response_time_cdf",
            "Request response time (CDF)",
            result.table("response_time_curve"),
            result.table("response_times"),
            "user message → last output of the request (s, log)",
            "Empirical CDF of strictly positive request response times per provider; dotted: "
            "1m, 5m, 1h.",
        )
    ]
