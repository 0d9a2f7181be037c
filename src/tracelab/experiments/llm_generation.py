"""Experiments of category `llm_generation` (study §5): token sizes, output attribution, timing.

Tables 8–9 and Figs. 1–6 plus the generation-time CDF. Every metric comes from
`tracelab.metrics.generation` (bins, attribution classes, decode speeds) over the step facts;
figures draw only from the returned tables.
"""

from __future__ import annotations

from typing import Any

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
from tracelab.experiments.fmt import format_value, pct
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data, plot_cdf, plotly_cdf
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import generation as g

TOKEN_KINDS = (
    ("prefix", "Prefix tokens"),
    ("append", "Append tokens"),
    ("output", "Output tokens"),
)
ATTRIBUTION_COLORS = {"cached": "#3b6fb6", "resend": "#e0a030", "neither": "#b0b0b0"}
SEGMENT_COLORS = {"prefix": "#9fb4d3", "append": "#e0a030", "output": "#4a9a5b"}
#: Fig. 3 scatter: at most this many pairs per model, chosen by hash(round_pk) (deterministic).
SAMPLE_PER_MODEL = 2_000
#: Fig. 3 scatter: g / O_{i−1} is clipped to this range for display.
GAIN_RATIO_RANGE = (-1.0, 2.0)


def _sorted(items: list[dict[str, Any]], order: list[str], *keys: str) -> list[dict[str, Any]]:
    """Rows in the study's provider order, then by `keys`."""
    rank = {p: i for i, p in enumerate(order)}
    return sorted(items, key=lambda r: (rank.get(r["provider"], len(rank)), *(r[k] for k in keys)))


def _tok(value: float | None) -> str:
    return format_value(value, "tokens")


def _count(n: int, noun: str) -> str:
    """'1 pair', '2,000 pairs'."""
    return f"{format_value(n, 'int')} {noun}{'' if n == 1 else 's'}"


def _plotly_layout(fig: Any, title: str, **kwargs: Any) -> Any:
    fig.update_layout(
        title=title,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        height=kwargs.pop("height", 400),
        **kwargs,
    )
    return fig


# --------------------------------------------------------------------------- Table 8 / Fig. 4


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


# --------------------------------------------------------------------------- Table 9

PREFIX_LABELS = g.bucket_labels(g.PREFIX_BIN_EDGES, g.KIB)


