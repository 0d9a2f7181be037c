"""`llm_generation/adjusted_prefix_append` (amendments §8): the append once the previous step's
output — which the next request resends — is taken out, against the prefix.
"""

from __future__ import annotations

import random
from typing import Any

import duckdb
import numpy as np

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.pairs import DEFAULT_CODEX_MODEL, prepare_pairs, subtracted_sql
from tracelab.metrics.sql import summary_sql

#: The reference's reservoir: size and seed of `random.Random` (algorithm R, file order).
SAMPLE_SIZE = 80_000
SAMPLE_SEED = 100042
#: The figure's bins per unit of the axis (`1 + log2(v/t0)` is one unit per doubling).
BINS_PER_UNIT = 4

STAT_QUANTILES = (0.5, 0.9, 0.95, 0.99)
STAT_COLUMNS = ["count", "median", "p90", "p95", "p99", "min", "max"]

#: metric → (value expression over `adjusted`, the rows it covers).
METRICS: dict[str, tuple[str, str]] = {
    "raw_append": ("append", "true"),
    "previous_output": ("p_output", "true"),
    "signed_append": ("signed", "true"),
    "adjusted_append": ("adjusted", "true"),
    "subtracted_pair": ("sub", "sub > 0"),
    "clipped_after_subtract": ("signed", "signed < 0"),
}


def adjusted_sql(policy: str) -> str:
    """Each pair's subtracted tokens, signed and adjusted append (over `step_pairs`)."""
    sub = subtracted_sql(policy)
    return f"""
    SELECT round_pk, provider, prefix, append, output, p_output, ({sub}) AS sub,
           append - ({sub}) AS signed, greatest(append - ({sub}), 0) AS adjusted
    FROM step_pairs"""


def _stats_sql(policy: str) -> str:
    parts = []
    for name, (expr, where) in METRICS.items():
        parts.append(
            f"SELECT CASE WHEN grouping(provider) = 1 THEN 'all' ELSE provider END AS provider, "
            f"'{name}' AS metric, {summary_sql(expr, STAT_QUANTILES)} "
            f"FROM ({adjusted_sql(policy)}) WHERE {where} GROUP BY ROLLUP (provider)"
        )
    return " UNION ALL ".join(parts)


