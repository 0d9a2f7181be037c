"""Experiments of category `tool_calls`: which tools run, how long they take, what they cost in
overhead (Fig. 7, 8, 9, Table 10) and how calls spread over tool categories.

Every number comes from `tracelab.metrics.tools` (SQL over `tool_facts`); the figures draw only
the tables computed here.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count, dur, pct
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import tools as m

POPULAR_TOP = 15
TOP_K = 3
LATENCY_TOP = 12
OVERHEAD_TOP = 4
LONG_CALL_MS = 60_000
SHORT_CALL_MS = 1_000
NO_TOOLS = "The trace has no tool calls, so there is nothing to measure."
NO_DATA = "no data"
CALLS_ALPHA = 0.45
RESIDUAL_COLOR = "#4c5c74"


# --- shared shaping and drawing helpers -------------------------------------------------


def _label(provider: str) -> str:
    return "Overall" if provider == m.ALL else provider.capitalize()


def _table(
    name: str,
    title: str,
    records: list[dict[str, Any]],
    columns: dict[str, tuple[str, str]],
    latex: bool = False,
) -> Table:
    """A Table from metric records; `columns` maps display name → (record key, kind)."""
    return Table(
        name=name,
        title=title,
        columns=list(columns),
        rows=[[r[key] for key, _ in columns.values()] for r in records],
        kinds={c: kind for c, (_, kind) in columns.items()},
        latex=latex,
    )


def _grouped(table: Table, key: str = "provider") -> dict[str, list[dict[str, Any]]]:
    """Table records per value of `key`, in table order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in table.records():
        out.setdefault(rec[key], []).append(rec)
    return out


def _panels(groups: list[str], width_each: float, height: float) -> tuple[Any, list[Any]]:
    """One axes per group side by side (at least one, for the "no data" note)."""
    n = max(1, len(groups))
    fig, axes = new_figure(ncols=n, width=max(5.0, width_each * n), height=height, squeeze=False)
    return fig, list(axes[0])


def _plotly_panels(groups: list[str], title: str, height: int = 420) -> Any:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=max(1, len(groups)), subplot_titles=[_label(g) for g in groups] or None
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
    )
    return fig


# --- Fig. 7: tool popularity -------------------------------------------------------------


@experiment(
    "tool_calls/tool_popularity",
    title="Tool popularity and error rates",
    question="Which tools do the agents call, how concentrated are the calls, and how often "
    "does each tool fail?",
    definitions=f"""
- **Calls** of a tool: its rows in `tool_calls` (one per call); a missing name is `(unnamed)`.
  Per provider, the {POPULAR_TOP} most-called tools are listed and the rest summed as *Other*
  (`tools` = how many tool names a row covers).
- **Share**: the tool's calls / all the provider's calls.
- **Error rate**: calls with `is_error` true / finished calls (a result arrived or a status was
  reported; Claude marks only failures). Unfinished calls count neither way (– when no call of
  the tool finished).
- **Top-{TOP_K} share**: calls of the {TOP_K} most-called tools / all calls (ties broken by
  name); *all* ranks tool names over both providers together. The study reports 54 Claude and
  31 Codex tools, with the top 3 taking over 80% (Claude) and 95% (Codex) of calls.
""",
    study_item="Fig. 7",
)
def tool_popularity(con: duckdb.DuckDBPyConnection) -> Result:
    popular = _table(
        "tool_popularity",
        f"Tool calls per provider: top {POPULAR_TOP} tools and Other",
        m.popularity(con, POPULAR_TOP),
        {
            "provider": ("provider", "text"),
            "rank": ("rank", "int"),
            "tool": ("tool", "text"),
            "tools": ("tools", "int"),
            "calls": ("calls", "int"),
            "share": ("share", "pct"),
            "errors": ("errors", "int"),
            "finished calls": ("with_status", "int"),
            "error rate": ("error_rate", "pct"),
        },
    )
    summary_rows = m.top_share_rows(con, TOP_K)
    summary = _table(
        "tool_popularity_summary",
        f"Distinct tools, top-{TOP_K} share and error rate per provider",
        summary_rows,
        {
            "provider": ("provider", "text"),
            "calls": ("calls", "int"),
            "distinct tools": ("distinct_tools", "int"),
            f"top {TOP_K} tools": ("top_tools", "text"),
            f"top-{TOP_K} share": ("top_share", "pct"),
            "errors": ("errors", "int"),
            "finished calls": ("with_status", "int"),
            "error rate": ("error_rate", "pct"),
        },
    )
    return Result([popular, summary], _popularity_text(summary_rows))


