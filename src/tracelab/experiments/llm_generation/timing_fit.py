"""`llm_generation/timing_fit` (amendments §1, with timing_feature_ambiguity): how much of a
segment's duration do its token counts explain, and how much could any function of them?
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import records
from tracelab.experiments.fmt import count, format_value, pct
from tracelab.experiments.llm_generation._shared import _plotly_layout
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import timing_ambiguity as ta
from tracelab.metrics import timing_fit as tf
from tracelab.metrics.timing_segments import FULL_SUFFIX

#: The ambiguity summary keeps this kind suffix and this many groups (largest first).
SUMMARY_SUFFIX = "_tool_result" + FULL_SUFFIX
SUMMARY_TOP = 16
METRIC_KINDS = {
    "rmse_ms": "ms",
    "mae_ms": "ms",
    "mape_mean": "pct",
    "mape_median": "pct",
    "mape_p90": "pct",
    "smooth_mean": "float3",
    "log_ratio_mean": "float3",
    "ratio_p10": "float2",
    "ratio_p50": "float2",
    "ratio_p90": "float2",
    "r2": "float3",
}
RATIOS = (("mae_ms", "mae_ms"), ("mape_mean", "mape"), ("smooth_mean", "smooth"))


@experiment(
    "llm_generation/timing_fit",
    title="Timing fit: segment duration from token counts, and its ambiguity floor",
    question="How much of an LLM segment's duration do its prefix, append and output token "
    "counts explain — and how much could any function of those counts explain?",
    definitions=f"""
- No paper item: it backs §5.4 ("context length alone does not explain the spread").
- **Segments** (one per span of a step; "latest X" = greatest timestamp, the first in event
  order on ties): `<provider>_<start>_to_tool_call` = the latest `user_message`/`tool_result`
  at or before the step's latest `tool_call` → that tool call, tokens = output O; Codex also
  `codex_<start>_to_reasoning_end` (the latest input event ≤ the latest `reasoning` → it,
  tokens max(0, R)) and `codex_reasoning_end_to_tool_call` (latest reasoning → the latest
  tool call when not earlier, tokens max(0, O − R)). Durations ≤ 0 are dropped; ms rounded to
  3 decimals.
- **Fit group** = provider::model::kind; durations above the group's linear p99 are trimmed;
  groups with fewer than {tf.MIN_ROWS} rows after the trim are **skipped** (listed as such).
- **Features** (tokens ÷ {tf.TOKEN_UNIT:,.0f}; p = prefix, a = append, o = segment tokens):
  {", ".join(f"`{f}`" for f in tf.FEATURES)}.
- **Split**: the test set is the first max(1, round({tf.TEST_SHARE}·n)) indices of
  `numpy.random.default_rng({tf.SEED}).permutation(n)` (rows in file order, a fresh generator
  per group); the rest trains.
- **Fits** (least squares): `raw` (duration, predictions floored at {tf.PRED_FLOOR:g}); `log`
  (log duration, prediction = exp); `weighted` (weights 1/(d + {tf.SMOOTH_MS:.0f} ms)²).
- **Test metrics**: RMSE, MAE, APE = |pred − d|/d (mean, median, p90), smooth error
  |pred − d|/(d + {tf.SMOOTH_MS:.0f} ms), mean |log(pred/d)|, pred/d p10/p50/p90, R² in the
  fit's target space (raw: d; log: log d; weighted: d/(d + 1000) — our reading; the reference
  does not say).
- **Ambiguity floors**: *exact* sets = identical (prefix, append, segment tokens) within a
  group, untrimmed, ≥ {ta.EXACT_MIN_ROWS} rows; *local* sets = groups with ≥
  {ta.LOCAL_MIN_GROUP:,} trimmed rows, buckets `floor(log2 x / {ta.LOCAL_BIN_WIDTH})` of each
  token count (0 tokens = bucket −1: the reference leaves log2 0 undefined), ≥
  {ta.LOCAL_MIN_ROWS} rows. Best constant per set: median (MAE), weighted median with weights
  1/d (APE) or 1/(d + 1000) (smooth) = the first sorted duration whose cumulative weight
  reaches half. Floors = row-weighted mean losses; local sets also report the row-weighted
  mean p10/median and p90/median.
