"""`session/duration_cdfs` (amendments §10): generation spans, tool latencies and human waits
as CDFs by count and by total time, on the reference's fine log bins.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import curve_table, quantile_curve
from tracelab.experiments.fmt import count, format_value
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data, plot_cdf
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import duration_bins as m

COUNT_COLUMNS = {
    "provider": ("provider", "text"),
    "bin lo": ("bin_lo", "float"),
    "bin hi": ("bin_hi", "float"),
    "landmark": ("landmark", "text"),
    "count": ("count", "int"),
    "share": ("share", "pct"),
    "cumulative count": ("cum_count", "int"),
    "cumulative share": ("cum_share", "pct"),
}
TOTAL_COLUMNS = COUNT_COLUMNS | {
    "time": ("time", "float"),
    "hours": ("hours", "float2"),
    "time share": ("time_share", "pct"),
    "cumulative hours": ("cum_hours", "float2"),
    "cumulative time share": ("cum_time_share", "pct"),
}
SUMMARY_COLUMNS = {
    "metric": ("metric", "text"),
    "unit": ("unit", "text"),
    "provider": ("provider", "text"),
    "n": ("n", "int"),
    "mean": ("avg", "float"),
    **{f"p{round(q * 100)}": (f"p{round(q * 100)}", "float") for q in m.SUMMARY_QUANTILES},
    "max": ("max", "float"),
    "total (h)": ("hours", "float2"),
    "≤ 5 min (h)": ("hours_le_5min", "float2"),
}
#: Human-wait plots stop at 1 h (s).
HUMAN_PLOT_MAX_S = 3600.0


def _table(name: str, title: str, recs: list[dict[str, Any]], columns: dict) -> Table:
    return Table(
        name=name,
        title=title,
        columns=list(columns),
        rows=[[r[key] for key, _ in columns.values()] for r in recs],
        kinds={c: kind for c, (_, kind) in columns.items()},
    )


@experiment(
    "session/duration_cdfs",
    title="Generation, tool and human-wait time: CDFs by count and by total time",
    question="How are generation spans, tool latencies and human waits distributed — by how "
    "many there are, and by how much time they add up to?",
    definitions=f"""
- **Values** (each the definition every other table uses): positive generation spans in
  seconds (`gen_ms`: latest input event before the first model output → last model output);
  positive effective tool latencies in ms, per call (internal, else wall); positive human waits
  in seconds (every `user_message`'s gap from the previous event of any type in its session,
  carried across steps in session order).
- **Fine edges** per metric over all providers' values: `lo = floor(log10 min)`,
  `hi = ceil(log10 max)` (+1 if equal), `logspace(lo, hi, max(16, int(64 (hi − lo))) + 1)`;
  edges strictly inside (min, max) are kept, the landmarks inside are added (ms:
  {", ".join(f"{v:g}" for v in m.LANDMARKS_MS)}; s: {", ".join(f"{v:g}" for v in m.LANDMARKS_S)}),
  then min and max. Bins are half-open `[lo, hi)`, the last closed; `landmark` marks a bin
  whose upper edge is a landmark.
- **Count CDF**: the cumulative **count** (absolute, as the reference's code; its README says
  fraction) at each upper edge, with the cumulative share beside it. **Total CDF**: the
  cumulative summed time in **hours**. The tool-latency and human-wait total CSVs add a 300 s
  (5 min) edge; the summary gives the hours of values ≤ 5 min.
- Human-wait plots stop at 1 h (the tables do not); the others are not truncated. Percentiles
  are linear (`quantile_cont`). The human-wait ECDF overlay is drawn for *all* and each
  provider from 201-point quantile curves.