def reservoir_indices(n: int, k: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """The positions (in file order) algorithm R keeps of `n` items, as `random.Random(seed)`.

    Algorithm R keeps the first k; item i ≥ k replaces slot `randrange(i + 1)` when it is < k.
    Only those draws consume the generator, so the same sequence of random calls is made here
    by drawing for items k … n−1 only (one C-level call each); which item ends in each slot is
    then resolved with numpy (the last replacement of a slot wins).
    """
    if n <= k:
        return np.arange(n)
    rng = random.Random(seed)
    draw = rng.randrange
    slots = np.fromiter((draw(i + 1) for i in range(k, n)), dtype=np.int64, count=n - k)
    items = np.arange(k, n)
    hit = slots < k
    kept = np.arange(k)
    # the last item written to each slot wins: its first occurrence in the reversed order
    slot_rev, item_rev = slots[hit][::-1], items[hit][::-1]
    written, first = np.unique(slot_rev, return_index=True)
    kept[written] = item_rev[first]
    return np.sort(kept)


def axis_threshold(values: np.ndarray) -> int:
    """t0 of the figure's axis: 1024 when every positive value is ≥ 1024, else 1."""
    pos = values[values > 0]
    return 1024 if pos.size and pos.min() >= 1024 else 1


def axis(values: np.ndarray, t0: int) -> np.ndarray:
    """`1 + log2(v/t0)` for v ≥ t0, `v/t0` below (continuous at t0)."""
    v = values.astype(float) / t0
    return np.where(v >= 1, 1 + np.log2(np.maximum(v, 1)), v)


@experiment(
    "llm_generation/adjusted_prefix_append",
    title="Append without the resent previous output",
    question="How large is each step's append once the previous step's output, which the next "
    "request resends as input, is subtracted — and how does it compare with the prefix?",
    definitions=f"""
- **Pairs**: the steps of each session stable-sorted by round_index (ties: file order); a step
  S and the step P before it form a pair only when `S.round_index = P.round_index + 1`.
- **Subtracted** (the reference's default policy): `P.O` (output incl. reasoning) when P is a
  Claude step or a Codex step of model exactly `{DEFAULT_CODEX_MODEL}`, else 0 (other Codex
  models' appends do not carry the previous output).
- `signed append = S.append − subtracted`; `adjusted append = max(0, signed)`.
- Table per S's provider (and `all`): count, median, linear p90/p95/p99, min, max of the raw
  append, P's output, the signed and adjusted append; `subtracted_pair` covers the pairs
  where something was subtracted (its values: the subtracted tokens) and
  `clipped_after_subtract` the pairs with signed append < 0 (its values: the signed append).
- **Figure**: a reservoir sample of {SAMPLE_SIZE:,} pairs — `random.Random({SAMPLE_SEED})`,
  algorithm R over the pairs in file order (slot `randrange(i + 1)` for pair i ≥
  {SAMPLE_SIZE:,}), as the reference draws it — binned on both axes: S.prefix (x) against the
  adjusted append (y), each on the axis `1 + log2(v/t0)` for v ≥ t0 and `v/t0` below, with
  t0 = 1024 when every positive value of that axis is ≥ 1024, else 1. Bins are
  1/{BINS_PER_UNIT} of a unit; the figure's CSV lists them with their counts.
""",
    study_item="— (reference analysis, related to Fig. 1 / Table 12)",
)
def adjusted_prefix_append(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_pairs(con)
    stats = records(con, _stats_sql("default"))
    order = {p: i for i, p in enumerate(["all", *providers(con)])}
    metric_order = {m: i for i, m in enumerate(METRICS)}
    stats.sort(key=lambda r: (order.get(r["provider"], 99), metric_order[r["metric"]]))
    table = Table(
        name="adjusted_append_stats",
        title="Raw, signed and adjusted append per pair",
        columns=["provider", "metric", *STAT_COLUMNS],
        rows=[
            [
                r["provider"],
                r["metric"],
                r["n"],
                r["p50"],
                r["p90"],
                r["p95"],
                r["p99"],
                r["min"],
                r["max"],
            ]
            for r in stats
            if r["n"]
        ],
        kinds={c: "int" for c in ("count", "min", "max")}
        | {c: "float" for c in ("median", "p90", "p95", "p99")},
    )
    sample = _sample_bins(con)
    return Result([table, sample], _text(table))


def _sample_bins(con: duckdb.DuckDBPyConnection) -> Table:
    """The reservoir sample of pairs, binned on the figure's axes."""
    got = con.execute(
        f"SELECT prefix, adjusted FROM ({adjusted_sql('default')}) ORDER BY round_pk"
    ).fetchnumpy()
    prefix = np.asarray(got["prefix"], dtype=np.int64)
    adjusted = np.asarray(got["adjusted"], dtype=np.int64)
    keep = reservoir_indices(prefix.size)
    prefix, adjusted = prefix[keep], adjusted[keep]
    tx, ty = axis_threshold(prefix), axis_threshold(adjusted)
    bx = np.floor(axis(prefix, tx) * BINS_PER_UNIT).astype(np.int64)
    by = np.floor(axis(adjusted, ty) * BINS_PER_UNIT).astype(np.int64)
    cells, counts = np.unique(np.stack([bx, by]), axis=1, return_counts=True)
    return Table(
        name="adjusted_append_sample_bins",
        title=f"Reservoir sample ({prefix.size:,} pairs) binned: prefix × adjusted append",
        columns=["x_bin", "y_bin", "x_lo", "y_lo", "x_t0", "y_t0", "pairs"],
        rows=[
            [int(x), int(y), x / BINS_PER_UNIT, y / BINS_PER_UNIT, tx, ty, int(c)]
            for (x, y), c in zip(cells.T, counts, strict=True)
        ],
        kinds={
            "x_bin": "int",
            "y_bin": "int",
            "x_lo": "float2",
            "y_lo": "float2",
            "x_t0": "int",
            "y_t0": "int",
            "pairs": "int",
        },
    )


def _text(table: Table) -> str:
    recs = {(r["provider"], r["metric"]): r for r in table.records()}
    raw = recs.get(("all", "raw_append"))
    if not raw:
        return "The trace has no consecutive step pairs (round_index steps of exactly 1)."
    adj = recs[("all", "adjusted_append")]
    clipped = recs.get(("all", "clipped_after_subtract"), {"count": 0})
    return (
        f"Over {format_value(raw['count'], 'int')} step pairs, the median append is "
        f"{format_value(raw['median'], 'tokens')} tokens raw and "
        f"{format_value(adj['median'], 'tokens')} once the previous output is subtracted "
        f"(p99 {format_value(raw['p99'], 'tokens')} → {format_value(adj['p99'], 'tokens')}); "
        f"{format_value(clipped['count'], 'int')} pairs "
        f"({format_value(clipped['count'] / raw['count'], 'pct')}) go below zero and are clipped."
    )


@adjusted_prefix_append.figures
def _(result: Result) -> list[Figure]:
    from matplotlib.colors import LogNorm

    from tracelab.figures.style import new_figure

    table = result.table("adjusted_append_sample_bins")
    fig, ax = new_figure(width=6.4, height=4.6)
    if not table.rows:
        no_data(ax)
    else:
        recs = table.records()
        xs = np.array([r["x_bin"] for r in recs])
        ys = np.array([r["y_bin"] for r in recs])
        grid = np.full((ys.max() - ys.min() + 1, xs.max() - xs.min() + 1), np.nan)
        grid[ys - ys.min(), xs - xs.min()] = [r["pairs"] for r in recs]
        edges_x = np.arange(xs.min(), xs.max() + 2) / BINS_PER_UNIT
        edges_y = np.arange(ys.min(), ys.max() + 2) / BINS_PER_UNIT
        mesh = ax.pcolormesh(edges_x, edges_y, grid, norm=LogNorm(), cmap="viridis")
        fig.colorbar(mesh, ax=ax, label="sampled pairs")
        tx, ty = recs[0]["x_t0"], recs[0]["y_t0"]
        _ticks(ax.xaxis, tx, edges_x[-1])
        _ticks(ax.yaxis, ty, edges_y[-1])
        ax.set_xlabel(f"prefix tokens of S (log2 above {tx:,})")
        ax.set_ylabel(f"adjusted append (log2 above {ty:,})")
    ax.set_title("Prefix vs adjusted append (reservoir sample)")
    return [
        Figure(
            name="adjusted_prefix_append",
            title="Prefix vs adjusted append",
            figure=fig,
            data=table,
            caption="Reservoir sample of step pairs (algorithm R, seed "
            f"{SAMPLE_SEED}) binned by S.prefix and the adjusted append; colour: pairs per bin.",
        )
    ]


def _ticks(axis_: Any, t0: int, top: float) -> None:
    """Ticks at t0·2^k labelled in tokens, on the `1 + log2(v/t0)` axis."""
    from tracelab.experiments.fmt import human_tokens

    pos = [0.0, *np.arange(1, max(2, int(top) + 1), 2)]
    axis_.set_ticks(pos)
    axis_.set_ticklabels(["0", *(human_tokens(t0 * 2 ** (p - 1)) for p in pos[1:])])
