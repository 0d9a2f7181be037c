"""`llm_generation/token_spindles` (amendments §9): the shapes of the prefix, the adjusted append
and the output side by side, as smoothed density spindles on one log axis.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import records, rows
from tracelab.experiments.fmt import format_value, human_tokens
from tracelab.experiments.llm_generation.adjusted_prefix_append import adjusted_sql
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.pairs import prepare_pairs

#: The axis: x = log2(v + OFFSET) − log2(OFFSET), so 0 tokens sit at 0.
OFFSET = 32
#: The axis always reaches at least x(2 Mi tokens).
AXIS_MIN_TOP = 2_097_152
BINS = 239
SIGMA_BINS = 2.4
KERNEL_RADIUS = 10
HALF_WIDTH = 0.34
TICK_QUANTILES = (0.25, 0.5, 0.9, 0.99)

#: The three distributions: name → (value, FROM clause). Prefix and adjusted append over the
#: pairs (visible-for-codex policy), output over every step.
METRICS: dict[str, tuple[str, str]] = {
    "prefix": ("prefix", f"FROM ({adjusted_sql('visible-for-codex')})"),
    "adjusted_append": ("adjusted", f"FROM ({adjusted_sql('visible-for-codex')})"),
    "output": ("output", "FROM step_facts"),
}


def x_of(v: str | float) -> Any:
    """The axis position of token count v (SQL expression when v is a string)."""
    if isinstance(v, str):
        return f"(log2({v} + {OFFSET}) - {math.log2(OFFSET)})"
    return math.log2(v + OFFSET) - math.log2(OFFSET)


def smooth(counts: np.ndarray) -> np.ndarray:
    """Gaussian smoothing (σ = 2.4 bins, radius 10, zero outside), scaled to a maximum of 1."""
    k = np.arange(-KERNEL_RADIUS, KERNEL_RADIUS + 1)
    kernel = np.exp(-0.5 * (k / SIGMA_BINS) ** 2)
    kernel /= kernel.sum()
    dens = np.convolve(counts.astype(float), kernel, mode="same")
    top = dens.max()
    return dens / top if top > 0 else dens


def _stats_sql() -> str:
    parts = []
    for name, (v, src) in METRICS.items():
        parts.append(
            f"SELECT '{name}' AS metric, count({v}) AS count, count({v}) FILTER (WHERE {v} > 0) "
            f"AS positive, count({v}) FILTER (WHERE {v} = 0) AS zero, "
            f"quantile_cont({v}, [0.25, 0.5, 0.9, 0.95, 0.99]) AS qs, min({v}) AS min, "
            f"max({v}) AS max {src}"
        )
    return " UNION ALL ".join(parts)


@experiment(
    "llm_generation/token_spindles",
    title="Prefix, adjusted append and output: density spindles",
    question="How do the distributions of the prefix, the append without the resent output and "
    "the output compare in shape and scale, on one axis?",
    definitions=f"""