@experiment(
    "llm_generation/append_by_prefix",
    title="Append tokens by prefix length",
    question="How much new input does a step append, given how much of its context is cached?",
    definitions=f"""
- Steps are binned by **prefix** tokens: {", ".join(PREFIX_LABELS)}, where **k = 1,024
  tokens** and a bin includes its lower edge (a prefix of exactly 1,024 is in 1–2k; 1,023 in
  <1k).
- Within a bin: number of steps and the distribution of **append** tokens
  (`newly_append_tokens`): avg, p50, p90, p99. Empty bins are listed with 0 steps and –.
""",
    study_item="Table 9",
)
def append_by_prefix(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    cols = dist_columns((0.5, 0.9, 0.99))
    stats = records(
        con,
        f"""
        SELECT provider, {g.bucket_sql("prefix", g.PREFIX_BIN_EDGES)} AS bin, count(*) AS steps,
               {dist_sql("append", (0.5, 0.9, 0.99))}
        FROM step_facts GROUP BY ALL
        """,
    )
    by_key = {(r["provider"], r["bin"]): r for r in stats}
    body = []
    for p in provs:
        for b, label in enumerate(PREFIX_LABELS):
            r = by_key.get((p, b), {"steps": 0})
            body.append([p, label, r["steps"], *(r.get(c) for c in cols)])
    table = Table(
        name="table9_append_by_prefix",
        title="Table 9 — append tokens by prefix bin (k = 1,024)",
        columns=["provider", "prefix", "steps", *cols],
        rows=body,
        kinds={"steps": "int", **{c: "tokens" for c in cols}},
        latex=True,
    )
    short, long_ = g.PREFIX_BIN_EDGES[0], g.LONG_PREFIX
    split = records(
        con,
        f"""
        SELECT provider,
               quantile_cont(append, 0.5) FILTER (WHERE prefix < {short}) AS short_p50,
               count(*) FILTER (WHERE prefix < {short}) AS short_steps,
               quantile_cont(append, 0.5) FILTER (WHERE prefix >= {long_}) AS long_p50,
               count(*) FILTER (WHERE prefix >= {long_}) AS long_steps
        FROM step_facts GROUP BY provider
        """,
    )
    if not provs:
        return Result([table], "The trace has no steps, so there is nothing to bin.")
    parts = [
        f"{r['provider']}: median append {_tok(r['short_p50'])} at a prefix below 1k "
        f"({_count(r['short_steps'], 'step')}) vs {_tok(r['long_p50'])} once the "
        f"prefix reaches {long_ // g.KIB}k ({_count(r['long_steps'], 'step')})"
        for r in _sorted(split, provs)
    ]
    text = (
        "With little cached prefix the append dominates (a cache miss or an initial prefill); "
        "with a long prefix a step appends only an incremental tool result or user turn. "
        + "; ".join(parts)
        + "."
    )
    return Result([table], text)


# --------------------------------------------------------------------------- Fig. 1


@experiment(
    "llm_generation/prefix_append_scatter",
    title="Prefix vs append tokens (log–log density)",
    question="How do a step's cached prefix and its appended input relate?",
    definitions=f"""
- Each step is placed in a 2D log bin: `floor(log2(prefix + 1))` × `floor(log2(append + 1))`
  (bin b holds `2^b − 1 ≤ tokens < 2^(b+1) − 1`; b = 0 is 0 tokens). Counts per bin are
  computed in SQL and drawn as a heatmap with a log colour scale.
- *Short prefix* = prefix < {g.SHORT_PREFIX // g.KIB}k (k = 1,024): mostly cache misses and
  initial prefills.
""",
    study_item="Fig. 1",
)
def prefix_append_scatter(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    cells = _sorted(
        records(
            con,
            f"""
            SELECT provider, {g.log2_bin_sql("prefix")} AS prefix_bin,
                   {g.log2_bin_sql("append")} AS append_bin, count(*) AS steps,
                   count(*) / sum(count(*)) OVER (PARTITION BY provider) AS share
            FROM step_facts GROUP BY 1, 2, 3
            """,
        ),
        provs,
        "prefix_bin",
        "append_bin",
    )
    table = Table(
        name="fig1_prefix_append_bins",
        title="Fig. 1 data — steps per (prefix, append) log2 bin",
        columns=[
            "provider",
            "prefix_bin",
            "append_bin",
            "prefix_lo",
            "prefix_hi",
            "append_lo",
            "append_hi",
            "steps",
            "share",
        ],
        rows=[
            [
                c["provider"],
                c["prefix_bin"],
                c["append_bin"],
                2 ** c["prefix_bin"] - 1,
                2 ** (c["prefix_bin"] + 1) - 1,
                2 ** c["append_bin"] - 1,
                2 ** (c["append_bin"] + 1) - 1,
                c["steps"],
                c["share"],
            ]
            for c in cells
        ],
        kinds={
            "prefix_lo": "tokens",
            "prefix_hi": "tokens",
            "append_lo": "tokens",
            "append_hi": "tokens",
            "steps": "int",
            "share": "pct",
            "prefix_bin": "int",
            "append_bin": "int",
        },
    )
    if not provs:
        return Result([table], "The trace has no steps, so there is no density to draw.")
    groups = {
        r["provider"]: r
        for r in records(
            con,
            f"""
            SELECT provider,
                   count(*) FILTER (WHERE prefix < {g.SHORT_PREFIX}) / count(*) AS short_share,
                   quantile_cont(append, 0.5) FILTER (WHERE prefix < {g.SHORT_PREFIX}) AS short_p50,
                   quantile_cont(append, 0.5) FILTER (WHERE prefix >= {g.SHORT_PREFIX}) AS long_p50
            FROM step_facts GROUP BY provider
            """,
        )
    }
    parts = []
    for p in provs:
        top = max((c for c in cells if c["provider"] == p), key=lambda c: c["steps"])
        gr = groups[p]
        parts.append(
            f"For {p} the densest cell is prefix {_tok(2 ** top['prefix_bin'] - 1)}–"
            f"{_tok(2 ** (top['prefix_bin'] + 1) - 1)} × append {_tok(2 ** top['append_bin'] - 1)}"
            f"–{_tok(2 ** (top['append_bin'] + 1) - 1)} ({pct(top['share'])} of steps); "
            f"the {pct(gr['short_share'])} of steps with a prefix under "
            f"{g.SHORT_PREFIX // g.KIB}k append a median "
            f"{_tok(gr['short_p50'])} tokens, the others {_tok(gr['long_p50'])}."
        )
    return Result([table], " ".join(parts))


def _pow2_label(v: float, _pos: Any = None) -> str:
    """Tick label of a power of two on the x+1 axis: 1, 32, 1k, 32k, 1M (binary k/M)."""
    if v >= 2**20:
        return f"{v / 2**20:g}M"
    if v >= 2**10:
        return f"{v / 2**10:g}k"
    return f"{v:g}"


@prefix_append_scatter.figures
def _(result: Result) -> list[Figure]:
    import numpy as np
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FixedLocator

    table = result.table("fig1_prefix_append_bins")
    recs = table.records()
    provs = list(dict.fromkeys(table.column("provider")))
    fig, axes = new_figure(
        ncols=max(1, len(provs)), width=4.2 * max(1, len(provs)), height=3.8, squeeze=False
    )
    if not recs:
        no_data(axes[0][0])
        axes[0][0].set_title("Fig. 1 — prefix vs append")
    else:
        px = range(min(table.column("prefix_bin")), max(table.column("prefix_bin")) + 2)
        ay = range(min(table.column("append_bin")), max(table.column("append_bin")) + 2)
        vmax = max(table.column("steps"))
        mesh = None
        for ax, p in zip(axes[0], provs, strict=True):
            counts = np.zeros((len(ay) - 1, len(px) - 1))
            for r in recs:
                if r["provider"] == p:
                    counts[r["append_bin"] - ay[0], r["prefix_bin"] - px[0]] = r["steps"]
            mesh = ax.pcolormesh(
                [2.0**b for b in px],
                [2.0**b for b in ay],
                np.ma.masked_equal(counts, 0),
                norm=LogNorm(vmin=1, vmax=max(vmax, 2)),
                cmap="viridis",
            )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
            for axis, bins in ((ax.xaxis, px), (ax.yaxis, ay)):
                step = max(1, (len(bins) - 1) // 6)
                axis.set_major_locator(FixedLocator([2.0**b for b in bins[::step]]))
                axis.set_major_formatter(_pow2_label)
                axis.set_minor_locator(FixedLocator([]))
            ax.set_xlabel("prefix tokens + 1 (log₂ bins, k = 1,024)")
            ax.set_title(f"Fig. 1 — {p}")
            ax.grid(False)
        axes[0][0].set_ylabel("append tokens + 1 (log₂ bins)")
        fig.colorbar(mesh, ax=list(axes[0]), label="steps per bin (log scale)")
    return [
        Figure(
            name="fig1_prefix_append_density",
            title="Fig. 1 — prefix vs append tokens per step (log–log density)",
            figure=fig,
            data=table,
            caption="Steps per log₂ bin of prefix and append tokens, colour on a log scale.",
            interactive=_plotly_density(recs, provs),
        )
    ]


def _plotly_density(recs: list[dict[str, Any]], provs: list[str]) -> Any:
    import math

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=max(1, len(provs)), subplot_titles=provs or ["no data"])
    if not recs:
        return _plotly_layout(fig, "Fig. 1 — prefix vs append (log–log density)")
    xs = list(range(min(r["prefix_bin"] for r in recs), max(r["prefix_bin"] for r in recs) + 1))
    ys = list(range(min(r["append_bin"] for r in recs), max(r["append_bin"] for r in recs) + 1))
    for i, p in enumerate(provs):
        steps = {(r["prefix_bin"], r["append_bin"]): r["steps"] for r in recs if r["provider"] == p}
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=[[math.log10(steps[x, y]) if (x, y) in steps else None for x in xs] for y in ys],
                text=[[f"{steps.get((x, y), 0):,} steps" for x in xs] for y in ys],
                hovertemplate="prefix + 1 ≥ 2^%{x}<br>append + 1 ≥ 2^%{y}<br>%{text}",
                coloraxis="coloraxis",
            ),
            row=1,
            col=i + 1,
        )
        fig.update_xaxes(
            title_text="prefix + 1 (log₂ bins)",
            tickvals=xs,
            ticktext=[_pow2_label(2**b) for b in xs],
            row=1,
            col=i + 1,
        )
    fig.update_yaxes(tickvals=ys, ticktext=[_pow2_label(2**b) for b in ys])
    fig.update_yaxes(title_text="append + 1 (log₂ bins)", row=1, col=1)
    return _plotly_layout(
        fig,
        "Fig. 1 — prefix vs append (log–log density)",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "log10 steps"}},
    )