- **Comparison** = each fit's test MAE, mean APE and smooth error ÷ the group's local floor;
  the summary keeps `*{SUMMARY_SUFFIX}` groups, the {SUMMARY_TOP} largest.
""",
    study_item="amendments §1",
)
def timing_fit(con: duckdb.DuckDBPyConnection) -> Result:
    fits = tf.fit_all(con)
    groups = _groups_table(con, fits)
    coefs = Table(
        name="timing_fit_coefficients",
        title="Least-squares coefficients per fit group (ms per feature unit; log fit: ln ms)",
        columns=["fit_group", "fit", "train_rows", *tf.FEATURES],
        rows=[
            [f.group, name, f.rows - f.n_test, *f.coefs[name]]
            for f in fits
            if not f.skipped
            for name in tf.FITS
        ],
        kinds={"train_rows": "int", **{c: "float" for c in tf.FEATURES}},
    )
    metrics = Table(
        name="timing_fit_metrics",
        title="Test-set metrics per fit group and fit",
        columns=["fit_group", "fit", "test_rows", *tf.METRICS],
        rows=[
            [f.group, name, f.n_test, *(f.metrics[name][m] for m in tf.METRICS)]
            for f in fits
            if not f.skipped
            for name in tf.FITS
        ],
        kinds={"test_rows": "int", **METRIC_KINDS},
    )
    exact = _floor_table("ambiguity_exact", "Exact-duplicate floors", ta.exact_floors(con))
    local = _floor_table("ambiguity_local", "Local-bucket floors", ta.local_floors(con))
    comparison, summary = _comparison(metrics, local, groups)
    text = _text(fits, exact, local)
    return Result([groups, coefs, metrics, exact, local, comparison, summary], text)


def _groups_table(con: duckdb.DuckDBPyConnection, fits: list[tf.GroupFit]) -> Table:
    recs = records(
        con,
        """
        SELECT fit_group, any_value(provider) AS provider, any_value(model) AS model,
               any_value(kind) AS kind, count(*) AS segments, count(*) FILTER (WHERE in_trim)
               AS trimmed_rows, any_value(trim_p99) AS p99_ms,
               quantile_cont(duration_ms, 0.5) AS median_ms
        FROM timing_segments GROUP BY fit_group ORDER BY fit_group
        """,
    )
    skip = f"skipped (< {tf.MIN_ROWS} rows)"
    status = {f.group: skip if f.skipped else "fitted" for f in fits}
    cols = ["fit_group", "provider", "model", "kind", "segments", "trimmed_rows", "p99_ms"]
    return Table(
        name="timing_segments_by_group",
        title="Timing segments per fit group",
        columns=[*cols, "median_ms", "status"],
        rows=[[*(r[c] for c in cols), r["median_ms"], status[r["fit_group"]]] for r in recs],
        kinds={"segments": "int", "trimmed_rows": "int", "p99_ms": "ms", "median_ms": "ms"},
    )


def _floor_table(name: str, title: str, rows: list[tuple]) -> Table:
    return Table(
        name=name,
        title=title,
        columns=["fit_group", *ta.FLOOR_COLUMNS],
        rows=[list(r) for r in rows],
        kinds={
            "sets": "int",
            "rows": "int",
            "mae_ms": "ms",
            "mape": "pct",
            "smooth": "float3",
            "p10_ratio": "float2",
            "p90_ratio": "float2",
        },
    )


def _comparison(metrics: Table, local: Table, groups: Table) -> tuple[Table, Table]:
    floors = {r["fit_group"]: r for r in local.records()}
    cols = ["fit_group", "fit", "mae_ratio", "mape_ratio", "smooth_ratio"]
    body = []
    for m in metrics.records():
        floor = floors.get(m["fit_group"])
        if floor is None:
            continue
        body.append(
            [
                m["fit_group"],
                m["fit"],
                *(m[a] / floor[b] if floor[b] else None for a, b in RATIOS),
            ]
        )
    kinds = {"mae_ratio": "float2", "mape_ratio": "float2", "smooth_ratio": "float2"}
    comparison = Table(
        name="ambiguity_comparison",
        title="Fit test metrics ÷ local-bucket floors",
        columns=cols,
        rows=body,
        kinds=kinds,
    )
    sizes = {r["fit_group"]: r["trimmed_rows"] for r in groups.records()}
    keep = sorted(
        {r[0] for r in body if r[0].endswith(SUMMARY_SUFFIX)}, key=lambda g: (-sizes[g], g)
    )[:SUMMARY_TOP]
    summary = Table(
        name="ambiguity_summary",
        title=f"Summary: `*{SUMMARY_SUFFIX}` groups, the {SUMMARY_TOP} largest",
        columns=[*cols[:2], "rows", *cols[2:]],
        rows=[[r[0], r[1], sizes[r[0]], *r[2:]] for g in keep for r in body if r[0] == g],
        kinds={"rows": "int", **kinds},
    )
    return comparison, summary


def _text(fits: list[tf.GroupFit], exact: Table, local: Table) -> str:
    if not fits:
        return "The trace has no timing segment (no step with a tool call after an input event)."
    fitted = [f for f in fits if not f.skipped]
    skipped = len(fits) - len(fitted)
    parts = [
        f"{count(len(fits))} fit groups; {count(skipped)} skipped with fewer than "
        f"{tf.MIN_ROWS} rows after the p99 trim."
    ]
    if not fitted:
        parts.append("No group is large enough to fit, so no coefficients or metrics are given.")
    for f in sorted(fitted, key=lambda f: -f.rows)[:3]:
        m = f.metrics
        parts.append(
            f"{f.group} ({count(f.rows)} rows, {count(f.n_test)} test): median APE "
            f"{pct(m['raw']['mape_median'])} raw, {pct(m['log']['mape_median'])} log, "
            f"{pct(m['weighted']['mape_median'])} weighted; raw R² "
            f"{format_value(m['raw']['r2'], 'float3')}."
        )
    if exact.rows:
        big = max(exact.records(), key=lambda r: r["rows"])
        parts.append(
            f"Exact duplicates: in {big['fit_group']}, {count(big['rows'])} rows share their "
            f"token counts with another row, and the best constant per set still leaves a "
            f"mean APE of {pct(big['mape'])}."
        )
    else:
        parts.append("No two segments of a group share all three token counts.")
    if not local.rows:
        parts.append(
            f"No group has {ta.LOCAL_MIN_GROUP:,} trimmed rows, so no local floor is computed."
        )
    return " ".join(parts)


@timing_fit.figures
def _(result: Result) -> list[Figure]:
    metrics = result.table("timing_fit_metrics")
    recs = metrics.records()
    groups = list(dict.fromkeys(metrics.column("fit_group")))
    fig, ax = new_figure(width=7.5, height=max(2.6, 0.45 * len(groups) + 1.4))
    if recs:
        colors = {"raw": "#4c72b0", "log": "#55a868", "weighted": "#c44e52"}
        for i, name in enumerate(tf.FITS):
            pts = [r for r in recs if r["fit"] == name]
            ax.barh(
                [groups.index(r["fit_group"]) + (i - 1) * 0.27 for r in pts],
                [r["mape_median"] for r in pts],
                height=0.25,
                color=colors[name],
                label=name,
            )
        ax.set_yticks(range(len(groups)), [g.replace("::", "\n", 1) for g in groups], fontsize=6)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
    else:
        no_data(ax, f"no fit group with ≥ {tf.MIN_ROWS} rows")
    ax.set_xlabel("median absolute percentage error on the test set")
    ax.set_title("Timing fit — test-set median APE per group")
    return [
        Figure(
            name="timing_fit_mape",
            title="Timing fit — test-set median APE per group and fit",
            figure=fig,
            data=metrics,
            caption="Median |pred − d| / d on each group's test split for the raw, log and "
            "weighted least-squares fits.",
            interactive=_plotly(recs, groups),
        )
    ]


def _plotly(recs: list[dict[str, Any]], groups: list[str]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in tf.FITS:
        pts = [r for r in recs if r["fit"] == name]
        if pts:
            fig.add_trace(
                go.Bar(
                    y=[r["fit_group"] for r in pts],
                    x=[r["mape_median"] for r in pts],
                    orientation="h",
                    name=name,
                    hovertemplate="%{y}<br>median APE %{x:.1%}<extra>" + name + "</extra>",
                )
            )
    fig.update_xaxes(title_text="median APE (test set)", tickformat=".0%")
    return _plotly_layout(
        fig, "Timing fit — median APE per group", barmode="group", height=300 + 30 * len(groups)
    )
