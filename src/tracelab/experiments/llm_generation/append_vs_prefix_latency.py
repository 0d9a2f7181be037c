"""`llm_generation/append_vs_prefix_latency` (amendments §2): are append-heavy steps slower than
prefix-heavy steps of the same size — the append-aware prefill opportunity?
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import records
from tracelab.experiments.fmt import count, dur, format_value
from tracelab.experiments.llm_generation._shared import _plotly_layout
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure
from tracelab.metrics import append_prefix as ap

#: Figure (b) bins: append share in steps of this, normalized duration in log2 steps of this.
SHARE_BIN = 0.05
NORM_BIN = 0.25


@experiment(
    "llm_generation/append_vs_prefix_latency",
    title="Append-heavy vs prefix-heavy segment latency",
    question="At the same context size and output, are segments that prefill many newly appended "
    "tokens slower than segments served mostly from the prompt cache?",
    definitions=f"""
- No paper item: the reference's test of an append-aware prefill opportunity.
- **Segments**: the *full* timing segments of a step (amendments §1): the latest
  `user_message`/`tool_result` at or before the step's latest `tool_call` → that tool call;
  kind `<provider>_<start>_to_tool_call`; out = the step's output tokens O. Segments with a
  duration ≤ 0 do not exist.
- **Rows**: total context (`input_tokens_total`, else prefix + append) ≥ {ap.MIN_TOTAL:,} and
  duration ≥ {ap.MIN_DURATION_MS} ms; then per (provider, model, kind) durations above the
  linear p99 are trimmed.
- **Append-heavy**: append/total ≥ {ap.APPEND_SHARE} and append ≥ {ap.MIN_APPEND:,};
  otherwise **prefix-heavy**: append/total ≤ {ap.PREFIX_SHARE} and prefix ≥ {ap.MIN_PREFIX:,};
  other rows belong to neither class.
- **Bucket**: (provider, model, kind, `floor(log2 total / {ap.TOTAL_BIN_WIDTH})`,
  `floor(log2 out / {ap.OUT_BIN_WIDTH})`); out = 0 is bucket −1 (the reference leaves log2 0
  undefined). A bucket qualifies with ≥ {ap.MIN_CLASS_ROWS} rows of each class.