def _popularity_text(summary: list[dict[str, Any]]) -> str:
    if not summary:
        return NO_TOOLS
    parts = []
    for r in summary:
        if r["provider"] == m.ALL and len(summary) <= 2:
            continue  # one provider: "all" repeats it
        errors = (
            f"{pct(r['error_rate'])} of the {count(r['with_status'])} finished calls failed"
            if r["with_status"]
            else "no call reported an error status"
        )
        parts.append(
            f"{_label(r['provider'])}: {count(r['calls'])} tool calls over "
            f"{count(r['distinct_tools'])} distinct tools; the top {TOP_K} ({r['top_tools']}) "
            f"take {pct(r['top_share'])} of the calls, and {errors}."
        )
    return " ".join(parts)


@tool_popularity.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_popularity")
    groups = _grouped(table)
    height = max(3.0, 0.24 * max((len(v) for v in groups.values()), default=0) + 1.2)
    fig, axes = _panels(list(groups), 4.6, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _popularity_panel(axes[i], provider, recs, i)
    if not groups:
        no_data(axes[0], "no tool calls")
    return [
        Figure(
            name="fig7_tool_popularity",
            title="Fig. 7 — tool popularity per provider",
            figure=fig,
            data=table,
            caption=f"Calls per tool (log scale), the top {POPULAR_TOP} per provider and Other; "
            "the label gives the call count and the error rate (errors / calls with a status).",
            interactive=_popularity_plotly(groups),
        )
    ]


def _error_label(rec: dict[str, Any]) -> str:
    rate = "–" if rec["error rate"] is None else pct(rec["error rate"])
    return f"{count(rec['calls'])} · err {rate}"


def _popularity_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    y = list(range(len(recs)))
    calls = [r["calls"] for r in recs]
    ax.barh(y, calls, color=provider_color(provider, index))
    for yi, rec in zip(y, recs, strict=True):
        ax.text(rec["calls"] * 1.15, yi, _error_label(rec), va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(0.8, max(calls) * 40)
    ax.set_yticks(y, [r["tool"] for r in recs], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("tool calls (log scale)")
    ax.set_title(f"{_label(provider)} — {count(sum(calls))} calls")


def _popularity_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Tool popularity (calls, log scale) and error rate")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        fig.add_trace(
            go.Bar(
                x=[r["calls"] for r in recs],
                y=[r["tool"] for r in recs],
                orientation="h",
                name=_label(provider),
                marker_color=provider_color(provider, i - 1),
                text=[_error_label(r) for r in recs],
                hovertemplate="%{y}: %{text}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="log", title_text="tool calls", row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig


# --- Fig. 8: share of calls vs share of tool time by latency bin -------------------------


@experiment(
    "tool_calls/latency_share",
    title="Share of tool calls vs share of tool time by latency",
    question="Do a few slow tool calls account for most of the time spent in tools?",
    definitions="""
- **Effective latency** of a call = `tool_internal_latency_ms` if not null, else
  `tool_wall_latency_ms`; only strictly positive values count (calls without one are left out).
- **Bins** are half-open `[lo, hi)`: <0.1 s, 0.1–1 s, 1–10 s, 10 s–1 min, 1–10 min, ≥10 min
  (a call of exactly 1 s is in 1–10 s).
- **Share of calls**: the bin's calls / all timed calls; **share of time**: the bin's Σ effective
  latency / Σ effective latency of all timed calls. *all* pools the providers.
- **Long calls**: effective latency ≥ 1 min (= the 1–10 min and ≥10 min bins). The study
  reports 4% of calls and 85% of tool time overall (Claude 4.9% / 92%, Codex 3.1% / 61%).
""",
    study_item="Fig. 8",
)
def latency_share(con: duckdb.DuckDBPyConnection) -> Result:
    bins = _table(
        "tool_latency_share",
        "Share of tool calls and of tool time per effective-latency bin",
        m.latency_bins(con),
        {
            "provider": ("provider", "text"),
            "latency bin": ("label", "text"),
            "calls": ("calls", "int"),
            "share of calls": ("call_share", "pct"),
            "tool time": ("time_ms", "ms"),
            "share of time": ("time_share", "pct"),
        },
    )
    groups = list(_grouped(bins))
    long_rows = [
        {
            "provider": g,
            "long": m.long_call_shares(con, None if g == m.ALL else g, LONG_CALL_MS),
            "not_short": m.long_call_shares(con, None if g == m.ALL else g, SHORT_CALL_MS),
        }
        for g in groups
    ]
    long_calls = Table(
        name="tool_long_calls",
        title="Calls of at least 1 min and under 1 s: share of calls and of tool time",
        columns=[
            "provider",
            "timed calls",
            "calls ≥ 1 min",
            "share of calls ≥ 1 min",
            "share of time ≥ 1 min",
            "share of calls < 1 s",
            "share of time < 1 s",
        ],
        rows=[
            [
                r["provider"],
                r["long"]["calls"],
                r["long"]["long_calls"],
                r["long"]["call_share"],
                r["long"]["time_share"],
                _complement(r["not_short"]["call_share"]),
                _complement(r["not_short"]["time_share"]),
            ]
            for r in long_rows
        ],
        kinds={
            "timed calls": "int",
            "calls ≥ 1 min": "int",
            **{c: "pct" for c in ("share of calls ≥ 1 min", "share of time ≥ 1 min")},
            **{c: "pct" for c in ("share of calls < 1 s", "share of time < 1 s")},
        },
    )
    return Result([bins, long_calls], _latency_share_text(long_calls))


def _complement(share: float | None) -> float | None:
    """1 − share: the calls below a threshold from the share at or above it."""
    return None if share is None else 1.0 - share


def _latency_share_text(long_calls: Table) -> str:
    recs = long_calls.records()
    if not recs:
        return "No tool call has a positive effective latency, so there is no tool time to split."
    parts = []
    for r in recs:
        if r["provider"] == m.ALL and len(recs) <= 2:
            continue
        parts.append(
            f"{_label(r['provider'])}: calls of at least 1 min are "
            f"{pct(r['share of calls ≥ 1 min'])} of {count(r['timed calls'])} timed calls but "
            f"{pct(r['share of time ≥ 1 min'])} of tool time, while calls under 1 s are "
            f"{pct(r['share of calls < 1 s'])} of calls and {pct(r['share of time < 1 s'])} "
            "of time."
        )
    return " ".join(parts)


@latency_share.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_latency_share")
    groups = {p: recs for p, recs in _grouped(table).items() if p != m.ALL}
    fig, axes = _panels(list(groups), 4.4, 3.4)
    for i, (provider, recs) in enumerate(groups.items()):
        _share_panel(axes[i], provider, recs, i)
    if groups:
        _figure_legend(fig, axes[0])
    else:
        no_data(axes[0], "no timed tool calls")
    return [
        Figure(
            name="fig8_tool_latency_share",
            title="Fig. 8 — share of tool calls vs share of tool time by latency bin",
            figure=fig,
            data=table,
            caption="Per effective-latency bin: its share of the timed tool calls (light) and "
            "of the total tool time (solid). Only calls with a positive latency count.",
            interactive=_share_plotly(groups),
        )
    ]


def _share_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    color = provider_color(provider, index)
    x = list(range(len(recs)))
    width = 0.4
    series = (("share of calls", CALLS_ALPHA, -width / 2), ("share of time", 1.0, width / 2))
    for column, alpha, offset in series:
        values = [r[column] or 0.0 for r in recs]
        bars = ax.bar([xi + offset for xi in x], values, width, color=color, alpha=alpha)
        bars.set_label(column)
        for xi, v in zip(x, values, strict=True):
            ax.text(xi + offset, v + 0.01, _short_pct(v), ha="center", fontsize=6.5)
    ax.set_xticks(x, [r["latency bin"] for r in recs], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.set_xlabel("effective tool latency")
    ax.set_ylabel("share (%)")
    ax.set_title(_label(provider))


def _short_pct(share: float) -> str:
    """A bar label: whole percent, "<1" for a sliver that would round to 0."""
    return "<1" if 0 < share < 0.005 else f"{share * 100:.0f}"


def _figure_legend(fig: Any, ax: Any) -> None:
    """One legend for all panels, below them (never on top of a bar)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)


def _share_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Share of tool calls vs share of tool time by latency")
    fig.update_layout(barmode="group")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        for column, opacity in (("share of calls", CALLS_ALPHA), ("share of time", 1.0)):
            fig.add_trace(
                go.Bar(
                    x=[r["latency bin"] for r in recs],
                    y=[r[column] for r in recs],
                    name=f"{_label(provider)}: {column}",
                    marker_color=provider_color(provider, i - 1),
                    opacity=opacity,
                    hovertemplate="%{x}: %{y:.1%}<extra></extra>",
                ),
                row=1,
                col=i,
            )
        fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=i)
    return fig


# --- Fig. 9: latency distribution of the most-called tools -------------------------------


@experiment(
    "tool_calls/tool_latency",
    title="Latency distribution of the most-called tools",
    question="How long does each popular tool take, and how much does its latency vary?",
    definitions=f"""
- **Tools**: per provider, the {LATENCY_TOP} tools with the most calls (all calls count for the
  ranking). *(all tools)* rows cover every call of the provider; *all* pools the providers.
- **Latency**: effective latency (internal if not null, else wall); the distribution keeps only
  strictly positive values (`timed calls`).
- The figure draws, per tool, a box from p25 to p75 with the median marked and whiskers from
  p1 to p99 — all `quantile_cont` values computed in SQL, not from individual calls.
- The study reports an average tool latency of 16.8 s overall, with Read/Edit mostly fast and
  Agent/AskUserQuestion taking minutes.
""",
    study_item="Fig. 9",
)
def tool_latency(con: duckdb.DuckDBPyConnection) -> Result:
    records = m.tool_latency(con, LATENCY_TOP)
    ms_cols = {c: (c, "ms") for c in ("avg", "p25", "p50", "p90", "p99")}
    table = _table(
        "tool_latency_top12",
        f"Effective latency of the {LATENCY_TOP} most-called tools per provider",
        records,
        {
            "provider": ("provider", "text"),
            "rank": ("rank", "int"),
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "timed calls": ("timed_calls", "int"),
            **ms_cols,
        },
    )
    boxes = _table(
        "fig9_tool_latency",
        "Box quantiles of the effective latency per tool (ms)",
        [r for r in records if r["rank"] > 0],
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "timed calls": ("timed_calls", "int"),
            **{c: (c, "ms") for c in ("p1", "p25", "p50", "p75", "p99", "avg")},
        },
    )
    return Result([table], _tool_latency_text(records), data={"boxes": boxes})


def _tool_latency_text(records: list[dict[str, Any]]) -> str:
    overall = [r for r in records if r["rank"] == 0 and r["timed_calls"]]
    tools = [r for r in records if r["rank"] > 0 and r["timed_calls"]]
    if not overall:
        return "No tool call has a positive effective latency, so there is no distribution."
    summary = ", ".join(
        f"{_label(r['provider'])} {dur(r['avg'])} (median {dur(r['p50'])})" for r in overall
    )
    text = f"Average effective tool latency: {summary}."
    fast = min(tools, key=lambda r: r["p50"])
    slow = max(tools, key=lambda r: r["p50"])
    text += (
        f" Among the most-called tools, medians range from {dur(fast['p50'])} "
        f"({fast['tool']}, {fast['provider']}) to {dur(slow['p50'])} "
        f"({slow['tool']}, {slow['provider']})."
    )
    top = tools[0]
    text += (
        f" Within one tool latency still varies widely: {top['tool']} ({top['provider']}'s "
        f"most-called tool) spans {dur(top['p1'])} at p1 to {dur(top['p99'])} at p99."
    )
    return text


@tool_latency.figures
def _(result: Result) -> list[Figure]:
    boxes: Table = result.data["boxes"]
    groups = _grouped(boxes)
    height = max(3.0, 0.28 * max((len(v) for v in groups.values()), default=0) + 1.2)
    fig, axes = _panels(list(groups), 4.4, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _box_panel(axes[i], provider, recs, i)
    if not groups:
        no_data(axes[0], "no timed tool calls")
    return [
        Figure(
            name="fig9_tool_latency",
            title=f"Fig. 9 — latency of the {LATENCY_TOP} most-called tools per provider",
            figure=fig,
            data=boxes,
            caption="Effective latency in seconds (log scale): box p25–p75, white line the "
            "median, whiskers p1–p99, dot the mean; positive latencies only.",
            interactive=_box_plotly(groups),
        )
    ]


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _box_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    color = provider_color(provider, index)
    drawn = [r for r in recs if r["p50"] is not None]
    if not drawn:
        no_data(ax, f"{_label(provider)}: no timed calls")
        return
    for y, r in enumerate(drawn):
        p1, p25, p50, p75, p99, avg = (
            _seconds(r[c]) for c in ("p1", "p25", "p50", "p75", "p99", "avg")
        )
        ax.hlines(y, p1, p99, color=color, lw=1)
        ax.barh(y, p75 - p25, left=p25, height=0.6, color=color, alpha=0.8)
        ax.vlines(p50, y - 0.3, y + 0.3, color="white", lw=1.6)
        ax.plot([avg], [y], "o", color="black", ms=2.5)
    ax.set_xscale("log")
    ax.set_yticks(range(len(drawn)), [r["tool"] for r in drawn], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("effective latency (s, log scale)")
    ax.set_title(_label(provider))


def _box_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Effective latency per tool (s): p1–p25–p50–p75–p99")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        drawn = [r for r in recs if r["p50"] is not None]
        col = {c: [_seconds(r[c]) for r in drawn] for c in ("p1", "p25", "p50", "p75", "p99")}
        fig.add_trace(
            go.Box(
                y=[r["tool"] for r in drawn],
                q1=col["p25"],
                median=col["p50"],
                q3=col["p75"],
                lowerfence=col["p1"],
                upperfence=col["p99"],
                mean=[_seconds(r["avg"]) for r in drawn],
                orientation="h",
                name=_label(provider),
                marker_color=provider_color(provider, i - 1),
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="log", title_text="seconds", row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig


# --- Table 10: tool overhead -------------------------------------------------------------


@experiment(
    "tool_calls/tool_overhead",
    title="Tool-call overhead: end-to-end vs runner-reported time",
    question="How much of a tool call's observed time is not execution (approval, scheduling, "
    "startup, output propagation)?",
    definitions=f"""
- **Timed calls**: calls with both `tool_wall_latency_ms` (end-to-end, E2E: emitted → result)
  and `tool_internal_latency_ms` (runner-reported execution) non-null and wall ≥ 0 (a negative
  wall latency is clock skew). Internal latencies are never negative.
- **Residual** = wall − internal, per call; kept signed (a runner reporting slightly more time
  than the trace observed gives a small negative residual instead of being dropped).
- E2E / internal / residual are sums over the timed calls; *residual share* = Σ residual / Σ E2E;
  avg and p50/p90/p99 are over the per-call residuals.
- Rows: *All timed*, then the {OVERHEAD_TOP} tools with the most timed calls, then *Other*.
  Every provider with timed calls gets its rows (in the study, only Codex reports internal
  time: 253k calls, 87.3% coverage, 77.8 h residual of 418.1 h E2E).
- **Coverage**: timed calls / all the provider's tool calls.
""",
    study_item="Table 10",
)
def tool_overhead(con: duckdb.DuckDBPyConnection) -> Result:
    rows = m.overhead(con, OVERHEAD_TOP)
    table = _table(
        "table10_tool_overhead",
        "Table 10 — tool overhead: end-to-end vs internal time and their residual",
        rows,
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "calls": ("calls", "int"),
            "E2E": ("wall_ms", "ms"),
            "internal": ("internal_ms", "ms"),
            "residual": ("residual_ms", "ms"),
            "residual share": ("residual_share", "pct"),
            "avg residual": ("avg", "ms"),
            "p50": ("p50", "ms"),
            "p90": ("p90", "ms"),
            "p99": ("p99", "ms"),
        },
        latex=True,
    )
    coverage = _table(
        "tool_overhead_coverage",
        "Tool calls with both an end-to-end and an internal latency",
        m.overhead_coverage(con),
        {
            "provider": ("provider", "text"),
            "tool calls": ("calls", "int"),
            "timed calls": ("timed_calls", "int"),
            "coverage": ("coverage", "pct"),
        },
    )
    return Result([table, coverage], _overhead_text(table, coverage))


def _overhead_text(table: Table, coverage: Table) -> str:
    if not coverage.rows:
        return NO_TOOLS
    totals = [r for r in table.records() if r["tool"] == m.ALL_TIMED]
    if not totals:
        return (
            "No tool call has both an end-to-end and a runner-reported latency, so the overhead "
            "cannot be decomposed."
        )
    cover = {r["provider"]: r for r in coverage.records()}
    parts = []
    for r in totals:
        c = cover[r["provider"]]
        tools = [
            t
            for t in table.records()
            if t["provider"] == r["provider"] and t["tool"] not in (m.ALL_TIMED, m.OTHER)
        ]
        top = max(tools, key=lambda t: t["residual"], default=None)
        parts.append(
            f"{_label(r['provider'])}: {count(r['calls'])} of {count(c['tool calls'])} tool calls "
            f"({pct(c['coverage'])}) have both timings; they take {dur(r['E2E'])} end to end "
            f"and {dur(r['internal'])} of reported execution, leaving {dur(r['residual'])} of "
            f"residual ({pct(r['residual share'])}). The average residual is "
            f"{dur(r['avg residual'])} (p50 {dur(r['p50'])}, p90 {dur(r['p90'])}, "
            f"p99 {dur(r['p99'])})"
            + (f"; {top['tool']} contributes the most ({dur(top['residual'])})." if top else ".")
        )
    return " ".join(parts)


@tool_overhead.figures
def _(result: Result) -> list[Figure]:
    table = result.table("table10_tool_overhead")
    groups = {
        p: [r for r in recs if r["tool"] != m.ALL_TIMED] for p, recs in _grouped(table).items()
    }
    height = max(2.8, 0.35 * max((len(v) for v in groups.values()), default=0) + 1.4)
    fig, axes = _panels(list(groups), 4.6, height)
    for i, (provider, recs) in enumerate(groups.items()):
        _overhead_panel(axes[i], provider, recs, i)
    if groups:
        _figure_legend(fig, axes[0])
    else:
        no_data(axes[0], "no calls with both timings")
    return [
        Figure(
            name="tool_overhead_hours",
            title="Tool time split into runner-reported execution and residual overhead",
            figure=fig,
            data=table,
            caption="Per tool (timed calls only): Σ internal latency and, stacked after it, "
            "Σ residual (wall − internal), in hours.",
            interactive=_overhead_plotly(groups),
        )
    ]


def _hours(ms: float | None) -> float:
    return (ms or 0.0) / 3_600_000.0


def _overhead_panel(ax: Any, provider: str, recs: list[dict[str, Any]], index: int) -> None:
    y = list(range(len(recs)))
    internal = [_hours(r["internal"]) for r in recs]
    residual = [_hours(r["residual"]) for r in recs]
    ax.barh(y, internal, color=provider_color(provider, index), label="internal (execution)")
    ax.barh(y, residual, left=internal, color=RESIDUAL_COLOR, label="residual (overhead)")
    ax.set_yticks(y, [r["tool"] for r in recs], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("hours")
    ax.set_title(_label(provider))


def _overhead_plotly(groups: dict[str, list[dict[str, Any]]]) -> Any:
    import plotly.graph_objects as go

    fig = _plotly_panels(list(groups), "Tool time: internal execution + residual overhead (h)")
    fig.update_layout(barmode="stack")
    for i, (provider, recs) in enumerate(groups.items(), start=1):
        for key, color in (("internal", provider_color(provider, i - 1)), ("residual", None)):
            fig.add_trace(
                go.Bar(
                    x=[_hours(r[key]) for r in recs],
                    y=[r["tool"] for r in recs],
                    orientation="h",
                    name=f"{_label(provider)}: {key}",
                    marker_color=color or RESIDUAL_COLOR,
                    hovertemplate="%{y}: %{x:.2f} h<extra></extra>",
                ),
                row=1,
                col=i,
            )
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    return fig


# --- Tool categories ---------------------------------------------------------------------


def _category_definition() -> str:
    lines = [f"  - *{c}*: {', '.join(names)}" for c, names in m.TOOL_CATEGORIES.items()]
    return "\n".join(lines)


@experiment(
    "tool_calls/tool_categories",
    title="Tool calls by category",
    question="What kinds of work do the tool calls do (shell, file reads, edits, search, web, "
    "subagents, planning, user interaction, MCP), and where does the tool time go?",
    definitions=f"""
- **Category** of a tool name (matched case-insensitively; names starting with `mcp__` are MCP;
  any other name is *other* — see `tool_category_members` for what landed where):
{_category_definition()}
- **Share**: the category's calls / the provider's calls. **Time share**: the category's Σ
  effective latency / the provider's Σ effective latency, positive latencies only.
""",
    study_item="Extra",
)
def tool_categories(con: duckdb.DuckDBPyConnection) -> Result:
    table = _table(
        "tool_categories",
        "Tool calls and tool time per category",
        m.categories(con),
        {
            "provider": ("provider", "text"),
            "category": ("category", "text"),
            "calls": ("calls", "int"),
            "share": ("share", "pct"),
            "tool time": ("time_ms", "ms"),
            "time share": ("time_share", "pct"),
        },
    )
    members = _table(
        "tool_category_members",
        "Which tool names fall in which category",
        m.category_members(con),
        {
            "provider": ("provider", "text"),
            "tool": ("tool", "text"),
            "category": ("category", "text"),
            "calls": ("calls", "int"),
        },
    )
    return Result([table, members], _categories_text(table))


def _categories_text(table: Table) -> str:
    groups = _grouped(table)
    if not groups:
        return NO_TOOLS
    parts = []
    for provider, recs in groups.items():
        by_calls = max(recs, key=lambda r: r["calls"])
        by_time = max(recs, key=lambda r: r["time share"] or 0.0)
        other = sum(r["share"] for r in recs if r["category"] == m.OTHER_CATEGORY)
        time = (
            f"and {pct(by_calls['time share'])} of tool time"
            if by_time is by_calls
            else f"while {by_time['category']} takes the most tool time "
            f"({pct(by_time['time share'])})"
        )
        parts.append(
            f"{_label(provider)}: {by_calls['category']} is the largest category with "
            f"{pct(by_calls['share'])} of calls {time}; {pct(other)} of calls fall in no "
            "known category."
        )
    return " ".join(parts)


def _category_colors() -> dict[str, str]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {
        c: "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in cmap(i)[:3]))
        for i, c in enumerate(m.CATEGORY_ORDER)
    }


@tool_categories.figures
def _(result: Result) -> list[Figure]:
    table = result.table("tool_categories")
    groups = _grouped(table)
    colors = _category_colors()
    bars = [(p, measure) for p in groups for measure in ("share", "time share")]
    fig, ax = new_figure(width=7.0, height=max(2.4, 0.5 * len(bars) + 1.4))
    if not groups:
        no_data(ax, "no tool calls")
    for y, (provider, measure) in enumerate(bars):
        left = 0.0
        for rec in groups[provider]:
            width = rec[measure] or 0.0
            ax.barh(y, width, left=left, color=colors[rec["category"]], label=rec["category"])
            if width >= 0.06:
                ax.text(left + width / 2, y, f"{width * 100:.0f}%", ha="center", va="center",
                        fontsize=6.5, color="white")  # fmt: skip
            left += width
    if groups:
        names = [f"{_label(p)} · {'calls' if k == 'share' else 'tool time'}" for p, k in bars]
        ax.set_yticks(range(len(bars)), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.set_xlabel("share of the provider's tool calls / tool time")
        ax.grid(axis="y", visible=False)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        order = [c for c in m.CATEGORY_ORDER if c in unique]
        ax.legend([unique[c] for c in order], order, fontsize=7, ncols=5,
                  loc="upper center", bbox_to_anchor=(0.5, -0.25))  # fmt: skip
    return [
        Figure(
            name="tool_categories",
            title="Tool calls and tool time by category",
            figure=fig,
            data=table,
            caption="Per provider, the share of tool calls (upper bar) and of tool time (lower "
            "bar, positive effective latencies) in each tool category.",
            interactive=_categories_plotly(groups, bars, colors),
        )
    ]


def _categories_plotly(
    groups: dict[str, list[dict[str, Any]]], bars: list[tuple[str, str]], colors: dict[str, str]
) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [f"{_label(p)} · {'calls' if k == 'share' else 'tool time'}" for p, k in bars]
    for category in m.CATEGORY_ORDER:
        values = []
        for provider, measure in bars:
            rec = next((r for r in groups[provider] if r["category"] == category), None)
            values.append(rec[measure] if rec else 0.0)
        if any(values):
            fig.add_trace(
                go.Bar(
                    x=values,
                    y=names,
                    orientation="h",
                    name=category,
                    marker_color=colors[category],
                    hovertemplate=category + ": %{x:.1%}<extra></extra>",
                )
            )
    fig.update_layout(
        barmode="stack",
        title="Tool calls and tool time by category",
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
        template="plotly_white",
        height=max(300, 60 * len(bars) + 160),
    )
    return fig