- **Pairs** as in `llm_generation/adjusted_prefix_append` (exact round_index step of 1), but
  the subtracted previous output follows the *visible-for-codex* policy: `P.O` for a Claude P,
  the visible output `P.V = max(0, P.O − P.R)` for every Codex P (this reading — every Codex
  model, not only the default policy's `gpt-5.5` — is ours; the amendments say "same policy,
  Codex proxy = visible V").
- Pooled over providers: **prefix** = S.prefix over the pairs; **adjusted append** =
  `max(0, S.append − subtracted)` over the pairs; **output** = O of **every** step.
- Axis `x = log2(v + {OFFSET}) − {int(math.log2(OFFSET))}`; {BINS} equal bins on
  `[0, x(max(every value, {AXIS_MIN_TOP:,}))]` (the last bin closed); counts smoothed by a
  Gaussian of σ = {SIGMA_BINS} bins (radius {KERNEL_RADIUS}, zero outside the range), scaled
  to a maximum of 1; a spindle's half-width is {HALF_WIDTH}·density. Ticks on each spindle:
  its linear p25, p50, p90, p99.
- Table: count, positive, zero, p25, median, p90, p95, p99, min, max per distribution; the
  figure's CSV lists each bin's raw count and smoothed density.
""",
    study_item="— (reference analysis, companion to Table 8)",
)
def token_spindles(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_pairs(con)
    stats = records(con, _stats_sql())
    table = Table(
        name="token_spindle_stats",
        title="The three distributions",
        columns=[
            "metric",
            "count",
            "positive",
            "zero",
            "p25",
            "median",
            "p90",
            "p95",
            "p99",
            "min",
            "max",
        ],
        rows=[
            [
                r["metric"],
                r["count"],
                r["positive"],
                r["zero"],
                *(r["qs"] or [None] * 5),
                r["min"],
                r["max"],
            ]
            for r in stats
        ],
        kinds={"count": "int", "positive": "int", "zero": "int", "min": "int", "max": "int"}
        | {c: "float" for c in ("p25", "median", "p90", "p95", "p99")},
    )
    return Result([table, _density_table(con, stats)], _text(table))


def _density_table(con: duckdb.DuckDBPyConnection, stats: list[dict[str, Any]]) -> Table:
    """Per distribution and bin: the bin's range on the axis, its count, the smoothed density."""
    top = max([AXIS_MIN_TOP, *(r["max"] for r in stats if r["max"] is not None)])
    width = x_of(float(top)) / BINS
    body: list[list[Any]] = []
    for name, (v, src) in METRICS.items():
        got = rows(
            con,
            f"SELECT least(floor({x_of(v)} / {width!r})::BIGINT, {BINS - 1}) AS b, count(*) "
            f"{src} WHERE {v} IS NOT NULL AND {v} >= 0 GROUP BY b",
        )
        counts = np.zeros(BINS, dtype=np.int64)
        for b, c in got:
            counts[b] = c
        if not counts.any():
            continue
        dens = smooth(counts)
        body.extend(
            [name, b, b * width, (b + 1) * width, int(counts[b]), float(dens[b])]
            for b in range(BINS)
        )
    return Table(
        name="token_spindle_density",
        title="Binned counts and smoothed density per distribution",
        columns=["metric", "bin", "x_lo", "x_hi", "count", "density"],
        rows=body,
        kinds={
            "bin": "int",
            "x_lo": "float3",
            "x_hi": "float3",
            "count": "int",
            "density": "float3",
        },
    )


def _text(table: Table) -> str:
    recs = {r["metric"]: r for r in table.records()}
    if not any(r["count"] for r in recs.values()):
        return "The trace has no steps to draw."
    parts = [
        f"{name.replace('_', ' ')} median {format_value(r['median'], 'tokens')} "
        f"(p99 {format_value(r['p99'], 'tokens')}, n = {format_value(r['count'], 'int')})"
        for name, r in recs.items()
        if r["count"]
    ]
    return "Medians: " + "; ".join(parts) + "."


@token_spindles.figures
def _(result: Result) -> list[Figure]:
    from tracelab.figures.style import SERIES_COLORS, new_figure

    table = result.table("token_spindle_density")
    stats = {r["metric"]: r for r in result.table("token_spindle_stats").records()}
    fig, ax = new_figure(width=6.4, height=4.2)
    names = [m for m in METRICS if any(r[0] == m for r in table.rows)]
    if not names:
        no_data(ax)
    for i, name in enumerate(names):
        recs = [r for r in table.records() if r["metric"] == name]
        y = np.array([(r["x_lo"] + r["x_hi"]) / 2 for r in recs])
        half = HALF_WIDTH * np.array([r["density"] for r in recs])
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        ax.fill_betweenx(y, i - half, i + half, color=color, alpha=0.6, lw=0)
        s = stats[name]
        for q in ("p25", "median", "p90", "p99"):
            if s[q] is not None:
                ax.hlines(x_of(float(s[q])), i - 0.2, i + 0.2, color="black", lw=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace("_", " ") for n in names])
    ticks = [0, 1024, 32_768, 1_048_576]
    ax.set_yticks([x_of(float(t)) for t in ticks])
    ax.set_yticklabels([human_tokens(t) for t in ticks])
    ax.set_ylabel(f"tokens (axis log2(v + {OFFSET}) − {int(math.log2(OFFSET))})")
    ax.set_title("Token spindles (ticks: p25, p50, p90, p99)")
    return [
        Figure(
            name="token_spindles",
            title="Token spindles",
            figure=fig,
            data=table,
            caption="Smoothed densities of the prefix and adjusted append (step pairs) and the "
            "output (every step) on a log axis; ticks at p25, p50, p90 and p99.",
        )
    ]