# --------------------------------------------------------------------------- Fig. 2

APPEND_LABELS = g.bucket_labels(g.APPEND_SHARE_EDGES, g.APPEND_SHARE_UNIT)


@experiment(
    "llm_generation/append_share",
    title="Share of steps vs share of append tokens by append length",
    question="Do the rare long appends carry most of the prefill work?",
    definitions=f"""
- Steps are bucketed by **append** tokens (`newly_append_tokens`): {", ".join(APPEND_LABELS)}
  (here **k = 1,000**, so the study's "< 1k" and "≥ 10k" are bucket edges; a bucket includes
  its lower edge).
- Per provider and bucket: **share of steps** = steps in the bucket / all steps; **share of
  append tokens** = Σ append in the bucket / Σ append of all steps.
""",
    study_item="Fig. 2",
)
def append_share(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    stats = records(
        con,
        f"""
        SELECT provider, {g.bucket_sql("append", g.APPEND_SHARE_EDGES)} AS bucket,
               count(*) AS steps, sum(append) AS tokens,
               count(*) / sum(count(*)) OVER (PARTITION BY provider) AS step_share,
               sum(append) / nullif(sum(sum(append)) OVER (PARTITION BY provider), 0)
                   AS token_share
        FROM step_facts GROUP BY 1, 2
        """,
    )
    by_key = {(r["provider"], r["bucket"]): r for r in stats}
    body = []
    for p in provs:
        for b, label in enumerate(APPEND_LABELS):
            r = by_key.get((p, b), {"steps": 0, "tokens": 0, "step_share": 0.0})
            body.append([p, label, r["steps"], r["tokens"], r["step_share"], r.get("token_share")])
    table = Table(
        name="fig2_append_share",
        title="Fig. 2 data — share of steps and of append tokens by append bucket (k = 1,000)",
        columns=[
            "provider",
            "append",
            "steps",
            "append_tokens",
            "share_steps",
            "share_append_tokens",
        ],
        rows=body,
        kinds={
            "steps": "int",
            "append_tokens": "tokens",
            "share_steps": "pct",
            "share_append_tokens": "pct",
        },
    )
    if not provs:
        return Result([table], "The trace has no steps, so there are no append shares.")
    heads = records(
        con,
        f"""
        SELECT provider,
               count(*) FILTER (WHERE append < {g.SMALL_APPEND}) / count(*) AS small_steps,
               sum(append) FILTER (WHERE append >= {g.LARGE_APPEND}) / nullif(sum(append), 0)
                   AS large_tokens,
               count(*) FILTER (WHERE append >= {g.LARGE_APPEND}) / count(*) AS large_steps
        FROM step_facts GROUP BY provider
        """,
    )
    small, large = _short_label(g.SMALL_APPEND), _short_label(g.LARGE_APPEND)
    parts = [
        f"{r['provider']}: {pct(r['small_steps'])} of steps append fewer than {small} tokens, "
        f"yet the {pct(r['large_steps'])} of steps appending {large} or more carry "
        f"{pct(r['large_tokens'] or 0.0)} of all append tokens"
        for r in _sorted(heads, provs)
    ]
    return Result([table], "; ".join(parts) + ".")


def _short_label(n: int) -> str:
    return f"{n // g.APPEND_SHARE_UNIT}k" if n >= g.APPEND_SHARE_UNIT else str(n)


def _bucket_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["YlGnBu"]
    return [cmap(0.2 + 0.75 * i / max(1, n - 1)) for i in range(n)]


@append_share.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig2_append_share")
    provs = list(dict.fromkeys(table.column("provider")))
    fig, ax = new_figure(width=6.8, height=1.2 + 1.0 * max(1, len(provs)))
    colors = _bucket_colors(len(APPEND_LABELS))
    labels, ypos = [], []
    for i, p in enumerate(provs):
        recs = [r for r in table.records() if r["provider"] == p]
        for j, (col, what) in enumerate(
            (("share_steps", "steps"), ("share_append_tokens", "append tokens"))
        ):
            y = i * 2.6 + j
            left = 0.0
            for k, r in enumerate(recs):
                w = r[col] or 0.0
                ax.barh(
                    y,
                    w,
                    left=left,
                    color=colors[k],
                    edgecolor="white",
                    height=0.8,
                    label=APPEND_LABELS[k] if i == 0 and j == 0 else None,
                )
                if w >= 0.06:
                    ax.text(
                        left + w / 2,
                        y,
                        f"{w * 100:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if k < 3 else "white",
                    )
                left += w
            labels.append(f"{p}: {what}")
            ypos.append(y)
    if provs:
        ax.set_yticks(ypos, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.legend(
            title="append tokens per step (k = 1,000)",
            ncols=len(APPEND_LABELS),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.25),
            fontsize=7,
        )
        ax.grid(False)
    else:
        no_data(ax)
    ax.set_xlabel("share")
    ax.set_title("Fig. 2 — share of steps vs share of append tokens")
    return [
        Figure(
            name="fig2_append_share",
            title="Fig. 2 — share of steps vs share of append tokens by append length",
            figure=fig,
            data=table,
            caption="Per provider, the upper bar splits steps and the lower bar append tokens "
            "by the step's append length.",
            interactive=_plotly_append_share(table, provs),
        )
    ]


def _plotly_append_share(table: Table, provs: list[str]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    ys = [f"{p}: {w}" for p in provs for w in ("steps", "append tokens")]
    recs = table.records()
    for label in APPEND_LABELS:
        xs = []
        for p in provs:
            r = next(r for r in recs if r["provider"] == p and r["append"] == label)
            xs += [r["share_steps"] or 0.0, r["share_append_tokens"] or 0.0]
        fig.add_trace(
            go.Bar(y=ys, x=xs, name=label, orientation="h", hovertemplate=f"{label}: %{{x:.1%}}")
        )
    return _plotly_layout(
        fig,
        "Fig. 2 — share of steps vs share of append tokens",
        barmode="stack",
        xaxis={"title": "share", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
        legend={"title": {"text": "append (k = 1,000)"}},
    )


# --------------------------------------------------------------------------- Fig. 3

_TOL = f"{g.ATTRIBUTION_TOLERANCE * 100:g}%"


@experiment(
    "llm_generation/output_attribution",
    title="Output attribution: output-cached vs output-resend",
    question="Is a step's output cached into the next step's prefix, or re-sent as append?",
    definitions=f"""
- Pairs of consecutive steps (i−1, i) of a session (session order; the first step of a
  session has no pair) whose earlier step wrote **O_{{i−1}} ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}**
  output tokens, grouped by the model of step i.
- **Prefix gain** `g = prefix_i − (prefix_{{i−1}} + append_{{i−1}})`.
- **Output-cached**: `|g − O_{{i−1}}| ≤ {_TOL} × O_{{i−1}}` (the prior output is now prefix).
- **Output-resend**: `|g| ≤ {_TOL} × O_{{i−1}}` and `append_i ≥ O_{{i−1}}` (the prefix stops
  at the prior prompt; the prior output comes back as append).
- **Neither**: any other pair (cache miss, compaction, partial caching …). The tolerance
  ({_TOL}, `ATTRIBUTION_TOLERANCE`) makes the two tests exclusive.
- Scatter: at most {SAMPLE_PER_MODEL:,} pairs per model, the ones with the smallest
  `hash(round_pk)` (deterministic); `g / O_{{i−1}}` clipped to
  [{GAIN_RATIO_RANGE[0]:g}, {GAIN_RATIO_RANGE[1]:g}] for display.
""",
    study_item="Fig. 3",
)
def output_attribution(con: duckdb.DuckDBPyConnection) -> Result:
    g.prepare_generation(con)
    provs = providers(con)
    summary = _sorted(
        records(
            con,
            """
            SELECT provider, model, count(*) AS pairs,
                   count(*) FILTER (WHERE attribution = 'cached') / count(*) AS cached,
                   count(*) FILTER (WHERE attribution = 'resend') / count(*) AS resend,
                   count(*) FILTER (WHERE attribution = 'neither') / count(*) AS neither,
                   quantile_cont(gain_ratio, 0.5) AS median_gain_ratio
            FROM attribution_pairs GROUP BY ALL
            """,
        ),
        provs,
        "model",
    )
    cols = ["provider", "model", "pairs", "cached", "resend", "neither", "median_gain_ratio"]
    table = Table(
        name="fig3_output_attribution",
        title=f"Fig. 3 — output attribution per model (prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens, tolerance {_TOL})",
        columns=cols,
        rows=[[r[c] for c in cols] for r in summary],
        kinds={
            "pairs": "int",
            "cached": "pct",
            "resend": "pct",
            "neither": "pct",
            "median_gain_ratio": "float2",
        },
    )
    sample = records(
        con,
        f"""
        SELECT provider, model, gain_ratio, append_ratio, attribution,
               (hash(round_pk) % 1000) / 1000.0 - 0.5 AS jitter
        FROM attribution_pairs
        QUALIFY row_number() OVER (PARTITION BY provider, model ORDER BY hash(round_pk), round_pk)
                <= {SAMPLE_PER_MODEL}
        ORDER BY provider, model, hash(round_pk), round_pk
        """,
    )
    points = Table(
        name="fig3_output_attribution_points",
        title="Fig. 3 data — sampled step pairs: g / O_{i−1}, append_i / O_{i−1}, class",
        columns=["provider", "model", "gain_ratio", "append_ratio", "attribution", "jitter"],
        rows=[
            [
                r[c]
                for c in (
                    "provider",
                    "model",
                    "gain_ratio",
                    "append_ratio",
                    "attribution",
                    "jitter",
                )
            ]
            for r in sample
        ],
        kinds={"gain_ratio": "float2", "append_ratio": "float2", "jitter": "float2"},
    )
    if not summary:
        text = (
            f"No pair of consecutive steps has a prior output of at least "
            f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens, so output attribution cannot be tested."
        )
    else:
        text = "Per model, over consecutive-step pairs with a prior output of at least " + (
            f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens: "
            + "; ".join(
                f"{r['model']} ({r['provider']}, {_count(r['pairs'], 'pair')}) is "
                f"mostly {_dominant(r)} — {pct(r['cached'])} cached, {pct(r['resend'])} "
                f"resend, {pct(r['neither'])} neither"
                for r in summary
            )
            + "."
        )
    return Result([table, points], text)


def _dominant(r: dict[str, Any]) -> str:
    best = max(g.ATTRIBUTION_CLASSES, key=lambda c: r[c])
    return {"cached": "output-cached", "resend": "output-resend", "neither": "neither"}[best]


def _model_key(r: dict[str, Any]) -> str:
    return f"{r['model']} ({r['provider']})"


@output_attribution.figures
def _(result: Result) -> list[Figure]:
    summary = result.table("fig3_output_attribution")
    points = result.table("fig3_output_attribution_points")
    models = [_model_key(r) for r in summary.records()]
    return [
        _attribution_scatter(points, models),
        _attribution_bars(summary, models),
    ]


def _attribution_scatter(points: Table, models: list[str]) -> Figure:
    lo, hi = GAIN_RATIO_RANGE
    fig, ax = new_figure(width=6.6, height=1.4 + 0.45 * max(2, len(models)))
    if not models:
        no_data(ax, f"no step pairs with prior output ≥ {g.ATTRIBUTION_MIN_OUTPUT:,}")
    else:
        row = {m: i for i, m in enumerate(models)}
        recs = points.records()
        for cls in g.ATTRIBUTION_CLASSES:
            mine = [r for r in recs if r["attribution"] == cls]
            ax.scatter(
                [min(max(r["gain_ratio"], lo), hi) for r in mine],
                [row[_model_key(r)] + 0.7 * r["jitter"] for r in mine],
                s=6 if len(recs) > 500 else 14,
                alpha=0.35 if len(recs) > 500 else 0.8,
                color=ATTRIBUTION_COLORS[cls],
                label=cls,
                linewidths=0,
            )
        tol = g.ATTRIBUTION_TOLERANCE
        for x in (0.0, 1.0):
            ax.axvspan(x - tol, x + tol, color="#555", alpha=0.08, lw=0)
            ax.axvline(x, color="#555", lw=0.8, ls="--")
        ax.set_yticks(range(len(models)), models)
        ax.invert_yaxis()
        ax.set_xlim(lo - 0.05, hi + 0.05)
        ax.legend(loc="lower right", markerscale=3, fontsize=7)
    ax.set_xlabel("prefix gain / prior output  (g / O_{i−1}; 1 = output-cached, 0 = resend)")
    ax.set_title("Fig. 3 — output attribution per model")
    return Figure(
        name="fig3_output_attribution",
        title="Fig. 3 — prefix gain relative to the prior output, per model",
        figure=fig,
        data=points,
        caption=f"Each dot is a pair of consecutive steps with prior output ≥ "
        f"{g.ATTRIBUTION_MIN_OUTPUT:,} tokens (≤ {SAMPLE_PER_MODEL:,} per model); x = 1 means "
        f"the prior output became prefix (cached), x = 0 that it did not (resend when it "
        f"returns as append). Values clipped to [{lo:g}, {hi:g}].",
    )


def _attribution_bars(summary: Table, models: list[str]) -> Figure:
    import plotly.graph_objects as go

    fig, ax = new_figure(width=6.6, height=1.4 + 0.45 * max(2, len(models)))
    recs = summary.records()
    plotly_fig = go.Figure()
    if not recs:
        no_data(ax)
    else:
        left = [0.0] * len(recs)
        labels = [
            f"{m}, n = {format_value(r['pairs'], 'int')}" for m, r in zip(models, recs, strict=True)
        ]
        for cls in g.ATTRIBUTION_CLASSES:
            widths = [r[cls] for r in recs]
            ax.barh(labels, widths, left=left, color=ATTRIBUTION_COLORS[cls], label=cls)
            left = [a + b for a, b in zip(left, widths, strict=True)]
            plotly_fig.add_trace(
                go.Bar(
                    y=models,
                    x=widths,
                    name=cls,
                    orientation="h",
                    marker={"color": ATTRIBUTION_COLORS[cls]},
                    customdata=[r["pairs"] for r in recs],
                    hovertemplate=f"{cls}: %{{x:.1%}} of %{{customdata}} pairs",
                )
            )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7)
    ax.set_xlabel("share of step pairs")
    ax.set_title("Fig. 3 — output-cached vs output-resend per model")
    _plotly_layout(
        plotly_fig,
        "Fig. 3 — output attribution per model",
        barmode="stack",
        xaxis={"title": "share of step pairs", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},
    )
    return Figure(
        name="fig3_output_attribution_shares",
        title="Fig. 3 — share of output-cached / output-resend / neither pairs per model",
        figure=fig,
        data=summary,
        caption=f"Classification of consecutive-step pairs (tolerance {_TOL} of the prior output).",
        interactive=plotly_fig,
    )


# --------------------------------------------------------------------------- Fig. 5

#: The schematic's units: prior step's prefix, append, output; next step's fresh input, output.
SCHEMATIC_PRIOR = {"prefix": 10, "append": 2, "output": 4}
SCHEMATIC_FRESH = 1
SCHEMATIC_NEXT_OUTPUT = 3


def schematic_segments() -> list[list[Any]]:
    """(panel, step, segment, start, units) of both accounting schemes, derived from the units."""
    p, a, o = (SCHEMATIC_PRIOR[k] for k in ("prefix", "append", "output"))
    prior = [
        ["step i−1", "prefix", 0, p],
        ["step i−1", "append", p, a],
        ["step i−1", "output", p + a, o],
    ]
    cached = [
        ["step i", "prefix", 0, p + a + o],
        ["step i", "append", p + a + o, SCHEMATIC_FRESH],
        ["step i", "output", p + a + o + SCHEMATIC_FRESH, SCHEMATIC_NEXT_OUTPUT],
    ]
    resend_append = o + SCHEMATIC_FRESH
    resend = [
        ["step i", "prefix", 0, p + a],
        ["step i", "append", p + a, resend_append],
        ["step i", "output", p + a + resend_append, SCHEMATIC_NEXT_OUTPUT],
    ]
    return [["(a) output-cached", *s] for s in prior + cached] + [
        ["(b) output-resend", *s] for s in prior + resend
    ]


@experiment(
    "llm_generation/output_schematic",
    title="Output-cached vs output-resend accounting (schematic)",
    question="How can a prior step's output be accounted for in the next step's prompt?",
    definitions="""
- A drawing, not data: units of tokens of two consecutive steps under the two accounting
  schemes that `llm_generation/output_attribution` tests for.
- **(a) output-cached**: the serving system keeps the KV entries of the generated output; the
  next prefix = prior prefix + prior append + prior output.
- **(b) output-resend**: only the prior prompt is cached; the prior output is re-sent and
  counted in the next step's append together with the fresh input.
""",
    study_item="Fig. 5",
)
def output_schematic(con: duckdb.DuckDBPyConnection) -> Result:
    del con  # drawn from constants, not from the trace
    segs = schematic_segments()
    table = Table(
        name="fig5_schematic_units",
        title="Fig. 5 — the drawn units (start position and length of each segment)",
        columns=["panel", "step", "segment", "start", "units"],
        rows=segs,
        kinds={"start": "int", "units": "int"},
    )
    p, a, o = (SCHEMATIC_PRIOR[k] for k in ("prefix", "append", "output"))
    nxt = {(s[0], s[2]): s[4] for s in segs if s[1] == "step i"}
    text = (
        f"The prior step has {p} units of prefix, {a} of append and {o} of output. Under "
        f"output-cached accounting (a) all {nxt[('(a) output-cached', 'prefix')]} units become "
        f"the next step's prefix and the next append is only the "
        f"{nxt[('(a) output-cached', 'append')]} unit of fresh input. Under output-resend "
        f"accounting (b) the next prefix is the prior prompt, "
        f"{nxt[('(b) output-resend', 'prefix')]} units, and the prior output is re-sent: the next "
        f"append is {o} + {SCHEMATIC_FRESH} = {nxt[('(b) output-resend', 'append')]} units."
    )
    return Result([table], text)


@output_schematic.figures
def _(result: Result) -> list[Figure]:
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.ticker import MaxNLocator

    table = result.table("fig5_schematic_units")
    recs = table.records()
    panels = list(dict.fromkeys(table.column("panel")))
    fig, axes = new_figure(nrows=len(panels), width=6.6, height=4.4)
    o = SCHEMATIC_PRIOR["output"]
    for ax, panel in zip(axes, panels, strict=True):
        mine = [r for r in recs if r["panel"] == panel]
        for r in mine:
            y = 1 if r["step"] == "step i−1" else 0
            resent = panel.startswith("(b)") and y == 0 and r["segment"] == "append"
            ax.barh(
                y,
                r["units"],
                left=r["start"],
                height=0.6,
                color=SEGMENT_COLORS[r["segment"]],
                edgecolor="black",
                lw=0.6,
                hatch="//" if resent else None,
            )
            narrow = r["units"] < 3
            ax.text(
                r["start"] + r["units"] / 2,
                y + (0.42 if narrow else 0),
                f"{r['segment']} {r['units']}" if narrow else f"{r['segment']}\n{r['units']}",
                ha="center",
                va="center",
                fontsize=7,
            )
            for u in range(1, r["units"]):
                ax.plot([r["start"] + u] * 2, [y - 0.3, y + 0.3], color="white", lw=0.5)
        prior_out = next(r for r in mine if r["step"] == "step i−1" and r["segment"] == "output")
        target = next(
            r
            for r in mine
            if r["step"] == "step i" and r["segment"] == ("append" if "(b)" in panel else "prefix")
        )
        dest = target["start"] + (o / 2 if "(b)" in panel else target["units"] - o / 2)
        ax.add_patch(
            FancyArrowPatch(
                (prior_out["start"] + o / 2, 0.68),
                (dest, 0.32),
                arrowstyle="-|>",
                mutation_scale=10,
                color="#333",
            )
        )
        ax.set_yticks([1, 0], ["step i−1", "step i"])
        ax.set_xlim(0, max(r["start"] + r["units"] for r in recs) + 0.5)
        ax.set_ylim(-0.5, 1.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel, loc="left")
        ax.grid(False)
        ax.spines["left"].set_visible(False)
    axes[-1].set_xlabel("token units")
    fig.suptitle("Fig. 5 — where the prior step's output goes")
    return [
        Figure(
            name="fig5_output_schematic",
            title="Fig. 5 — output-cached vs output-resend (schematic)",
            figure=fig,
            data=table,
            caption="(a) the prior output becomes prefix; (b) it is re-sent as append (hatched) "
            "with the fresh input.",
        )
    ]


# --------------------------------------------------------------------------- Fig. 6

SPEED_METRICS = (
    ("norm_speed", "normalized decode speed (tokens/s)"),
    ("pure_speed", "pure decode speed (tokens/s)"),
    ("residual_ttft_ms", "residual TTFT (s)"),
)


@experiment(
    "llm_generation/decode_speed",
    title="Decode speed and residual TTFT vs context length",
    question="How fast do steps generate, and does it slow down with longer context?",
    definitions=f"""
- **Generation time** `gen_ms`: the latest `user_message`/`tool_result` event before the first
  model-output event → the last model-output event (`reasoning`, `text`, `tool_call`).
- **Normalized decode speed** = `output_tokens / gen_ms × 1000` (tokens/s), steps with
  `gen_ms > 0` and output > 0. It includes TTFT, reasoning, emission and logging effects.
- **Pure decode speed** (steps with reasoning-token counts > 0 — Codex): visible tokens
  `output − reasoning` over the span from the (last) reasoning event to the last text/tool_call
  event (tokens/s; visible tokens and span > 0).
- **Residual TTFT** = `gen_ms − output / pure speed` (the time the whole output would take at
  the pure speed subtracted from the generation time; can be negative).
- **CV** = sample standard deviation / mean of the normalized speed over a provider's steps.
- **Context** C = prefix + append, binned by `floor(log2(C + 1))`; each bin reports p25, median,
  p75 of each metric; the figure draws bins with at least {g.MIN_BIN_STEPS} steps.
""",
    study_item="Fig. 6",
)
def decode_speed(con: duckdb.DuckDBPyConnection) -> Result:
    g.prepare_generation(con)
    provs = providers(con)
    summary = _sorted(
        records(
            con,
            """
            SELECT provider, count(norm_speed) AS steps,
                   quantile_cont(norm_speed, 0.5) AS median_speed,
                   stddev_samp(norm_speed) / nullif(avg(norm_speed), 0) AS cv_speed,
                   count(pure_speed) AS pure_steps,
                   quantile_cont(pure_speed, 0.5) AS median_pure_speed,
                   quantile_cont(residual_ttft_ms, 0.5) AS median_residual_ttft_ms
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
            SELECT provider, {g.log2_bin_sql("context")} AS bin, {", ".join(parts)}
            FROM decode_steps WHERE norm_speed IS NOT NULL OR pure_speed IS NOT NULL
            GROUP BY ALL
            """,
        ),
        provs,
        "bin",
    )
    metric_cols = [f"{m}_{s}" for m, _ in SPEED_METRICS for s in ("steps", "p25", "p50", "p75")]
    kinds = {"context_lo": "tokens", "context_hi": "tokens"}
    for m, _ in SPEED_METRICS:
        kinds[f"{m}_steps"] = "int"
        for s in ("p25", "p50", "p75"):
            kinds[f"{m}_{s}"] = "ms" if m.endswith("_ms") else "float1"
    return Table(
        name="fig6_decode_by_context",
        title="Fig. 6 data — decode metrics by context bin (log₂ of C + 1)",
        columns=["provider", "context_lo", "context_hi", *metric_cols],
        rows=[
            [
                r["provider"],
                2 ** r["bin"] - 1,
                2 ** (r["bin"] + 1) - 1,
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
            xs = [((r["context_lo"] + 1) * (r["context_hi"] + 1)) ** 0.5 for r in curve]
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
    axes[1].set_title("(b) pure decode speed (reasoning-count steps)")
    axes[2].set_title("(c) residual TTFT (reasoning-count steps)")
    fig.suptitle("Fig. 6 — decode speed vs context length (binned medians)")
    return [
        Figure(
            name="fig6_decode_speed",
            title="Fig. 6 — decode speed and residual TTFT vs context length",
            figure=fig,
            data=binned,
            caption=f"Binned medians (lines) and interquartile ranges (bands) per log₂ bin of "
            f"context; bins with fewer than {g.MIN_BIN_STEPS} steps are not drawn.",
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
                        x=[((r["context_lo"] + 1) * (r["context_hi"] + 1)) ** 0.5 for r in curve],
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


# --------------------------------------------------------------------------- generation-time CDF


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