- **Per bucket**: ratio = median append-heavy / median prefix-heavy duration (medians average
  the middle pair); P = (#(append, prefix) pairs with the append row slower + 0.5 · #ties) /
  #pairs; Cliff's δ = 2P − 1; normalized duration = duration / the bucket's prefix-heavy
  median; threshold = the first distinct normalized value (ascending) maximizing the balanced
  accuracy of "normalized > threshold ⇒ append-heavy", kept only when it beats 0.5.
- **Global**: P weighted by pairs, the median of the bucket ratios, the threshold over the
  pooled normalized values of all qualifying buckets. **Verdict**: P ≥ {ap.CLEAR_P} and
  balanced accuracy ≥ {ap.CLEAR_BA} and ratio ≥ {ap.CLEAR_RATIO} → *clear separation*;
  else P > {ap.SLOWER_P} → *slower but not separable*; else *rejected*.
""",
    study_item="amendments §2",
)
def append_vs_prefix_latency(con: duckdb.DuckDBPyConnection) -> Result:
    ap.prepare_append_prefix(con)
    buckets = records(con, ap.BUCKET_STATS_SQL)
    bucket_table = _bucket_table(buckets)
    counts = records(
        con,
        """
        SELECT (SELECT count(*) FROM timing_segments WHERE is_full) AS full_segments,
               count(*) AS kept_rows,
               count(*) FILTER (WHERE cls = 'append') AS append_heavy,
               count(*) FILTER (WHERE cls = 'prefix') AS prefix_heavy,
               (SELECT count(*) FROM ap_rows) AS rows_in_buckets
        FROM ap_candidates
        """,
    )[0]
    pooled = records(con, ap.threshold_sql(""))
    pooled_ba = pooled[0]["balanced_accuracy"] if pooled else 0.5
    pooled_thr = pooled[0]["threshold"] if pooled else None
    pairs = sum(b["pairs"] for b in buckets)
    p_global = sum(b["u_append"] for b in buckets) / pairs if pairs else None
    ratio = _median([b["ratio"] for b in buckets])
    verdict = ap.verdict(p_global, pooled_ba, ratio)
    summary_cols = [
        "full_segments",
        "kept_rows",
        "append_heavy",
        "prefix_heavy",
        "buckets",
        "rows_in_buckets",
        "pairs",
        "p_slower",
        "cliffs_delta",
        "median_ratio",
        "threshold",
        "balanced_accuracy",
        "verdict",
    ]
    summary = Table(
        name="append_vs_prefix_summary",
        title="Pooled comparison and verdict",
        columns=summary_cols,
        rows=[
            [
                counts["full_segments"],
                counts["kept_rows"],
                counts["append_heavy"],
                counts["prefix_heavy"],
                len(buckets),
                counts["rows_in_buckets"],
                pairs,
                p_global,
                None if p_global is None else 2 * p_global - 1,
                ratio,
                pooled_thr,
                pooled_ba,
                verdict,
            ]
        ],
        kinds={
            **{c: "int" for c in summary_cols[:7]},
            "p_slower": "float3",
            "cliffs_delta": "float3",
            "median_ratio": "float2",
            "threshold": "float3",
            "balanced_accuracy": "float3",
        },
    )
    scatter = _share_table(con)
    text = _text(counts, len(buckets), pairs, p_global, ratio, pooled_ba, pooled_thr, verdict)
    return Result([summary, bucket_table, scatter], text)


def _median(values: list[float]) -> float | None:
    """Median averaging the middle pair (the study's convention)."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


BUCKET_COLS = [
    "provider",
    "model",
    "kind",
    "total_bin",
    "out_bin",
    "total_lo",
    "out_lo",
    "append_rows",
    "prefix_rows",
    "pairs",
    "median_append_ms",
    "median_prefix_ms",
    "ratio",
    "p_slower",
    "cliffs_delta",
    "threshold",
    "balanced_accuracy",
]


def _bucket_table(buckets: list[dict[str, Any]]) -> Table:
    body = []
    for b in buckets:
        b["total_lo"] = 2 ** (b["total_bin"] * ap.TOTAL_BIN_WIDTH)
        b["out_lo"] = 0 if b["out_bin"] < 0 else 2 ** (b["out_bin"] * ap.OUT_BIN_WIDTH)
        body.append([b[c] for c in BUCKET_COLS])
    return Table(
        name="append_vs_prefix_buckets",
        title="Per bucket: append-heavy vs prefix-heavy durations",
        columns=BUCKET_COLS,
        rows=body,
        kinds={
            "total_bin": "int",
            "out_bin": "int",
            "total_lo": "tokens",
            "out_lo": "tokens",
            "append_rows": "int",
            "prefix_rows": "int",
            "pairs": "int",
            "median_append_ms": "ms",
            "median_prefix_ms": "ms",
            "ratio": "float2",
            "p_slower": "float3",
            "cliffs_delta": "float3",
            "threshold": "float3",
            "balanced_accuracy": "float3",
        },
        note="total_lo / out_lo: the lower edge of the bucket (2^(bin·width) tokens).",
    )


def _share_table(con: duckdb.DuckDBPyConnection) -> Table:
    recs = records(
        con,
        f"""
        SELECT cls, CAST(floor(append_share / {SHARE_BIN}) AS INTEGER) AS share_bin,
               CAST(floor(log2(norm) / {NORM_BIN}) AS INTEGER) AS norm_bin, count(*) AS rows
        FROM ap_rows WHERE norm > 0 GROUP BY ALL ORDER BY cls, share_bin, norm_bin
        """,
    )
    return Table(
        name="share_vs_normalized_duration",
        title="Rows of qualifying buckets per append-share bin and normalized-duration bin",
        columns=["class", "share_lo", "normalized_lo", "rows"],
        rows=[
            [r["cls"], r["share_bin"] * SHARE_BIN, 2 ** (r["norm_bin"] * NORM_BIN), r["rows"]]
            for r in recs
        ],
        kinds={"share_lo": "pct", "normalized_lo": "float2", "rows": "int"},
        note=f"Bins: append share in steps of {SHARE_BIN:.0%}; normalized duration in log2 steps "
        f"of {NORM_BIN} (normalized_lo = the bin's lower edge).",
    )


def _text(
    counts: dict[str, Any],
    n_buckets: int,
    pairs: int,
    p: float | None,
    ratio: float | None,
    ba: float,
    thr: float | None,
    verdict: str,
) -> str:
    base = (
        f"Of {count(counts['full_segments'])} full segments, {count(counts['kept_rows'])} pass "
        f"the size, duration and p99 filters: {count(counts['append_heavy'])} append-heavy and "
        f"{count(counts['prefix_heavy'])} prefix-heavy."
    )
    if not n_buckets:
        return (
            f"{base} No bucket has at least {ap.MIN_CLASS_ROWS} rows of both classes, so the "
            "comparison is not made on this trace (verdict: no qualifying bucket)."
        )
    thr_text = (
        f"the best threshold ({format_value(thr, 'float2')}× the bucket's prefix-heavy median) "
        f"reaches a balanced accuracy of {format_value(ba, 'float3')}"
        if thr is not None
        else "no threshold separates the classes better than chance"
    )
    return (
        f"{base} {count(n_buckets)} buckets qualify ({count(pairs)} pairs): an append-heavy "
        f"segment is slower than a prefix-heavy one of its bucket with probability "
        f"{format_value(p, 'float3')}, the median bucket ratio is {format_value(ratio, 'float2')}"
        f"×, and {thr_text}. Verdict: **{verdict}**."
    )


@append_vs_prefix_latency.figures
def _(result: Result) -> list[Figure]:
    buckets = result.table("append_vs_prefix_buckets")
    scatter = result.table("share_vs_normalized_duration")
    fig, (ax1, ax2) = new_figure(ncols=2, width=10.0, height=3.8)
    recs = buckets.records()
    if recs:
        ax1.scatter(
            range(len(recs)),
            [r["ratio"] for r in recs],
            s=[8 + 40 * r["pairs"] / max(b["pairs"] for b in recs) for r in recs],
            color="#4c72b0",
        )
        ax1.axhline(1.0, color="grey", lw=0.8)
        ax1.axhline(ap.CLEAR_RATIO, color="#c44e52", lw=0.8, ls="--", label="ratio 1.5")
        ax1.set_yscale("log", base=2)
        ax1.legend(fontsize=7)
    else:
        no_data(ax1, "no bucket with both classes")
    ax1.set_xlabel("bucket (provider, model, kind, total, out — table order)")
    ax1.set_ylabel("median append-heavy / prefix-heavy")
    ax1.set_title("(a) bucket ratios (size ∝ pairs)")
    srecs = scatter.records()
    if srecs:
        top = max(r["rows"] for r in srecs)
        for cls, color in (("append", "#c44e52"), ("prefix", "#4c72b0")):
            pts = [r for r in srecs if r["class"] == cls]
            ax2.scatter(
                [r["share_lo"] + SHARE_BIN / 2 for r in pts],
                [r["normalized_lo"] * 2 ** (NORM_BIN / 2) for r in pts],
                s=[6 + 60 * r["rows"] / top for r in pts],
                color=color,
                alpha=0.6,
                label=f"{cls}-heavy",
            )
        ax2.set_yscale("log", base=2)
        ax2.axhline(1.0, color="grey", lw=0.8)
        ax2.legend(fontsize=7)
    else:
        no_data(ax2, "no bucket with both classes")
    ax2.set_xlabel("append share of total context")
    ax2.set_ylabel("duration / bucket's prefix-heavy median")
    ax2.set_title("(b) append share vs normalized duration (size ∝ rows)")
    return [
        Figure(
            name="append_vs_prefix_latency",
            title="Append-heavy vs prefix-heavy latency",
            figure=fig,
            data=buckets,
            caption="(a) Median append-heavy over prefix-heavy duration per qualifying bucket "
            "(log₂ scale); (b) rows of the qualifying buckets by append share and normalized "
            "duration (the `share_vs_normalized_duration` table).",
            interactive=_plotly(recs),
        )
    ]


def _plotly(recs: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    if recs:
        fig.add_trace(
            go.Scatter(
                x=list(range(len(recs))),
                y=[r["ratio"] for r in recs],
                text=[
                    f"{r['kind']} {r['model']}<br>total ≥ {r['total_lo']:.0f}, out ≥ "
                    f"{r['out_lo']:.0f}<br>{r['pairs']} pairs, P = {r['p_slower']:.2f}<br>"
                    f"append {dur(r['median_append_ms'])} vs prefix {dur(r['median_prefix_ms'])}"
                    for r in recs
                ],
                hovertemplate="ratio %{y:.2f}<br>%{text}<extra></extra>",
                mode="markers",
            )
        )
    fig.update_yaxes(type="log", title_text="median append-heavy / prefix-heavy")
    fig.update_xaxes(title_text="bucket")
    return _plotly_layout(fig, "Append-heavy vs prefix-heavy latency per bucket")