""",
    study_item="Table 7, §4.4, §6.2",
)
def duration_cdfs(con: duckdb.DuckDBPyConnection) -> Result:
    tables: list[Table] = []
    summary: list[dict[str, Any]] = []
    all_totals: list[dict[str, Any]] = []
    for metric in m.METRICS:
        span = m.value_range(con, metric)
        if span is None:
            counts, totals = [], []
        else:
            edges = m.fine_edges(*span, metric.landmarks)
            counts = m.histogram(con, metric, edges)
            if metric.five_min_edge:
                extra = (metric.five_min,)
                totals = m.histogram(con, metric, m.fine_edges(*span, metric.landmarks, extra))
            else:
                totals = counts
        unit = metric.unit
        tables.append(
            _table(
                f"{metric.name}_count_cdf",
                f"{metric.label.capitalize()} ({unit}): CDF by count on fine log bins",
                counts,
                COUNT_COLUMNS,
            )
        )
        all_totals += [{"metric": metric.name, "unit": unit, **r} for r in totals]
        summary += [
            {"metric": metric.name, "unit": unit, **r} for r in m.summary(con, metric) if r["n"]
        ]
    tables.insert(
        0,
        _table(
            "duration_summary", "Count, mean, percentiles, max, hours", summary, SUMMARY_COLUMNS
        ),
    )
    tables.append(
        _table(
            "duration_total_cdf",
            "CDFs by total time on fine log bins (the total-time edges: + 300 s for tool latency "
            "and human wait)",
            all_totals,
            {"metric": ("metric", "text"), "unit": ("unit", "text"), **TOTAL_COLUMNS},
        )
    )
    human = next(x for x in m.METRICS if x.name == "human_wait")
    curves = quantile_curve(con, human.from_sql, human.value)
    curves |= quantile_curve(con, human.from_sql, human.value, group="provider")
    ecdf = curve_table(
        "human_wait_ecdf", "Human wait ECDF (s), all and per provider", curves, "human wait (s)"
    )
    return Result([*tables, ecdf], _text(summary))


def _text(summary: list[dict[str, Any]]) -> str:
    by = {(r["metric"], r["provider"]): r for r in summary}
    parts = []
    for metric in m.METRICS:
        r = by.get((metric.name, m.ALL))
        if r is None:
            parts.append(f"no positive {metric.label}")
            continue
        kind = "ms" if metric.unit == "ms" else "s"
        parts.append(
            f"{count(r['n'])} {metric.plural}, median {format_value(r['p50'], kind)}, "
            f"p99 {format_value(r['p99'], kind)}, {r['hours']:,.1f} h in total"
            + (
                f" ({r['hours_le_5min']:,.1f} h from values ≤ 5 min)"
                if metric.five_min_edge
                else ""
            )
        )
    return "Over all providers: " + "; ".join(parts) + "."


def _inset(ax: Any, stats: list[dict[str, Any]], unit: str) -> None:
    lines = [
        f"{r['provider']}: n={r['n']:,} p25={r['p25']:.3g} p50={r['p50']:.3g} "
        f"p90={r['p90']:.3g} p99={r['p99']:.3g} mean={r['avg']:.3g} {unit}"
        for r in stats
    ]
    ax.text(
        0.02,
        0.98,
        "\n".join(lines),
        transform=ax.transAxes,
        va="top",
        fontsize=6,
        family="monospace",
        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0},
    )


@duration_cdfs.figures
def _(result: Result) -> list[Figure]:
    summary = result.table("duration_summary").records()
    table = result.table("duration_total_cdf")
    every = table.records()
    fig, axes = new_figure(nrows=len(m.METRICS), ncols=2, width=10.0, height=9.6, squeeze=False)
    for row, metric in enumerate(m.METRICS):
        rows = [r for r in every if r["metric"] == metric.name]
        groups = list(dict.fromkeys(r["provider"] for r in rows))
        stats = [
            {
                "provider": r["provider"],
                "n": r["n"],
                "avg": r["mean"],
                **{k: r[k] for k in ("p25", "p50", "p90", "p99")},
            }
            for r in summary
            if r["metric"] == metric.name and r["provider"] != m.ALL
        ]
        count_ax, total_ax = axes[row]
        for j, g in enumerate(groups):
            pts = [r for r in rows if r["provider"] == g]
            color = provider_color(g, j)
            xs = [r["bin hi"] for r in pts]
            count_ax.step(
                xs, [r["cumulative count"] for r in pts], where="post", color=color, label=g
            )
            total_ax.step(
                xs, [r["cumulative hours"] for r in pts], where="post", color=color, label=g
            )
        if metric.five_min_edge and groups:
            total_ax.axvline(metric.five_min, color="#888888", ls=":", lw=1)
            le = {r["provider"]: r["≤ 5 min (h)"] for r in summary if r["metric"] == metric.name}
            total_ax.text(
                0.02,
                0.98,
                "Σ ≤ 5 min: " + ", ".join(f"{g} {le[g]:,.2f} h" for g in groups),
                transform=total_ax.transAxes,
                va="top",
                fontsize=7,
            )
        if metric.name == "human_wait" and groups:
            shown = [r for r in rows if r["bin hi"] <= HUMAN_PLOT_MAX_S]
            for ax, col in ((count_ax, "cumulative count"), (total_ax, "cumulative hours")):
                ax.set_ylim(0, max((r[col] for r in shown), default=0) * 1.1 or 1)
        for ax, ylabel in ((count_ax, "cumulative count"), (total_ax, "cumulative hours")):
            if not groups:
                no_data(ax, f"no positive {metric.label}")
                continue
            ax.set_xscale("log")
            ax.set_xlabel(f"{metric.label} ({metric.unit}, log)")
            ax.set_ylabel(ylabel)
            if metric.name == "human_wait":
                ax.set_xlim(right=HUMAN_PLOT_MAX_S)
            ax.legend(loc="lower right", fontsize=7)
        if groups:
            _inset(count_ax, stats, metric.unit)
    fig.suptitle("CDFs by count (left) and by total time (right)")
    figures = [
        Figure(
            name="duration_total_cdf",
            title="Generation spans, tool latencies, human waits: CDFs by count and total time",
            figure=fig,
            data=table,
            caption="Cumulative count (left) and cumulative hours (right) at each fine-bin upper "
            "edge, per provider, log x; rows: generation span (s), tool latency (ms), human "
            "wait (s, truncated at 1 h). Insets: n, linear p25/p50/p90/p99 and mean.",
        )
    ]
    ecdf = result.table("human_wait_ecdf")
    fig, ax = new_figure(width=6.4, height=3.8)
    curves: dict[str, list[tuple[float, float]]] = {}
    for g, v, q in ecdf.rows:
        curves.setdefault(g, []).append((v, q))
    for j, (g, pts) in enumerate(curves.items()):
        plot_cdf(ax, pts, label=g, color=provider_color(g, j))
    if curves:
        ax.set_xlabel("human wait (s, log)")
        ax.legend(loc="lower right")
    else:
        no_data(ax)
    figures.append(
        Figure(
            name="human_wait_ecdf",
            title="Human wait ECDF: all and per provider",
            figure=fig,
            data=ecdf,
            caption="Empirical CDF of the positive human waits (s, log), all providers and each.",
        )
    )
    return figures
