"""Experiments of category `prefix_cache` (study §7): Tables 11–13, Figs. 11–12.

The numbers come from `tracelab.metrics.cache` (one SQL definition per metric); this module
lays them out as the study's tables, states them in words and draws the figures from the tables.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, share
from tracelab.experiments.fmt import count, format_value, pct, tokens
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import STEP_KIND_COLORS, new_figure, provider_color
from tracelab.metrics import cache

TOKEN_FIELDS = ("steps", "prefix", "append", "hit_rate")
GAP_FIELDS = ("steps", "hit_rate", "median_ratio", "low_share")
KIND_LABELS = {"all": "All steps", "user": "User-initiated", "tool": "Tool-result"}
BAND_LABELS = ("< 5m", "5m–1h", "≥ 1h")
#: Where the Fig. 11 axis shows the open-ended first and last gap bins (ms).
UNDER_X_MS = 0.5 * cache.SECOND_MS
OVER_X_MS = 1.5 * cache.DAY_MS
TIME_TICKS_MS = (
    cache.SECOND_MS,
    10 * cache.SECOND_MS,
    cache.MINUTE_MS,
    5 * cache.MINUTE_MS,
    cache.HOUR_MS,
    cache.DAY_MS,
)


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Providers present, then 'total' (the column order of the per-provider tables)."""
    return [*providers(con), "total"]


def _lookup(recs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Records of `cache._by_kind_sql` queries keyed by (provider, kind)."""
    return {(r["provider"], r["kind"]): r for r in recs}


def _values(by: dict, keys: list[str], kind: str, field: str) -> list[Any]:
    return [by.get((k, kind), {}).get(field) for k in keys]


def _per_provider(by: dict, keys: list[str], kind: str, field: str, fmt: str) -> str:
    """'claude 95.8%, codex 95.7%' for the providers of `keys` (not 'total')."""
    parts = [
        f"{k} {format_value(by.get((k, kind), {}).get(field), fmt)}" for k in keys if k != "total"
    ]
    return ", ".join(parts)


# --- Table 11 -------------------------------------------------------------------------------


@experiment(
    "prefix_cache/hit_rate",
    title="Prefix cache hit rate by step type",
    question="What share of input tokens is served from the prefix cache, overall and for "
    "user-initiated versus tool-initiated steps?",
    definitions="""
- **Prefix hit rate** of a set of steps = Σ prefix / Σ (prefix + append), token-weighted (one
  long step weighs by its tokens, not as one vote) — the same definition as Table 1.
- **User-initiated** step: its first input event is a `user_message`; **tool-result** step: a
  `tool_result`. Steps with neither count only in the overall row.
- Every step counts, including session-first steps (their prefix is whatever the provider
  cached before the session, e.g. the system prompt).
""",
    study_item="Table 11",
)
def hit_rate(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    recs = cache.hit_rates(con)
    by = _lookup(recs)
    labels = {
        "all": "Prefix cache-hit rate",
        "user": "Prefix hit rate (user-initiated)",
        "tool": "Prefix hit rate (tool-result)",
    }
    table = Table(
        name="table11_prefix_hit_rate",
        title="Table 11 — token-weighted prefix cache hit rate by step type",
        columns=["metric", *keys],
        rows=[[labels[k], *_values(by, keys, k, "hit_rate")] for k in cache.KINDS],
        row_kinds=["pct"] * len(cache.KINDS),
        latex=True,
    )
    detail = Table(
        name="prefix_hit_rate_tokens",
        title="The token sums behind Table 11",
        columns=["provider", "steps of type", "steps", "prefix tokens", "append tokens", "hit"],
        rows=[[r["provider"], KIND_LABELS[r["kind"]], *(r[f] for f in TOKEN_FIELDS)] for r in recs],
        kinds={"steps": "int", "prefix tokens": "tokens", "append tokens": "tokens", "hit": "pct"},
    )
    return Result([table, detail], _hit_rate_text(by, keys))


def _hit_rate_text(by: dict, keys: list[str]) -> str:
    total = by.get(("total", "all"), {})
    if total.get("hit_rate") is None:
        return "The trace has no input tokens, so there is no prefix hit rate."
    user = by.get(("total", "user"), {}).get("hit_rate")
    tool = by.get(("total", "tool"), {}).get("hit_rate")
    text = (
        f"{pct(total['hit_rate'])} of all input tokens are served from the prefix cache "
        f"({_per_provider(by, keys, 'all', 'hit_rate', 'pct')})."
    )
    if user is not None and tool is not None:
        text += (
            f" User-initiated steps hit {pct(user)} and tool-result steps {pct(tool)}, so "
            f"user-initiated steps prefill {pct(1 - user)} of their input tokens against "
            f"{pct(1 - tool)} for tool-result steps."
        )
    return text


# --- Table 12 -------------------------------------------------------------------------------


@experiment(
    "prefix_cache/fresh_tokens",
    title="Append tokens versus truly fresh tokens (gap to optimal)",
    question="How many of the prefilled (append) tokens are truly new, and how much does the "
    "deployed cache amplify prefill over an eviction-free cache?",
    definitions="""
- **Fresh tokens** of step i (not session-first) = max(0, C_i − C_{i−1}) − O_{i−1}, clipped to
  [0, append_i] (C = prefix + append; O = output): the context growth that is not the previous
  step's output — user prompts and tool results the system has never seen.
- **Fresh % of append** = Σ fresh / Σ append; **prefill amplification** = Σ append / Σ fresh:
  how many times more tokens are prefilled than a perfect, never-evicting cache would need.
- Both sums run over the steps that are **not session-first** (a session-first step has no
  predecessor, so no fresh count; its append is prefill no cache could have avoided). Their
  number and append tokens are given in the second table; Table 1's append total includes them.
""",
    study_item="Table 12",
)
def fresh_tokens(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    by = _lookup(cache.fresh_totals(con))
    first = _lookup(cache.session_first_totals(con))
    metrics = [
        ("steps (not session-first)", "steps", "int"),
        ("total append tokens", "append", "tokens"),
        ("total fresh tokens", "fresh", "tokens"),
        ("fresh % of append", "fresh_share", "pct"),
        ("prefill amplification", "amplification", "float1"),
    ]
    body, kinds = [], []
    for kind in cache.KINDS:
        for label, field, fmt in metrics:
            body.append([f"{KIND_LABELS[kind]}: {label}", *_values(by, keys, kind, field)])
            kinds.append(fmt)
    table = Table(
        name="table12_fresh_tokens",
        title="Table 12 — append versus fresh tokens and prefill amplification",
        columns=["metric", *keys],
        rows=body,
        row_kinds=kinds,
        latex=True,
        note="Sums over steps that are not session-first (append and fresh alike).",
    )
    excluded = Table(
        name="session_first_steps",
        title="Session-first steps, left out of Table 12",
        columns=["metric", *keys],
        rows=[
            ["session-first steps", *_values(first, keys, "all", "steps")],
            ["their append tokens", *_values(first, keys, "all", "append")],
        ],
        row_kinds=["int", "tokens"],
    )
    return Result([table, excluded], _fresh_text(by, first, keys))


def _fresh_text(by: dict, first: dict, keys: list[str]) -> str:
    total = by.get(("total", "all"), {})
    skipped = first.get(("total", "all"), {})
    if not total.get("steps"):
        return (
            "The trace has no step with a predecessor in its session, so there are no fresh "
            "tokens to compare with append tokens."
        )
    if total.get("amplification") is None:
        return (
            f"The {count(total['steps'])} steps with a predecessor append "
            f"{tokens(total['append'])} tokens but none of them is fresh, so prefill "
            "amplification is undefined."
        )
    text = (
        f"Over {count(total['steps'])} steps with a predecessor, only "
        f"{pct(total['fresh_share'])} of the {tokens(total['append'])} append tokens are "
        f"fresh ({_per_provider(by, keys, 'all', 'fresh_share', 'pct')}), so the deployed cache "
        f"prefills {format_value(total['amplification'], 'float1')}× the irreducible tokens "
        f"({_per_provider(by, keys, 'all', 'amplification', 'float1')})."
    )
    user, tool = by.get(("total", "user"), {}), by.get(("total", "tool"), {})
    if user.get("steps") and tool.get("steps"):
        text += (
            f" User-initiated steps are {pct(user['fresh_share'])} fresh (amplification "
            f"{format_value(user['amplification'], 'float1')}), tool-result steps "
            f"{pct(tool['fresh_share'])} ({format_value(tool['amplification'], 'float1')})."
        )
    text += (
        f" {count(skipped.get('steps'))} session-first steps "
        f"({tokens(skipped.get('append'))} append tokens) are outside both sums."
    )
    return text


# --- Fig. 11 --------------------------------------------------------------------------------


@experiment(
    "prefix_cache/hit_vs_gap",
    title="Prefix hit rate versus the preceding idle gap",
    question="How does the prefix hit rate of a step depend on how long the session was idle "
    "before it, for user-initiated and tool-initiated steps?",
    definitions="""
- **Idle gap** before a step: the human input wait for a user-initiated step (previous event of
  the session → its user message), the longest effective tool latency among the results it
  carries for a tool-initiated step (`step_facts.idle_gap_ms`).
- Steps: those with a predecessor in the session and an observable idle gap.
- **Gap bins**: below 1 s; then logarithmic, 4 per decade from 1 s (the last closed at 1 day);
  then 1 day and more. The figure draws the open-ended first and last bins at 0.5 s and 1.5 d.
- Per bin: steps; **token-weighted hit rate** Σ prefix / Σ (prefix + append); the **median step
  hit ratio** prefix / (prefix + append) (quantile_cont); the share of steps whose ratio is
  below 50%.
- Second table: the same per gap band (< 5 min, 5 min–1 h, ≥ 1 h), with each band's share of
  the steps of its type.
""",
    study_item="Fig. 11",
)
def hit_vs_gap(con: duckdb.DuckDBPyConnection) -> Result:
    edges = cache.gap_bin_edges_ms()
    bins = cache.hit_by_gap(con, cache.gap_bin_sql())
    bands = cache.hit_by_gap(con, cache.gap_band_sql())
    measures = ["steps", "hit rate", "median step hit ratio", "share of steps < 50% hit"]
    kinds = {
        "gap from (ms)": "ms",
        "gap to (ms)": "ms",
        "plot at (ms)": "ms",
        "steps": "int",
        "hit rate": "pct",
        "median step hit ratio": "pct",
        "share of steps < 50% hit": "pct",
    }
    bin_table = Table(
        name="fig11_hit_vs_gap",
        title="Fig. 11 — prefix hit rate per idle-gap bin",
        columns=[
            "provider",
            "step type",
            "gap bin",
            "gap from (ms)",
            "gap to (ms)",
            "plot at (ms)",
            *measures,
        ],
        rows=[
            [r["provider"], r["kind"], *_gap_bin(edges, r["bin"]), *(r[f] for f in GAP_FIELDS)]
            for r in bins
        ],
        kinds=kinds,
    )
    band_table = Table(
        name="hit_by_gap_band",
        title="Prefix hit rate per idle-gap band",
        columns=["provider", "step type", "gap band", "steps", "share of type", *measures[1:]],
        rows=[
            [
                r["provider"],
                r["kind"],
                BAND_LABELS[r["bin"]],
                r["steps"],
                r["step_share"],
                *(r[f] for f in GAP_FIELDS[1:]),
            ]
            for r in bands
        ],
        kinds={**kinds, "share of type": "pct"},
    )
    return Result([bin_table, band_table], _gap_text(bands))


def _gap_bin(edges: list[float], index: int) -> list[Any]:
    """[label, from, to, plot position] of gap bin `index` (-1 = below the first edge)."""
    if index < 0:
        return [f"< {format_value(edges[0], 'ms')}", None, edges[0], UNDER_X_MS]
    if index >= len(edges) - 1:
        return [f"≥ {format_value(edges[-1], 'ms')}", edges[-1], None, OVER_X_MS]
    lo, hi = edges[index], edges[index + 1]
    label = f"{format_value(lo, 'ms')}–{format_value(hi, 'ms')}"
    return [label, lo, hi, (lo * hi) ** 0.5]


def _steps(n: int | None, adjective: str = "") -> str:
    """'1 step', '3 steps', '3 session-first steps'."""
    noun = "step" if n == 1 else "steps"
    return f"{count(n)} {adjective} {noun}" if adjective else f"{count(n)} {noun}"


def _gap_text(bands: list[dict[str, Any]]) -> str:
    total = {(r["kind"], r["bin"]): r for r in bands if r["provider"] == "total"}
    if not total:
        return (
            "No step has both a predecessor and an observable idle gap, so there is nothing to bin."
        )
    sentences = []
    for kind, label in (("user", "User-initiated"), ("tool", "Tool-initiated")):
        parts = [
            f"{pct(r['hit_rate'])} after gaps {BAND_LABELS[b]} ({_steps(r['steps'])})"
            for b in range(len(BAND_LABELS))
            if (r := total.get((kind, b)))
        ]
        if parts:
            sentences.append(f"{label} steps hit (token-weighted) " + ", ".join(parts) + ".")
    tool = [r for (kind, _), r in total.items() if kind == "tool"]
    if tool:
        n_tool = sum(r["steps"] for r in tool)
        n_long = sum(r["steps"] for r in tool if r["bin"] > 0)
        sentences.append(
            f"{count(n_long)} of {count(n_tool)} tool-initiated steps "
            f"({pct(n_long / n_tool)}) follow an idle gap of 5 min or more."
        )
    return " ".join(sentences)


def _duration_label(ms: float) -> str:
    """Short tick label of a round duration: 1s, 5m, 1h, 1d."""
    for unit_ms, unit in ((cache.DAY_MS, "d"), (cache.HOUR_MS, "h"), (cache.MINUTE_MS, "m")):
        if ms >= unit_ms:
            return f"{ms / unit_ms:g}{unit}"
    return f"{ms / cache.SECOND_MS:g}s"


def _time_axis(ax: Any, ticks_ms: tuple[float, ...], label: str) -> None:
    """Log x axis in seconds, ticks at round durations."""
    ax.set_xscale("log")
    ax.set_xticks([t / cache.SECOND_MS for t in ticks_ms])
    ax.set_xticklabels([_duration_label(t) for t in ticks_ms])
    ax.set_xlabel(label)


def _marks(ax: Any, marks_ms: tuple[float, ...], labelled: bool) -> None:
    """Dotted vertical lines at `marks_ms`, labelled above the axes when `labelled`."""
    for m in marks_ms:
        ax.axvline(m / cache.SECOND_MS, color="#555555", ls=":", lw=1)
        if labelled:
            ax.annotate(
                _duration_label(m),
                (m / cache.SECOND_MS, 1),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="#555555",
                annotation_clip=False,
            )


def _gap_series(pts: list[dict[str, Any]], *columns: str) -> list[list[Any]]:
    """[x (s), *columns] of a Fig. 11 series; a NaN breaks the line where gap bins are missing."""
    out: list[list[Any]] = [[] for _ in range(len(columns) + 1)]
    for prev, r in zip([None, *pts], pts, strict=False):
        if prev is not None and prev["gap to (ms)"] != r["gap from (ms)"]:
            for values in out:
                values.append(math.nan)
        out[0].append(r["plot at (ms)"] / cache.SECOND_MS)
        for values, column in zip(out[1:], columns, strict=True):
            values.append(math.nan if r[column] is None else r[column])
    return out


@hit_vs_gap.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig11_hit_vs_gap")
    rows = [r for r in table.records() if r["provider"] != "total"]
    provs = list(dict.fromkeys(r["provider"] for r in rows))
    fig, axes = new_figure(
        ncols=max(1, len(provs)),
        nrows=2,
        width=max(6.4, 4.4 * len(provs)),
        height=5.4,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    bands = (5 * cache.MINUTE_MS, cache.HOUR_MS)
    for col, prov in enumerate(provs or ["no data"]):
        top, bottom = axes[0][col], axes[1][col]
        series = [r for r in rows if r["provider"] == prov]
        if not series:
            no_data(top)
        for kind in ("user", "tool"):
            pts = [r for r in series if r["step type"] == kind]
            if not pts:
                continue
            color = STEP_KIND_COLORS[kind]
            name = KIND_LABELS[kind].lower()
            top.plot(*_gap_series(pts, "hit rate"), "o-", color=color, ms=3, label=name)
            top.plot(
                *_gap_series(pts, "median step hit ratio"),
                "--",
                color=color,
                lw=1,
                label=f"{name}: median step",
            )
            bottom.plot(*_gap_series(pts, "steps"), "o-", color=color, ms=3, label=name)
        top.set_title(prov, pad=14)
        top.set_ylim(0, 1.02)
        top.set_ylabel("prefix hit rate")
        bottom.set_ylabel("steps")
        if series:
            bottom.set_yscale("log")
            top.legend(loc="lower left", fontsize=7)
        _marks(top, bands, labelled=True)
        _marks(bottom, bands, labelled=False)
        _time_axis(bottom, TIME_TICKS_MS, "idle gap before the step")
    fig.suptitle("Prefix hit rate vs the preceding idle gap (solid: token-weighted)")
    return [
        Figure(
            name="fig11_hit_vs_gap",
            title="Fig. 11 — prefix hit rate vs the preceding idle gap",
            figure=fig,
            data=table,
            caption="Per provider: token-weighted hit rate (solid) and median step hit ratio "
            "(dashed) per idle-gap bin, user-initiated vs tool-initiated steps; below, the "
            "number of steps per bin. Dotted lines: 5 min and 1 h. The first and last points "
            "gather gaps below 1 s and of 1 day or more.",
            interactive=_gap_plotly(rows, provs),
        )
    ]


def _gap_plotly(rows: list[dict[str, Any]], provs: list[str]) -> Any:
    """Plotly version of Fig. 11: hit rate (top) and step counts (bottom) per provider."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cols = max(1, len(provs))
    fig = make_subplots(
        rows=2,
        cols=cols,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        subplot_titles=provs or ["no data"],
    )
    for col, prov in enumerate(provs, start=1):
        for kind in ("user", "tool"):
            pts = [r for r in rows if r["provider"] == prov and r["step type"] == kind]
            pts = [
                {
                    **r,
                    "hover": f"{r['gap bin']}<br>{r['steps']} steps<br>median "
                    f"{pct(r['median step hit ratio'])}<br>"
                    f"{pct(r['share of steps < 50% hit'])} below 50%",
                }
                for r in pts
            ]
            x, hit, steps, hover = _gap_series(pts, "hit rate", "steps", "hover")
            style = {"color": STEP_KIND_COLORS[kind]}
            name = f"{prov} {kind}"
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=hit,
                    mode="lines+markers",
                    name=name,
                    line=style,
                    text=hover,
                    hovertemplate="%{text}<br>hit %{y:.1%}",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=steps,
                    mode="lines+markers",
                    name=f"{name} steps",
                    line=style,
                    showlegend=False,
                    text=hover,
                    hovertemplate="%{text}",
                ),
                row=2,
                col=col,
            )
        fig.update_yaxes(title_text="prefix hit rate", range=[0, 1.02], row=1, col=col)
        fig.update_yaxes(title_text="steps", type="log", row=2, col=col)
    fig.update_xaxes(type="log", title_text="idle gap (s)", row=2)
    fig.update_xaxes(type="log", row=1)
    for m in (5 * cache.MINUTE_MS, cache.HOUR_MS):
        fig.add_vline(x=m / cache.SECOND_MS, line_dash="dot", line_color="#555555")
    fig.update_layout(
        title="Prefix hit rate vs the preceding idle gap", template="plotly_white", height=520
    )
    return fig


# --- Fig. 12 --------------------------------------------------------------------------------

SWEEP_MEASURES = [
    ("hit rate", "hit_rate", "pct"),
    ("prefill tokens", "prefill", "tokens"),
    ("prefill amplification", "amplification", "float2"),
    ("KV storage ratio R", "storage_ratio", "float2"),
    ("active ratio 1/(1+R)", "active_ratio", "pct"),
]
#: The three panels of Fig. 12 (table column, axis label).
SWEEP_PANELS = (
    ("hit rate", "achievable hit rate"),
    ("KV storage ratio R", "storage ratio R\n(suspended / active KV)"),
    ("prefill amplification", "prefill amplification\n(prefill / fresh)"),
)


@experiment(
    "prefix_cache/eviction_sweep",
    title="Eviction-time sweep: hit rate, KV storage and prefill amplification",
    question="How do the achievable hit rate, the suspended KV storage and the prefill "
    "amplification trade off as the prefix-cache eviction time grows from 1 s to 1 h?",
    definitions="""
- Idealized rule: step i is a **full hit** if its preceding idle gap g_i ≤ τ (a gap equal to τ
  is a hit), else a **full miss** (the whole context is prefilled again). The gap is the human
  wait for user-initiated steps and the tool latency for tool-initiated steps.
- **hit(τ)** = Σ_{g ≤ τ} (C_i − fresh_i) / Σ C_i, with C = prefix + append; **prefill(τ)** =
  Σ fresh + Σ_{g > τ} (C_i − fresh_i); **amplification(τ)** = prefill(τ) / Σ fresh (1 for a
  cache that never evicts).
- **KV storage ratio** R(τ) = Σ min(g_i, τ) / Σ generation time (suspended over active KV
  time); **active ratio** = 1 / (1 + R).
- **Population**: steps with a predecessor in the session (session-first steps have no fresh
  count and nothing cached to keep) and an observable idle gap. Steps left out are counted in
  the text. Negative gaps (clock skew) count as 0; generation time sums the steps' positive
  observable generation times (others add 0).
- τ grid: 60 log-spaced points from 1 s to 1 h plus the marks 1m, 5m, 10m, 30m, 1h; per
  provider and in total.
""",
    study_item="Fig. 12",
)
def eviction_sweep(con: duckdb.DuckDBPyConnection) -> Result:
    sweep = cache.eviction_sweep(con)
    population = cache.sweep_population(con)
    columns = ["provider", "eviction time τ (ms)", "steps", "hit steps"]
    columns += [label for label, _, _ in SWEEP_MEASURES]
    kinds = {"eviction time τ (ms)": "ms", "steps": "int", "hit steps": "int"}
    kinds |= {label: fmt for label, _, fmt in SWEEP_MEASURES}

    def body(recs: list[dict[str, Any]]) -> list[list[Any]]:
        return [
            [r["provider"], r["tau_ms"], r["steps"], r["hit_steps"]]
            + [r[field] for _, field, _ in SWEEP_MEASURES]
            for r in recs
        ]

    marks = [r for r in sweep if r["tau_ms"] in cache.SWEEP_MARKS_MS]
    tables = [
        Table(
            "fig12_eviction_sweep",
            "Fig. 12 — eviction-time sweep (every τ)",
            columns,
            body(sweep),
            kinds=kinds,
        ),
        Table(
            "eviction_sweep_marks",
            "Eviction-time sweep at the marked τ",
            columns,
            body(marks),
            kinds=kinds,
        ),
    ]
    return Result(tables, _sweep_text(marks, population))


def _sweep_text(marks: list[dict[str, Any]], population: dict[str, Any]) -> str:
    total = {r["tau_ms"]: r for r in marks if r["provider"] == "total"}
    left_out = (
        f"left out are {_steps(population['session_first'], 'session-first')} and "
        f"{_steps(population['unknown_gap'])} without an observable idle gap"
    )
    if not population["swept"]:
        return f"No step enters the sweep ({left_out})."
    lo, mid, hi = (total[t] for t in (cache.MINUTE_MS, 5 * cache.MINUTE_MS, cache.HOUR_MS))

    def ratio(r: dict[str, Any]) -> str:
        return format_value(r["storage_ratio"], "float2")

    text = (
        f"Under the idealized rule, raising the eviction time from 1 min to 5 min to 1 h lifts "
        f"the achievable hit rate from {pct(lo['hit_rate'])} to {pct(mid['hit_rate'])} to "
        f"{pct(hi['hit_rate'])}, while the KV storage ratio R grows from {ratio(lo)} to "
        f"{ratio(mid)} to {ratio(hi)} (active share {pct(lo['active_ratio'])} → "
        f"{pct(hi['active_ratio'])})."
    )
    if lo["amplification"] is not None:
        text += (
            f" Prefill amplification falls from {format_value(lo['amplification'], 'float2')} "
            f"at 1 min to {format_value(mid['amplification'], 'float2')} at 5 min and "
            f"{format_value(hi['amplification'], 'float2')} at 1 h (1.0 would prefill only "
            "fresh tokens)."
        )
    if lo["storage_ratio"] is None:
        text += " No swept step has a positive generation time, so R is undefined."
    text += f" The sweep covers {count(population['swept'])} steps; {left_out}"
    if population["negative_gap"]:
        text += f"; {count(population['negative_gap'])} negative gaps (clock skew) count as 0"
    if population["no_generation_time"]:
        text += (
            f"; {count(population['no_generation_time'])} swept steps have no positive "
            "generation time and add none to the active time"
        )
    return text + "."


@eviction_sweep.figures
def _(result: Result) -> list[Figure]:
    table = result.table("fig12_eviction_sweep")
    rows = table.records()
    groups = list(dict.fromkeys(r["provider"] for r in rows))
    fig, axes = new_figure(nrows=3, width=6.4, height=7.2, sharex=True, squeeze=False)
    for i, (column, label) in enumerate(SWEEP_PANELS):
        ax = axes[i][0]
        for j, group in enumerate(groups):
            pts = [r for r in rows if r["provider"] == group and r[column] is not None]
            ax.plot(
                [r["eviction time τ (ms)"] / cache.SECOND_MS for r in pts],
                [r[column] for r in pts],
                color=provider_color(group, j),
                lw=2.2 if group == "total" else 1.4,
                label=group,
            )
            marked = [r for r in pts if r["eviction time τ (ms)"] in cache.SWEEP_MARKS_MS]
            ax.plot(
                [r["eviction time τ (ms)"] / cache.SECOND_MS for r in marked],
                [r[column] for r in marked],
                "o",
                ms=3.5,
                color=provider_color(group, j),
            )
        ax.set_ylabel(label)
        _marks(ax, cache.SWEEP_MARKS_MS, labelled=i == 0)
        if not rows:
            no_data(ax)
    axes[0][0].set_ylim(top=1.0)
    axes[2][0].axhline(1.0, color="#888888", lw=1, ls="--")
    axes[2][0].annotate(
        "never evicts: 1.0",
        (0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(4, 3),
        textcoords="offset points",
        fontsize=7,
        color="#555555",
    )
    if groups:
        axes[0][0].legend(loc="lower right")
    _time_axis(
        axes[2][0],
        (cache.SECOND_MS, 10 * cache.SECOND_MS, *cache.SWEEP_MARKS_MS),
        "eviction time τ",
    )
    fig.suptitle("Idealized eviction-time sweep")
    return [
        Figure(
            name="fig12_eviction_sweep",
            title="Fig. 12 — eviction-time sweep",
            figure=fig,
            data=table,
            caption="Achievable hit rate, KV storage ratio R (suspended over active KV time) and "
            "prefill amplification against the eviction time τ (log axis), per provider and "
            "in total; dotted lines mark 1m, 5m, 10m, 30m and 1h.",
            interactive=_sweep_plotly(rows, groups),
        )
    ]


def _sweep_plotly(rows: list[dict[str, Any]], groups: list[str]) -> Any:
    """Plotly version of Fig. 12: three stacked panels on one log τ axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, subplot_titles=[c for c, _ in SWEEP_PANELS]
    )
    for i, (column, label) in enumerate(SWEEP_PANELS, start=1):
        for j, group in enumerate(groups):
            pts = [r for r in rows if r["provider"] == group]
            fig.add_trace(
                go.Scatter(
                    x=[r["eviction time τ (ms)"] / cache.SECOND_MS for r in pts],
                    y=[r[column] for r in pts],
                    mode="lines",
                    name=group,
                    legendgroup=group,
                    showlegend=i == 1,
                    line={"color": provider_color(group, j)},
                ),
                row=i,
                col=1,
            )
        fig.update_yaxes(title_text=label.replace("\n", " "), row=i, col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="eviction time τ (s)", row=3, col=1)
    for m in cache.SWEEP_MARKS_MS:
        fig.add_vline(x=m / cache.SECOND_MS, line_dash="dot", line_color="#555555")
    fig.update_layout(title="Idealized eviction-time sweep", template="plotly_white", height=760)
    return fig


# --- Table 13 -------------------------------------------------------------------------------


@experiment(
    "prefix_cache/human_thinking_cost",
    title="The cost of human thinking time (retained-cache counterfactual)",
    question="How much append prefill and cost would be avoided if user-initiated steps kept "
    "their prefix cache across the human pause before them?",
    definitions="""
- For each **user-initiated step with a predecessor** in its session, keep the input
  C_i = prefix_i + append_i but cap append at the net context growth max(0, C_i − C_{i−1});
  the rest moves to prefix, billed at the cache-read price. If append is already below the
  growth it is unchanged; tool-result steps and session-first steps are unchanged. An upper
  bound: it assumes the whole previous context could have been served from cache.
- A Claude step's append is billed as uncached input plus cache-creation (5-minute write); the
  capped append keeps their proportions (both scaled by new append / append).
- Cost uses the price table and cost formulas of every other analysis (Table 6). Token rows
  count every step; **cost rows count priced steps only** (steps of unpriced models are listed).
- Reduction % = reduction / observed total (append tokens of all steps; cost of priced steps).
  **Avg saved / reduced step** = cost reduction / priced steps whose append was reduced.
""",
    study_item="Table 13",
)
def human_thinking_cost(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    by = {r["provider"]: _with_reductions(r) for r in cache.retained_cache(con)}
    metrics = [
        ("User steps w/ predecessor", "user_steps", "int"),
        ("Observed append", "append_before", "tokens"),
        ("Append after retained cache", "append_after", "tokens"),
        ("Append reduction", "append_saved", "tokens"),
        ("Append reduction %", "append_saved_share", "pct"),
        ("Observed total cost", "cost_before", "usd"),
        ("Cost after retained cache", "cost_after", "usd"),
        ("Cost reduction", "cost_saved", "usd"),
        ("Cost reduction %", "cost_saved_share", "pct"),
        ("Avg saved / reduced step (USD)", "saved_per_step", "float3"),
        ("Steps with reduced append", "reduced_steps", "int"),
        ("Steps of unpriced models (not in cost)", "unpriced_steps", "int"),
    ]
    table = Table(
        name="table13_human_thinking_cost",
        title="Table 13 — append and cost if user steps retained their prefix cache",
        columns=["metric", *keys],
        rows=[[label, *(by.get(k, {}).get(f) for k in keys)] for label, f, _ in metrics],
        row_kinds=[fmt for _, _, fmt in metrics],
        latex=True,
        note="Cost rows cover priced steps only; token rows cover every step.",
    )
    return Result([table], _thinking_text(by.get("total", {})))


def _with_reductions(r: dict[str, Any]) -> dict[str, Any]:
    """Add the reductions (absolute, share, per reduced priced step) to a `retained_cache` row."""
    append_saved = r["append_before"] - r["append_after"]
    cost_saved = None
    if r["cost_before"] is not None and r["cost_after"] is not None:
        cost_saved = r["cost_before"] - r["cost_after"]
    return {
        **r,
        "append_saved": append_saved,
        "append_saved_share": share(append_saved, r["append_before"]),
        "cost_saved": cost_saved,
        "cost_saved_share": share(cost_saved, r["cost_before"]),
        "saved_per_step": share(cost_saved, r["reduced_priced_steps"]),
    }


def _thinking_text(total: dict[str, Any]) -> str:
    if not total.get("user_steps"):
        return (
            "The trace has no user-initiated step with a predecessor in its session, so "
            "retaining the cache across human pauses changes nothing."
        )
    text = (
        f"If the {count(total['user_steps'])} user-initiated steps with a predecessor kept "
        f"their prefix cache across the human pause, append prefill would fall from "
        f"{tokens(total['append_before'])} to {tokens(total['append_after'])} tokens "
        f"(−{tokens(total['append_saved'])}, {pct(total['append_saved_share'])}; "
        f"{_steps(total['reduced_steps'])} reduced)."
    )
    if total["cost_saved"] is not None:
        text += (
            f" At list prices the cost would fall from {format_value(total['cost_before'], 'usd')}"
            f" to {format_value(total['cost_after'], 'usd')} "
            f"(−{format_value(total['cost_saved'], 'usd')}, {pct(total['cost_saved_share'])}), "
            f"${format_value(total['saved_per_step'], 'float3')} per reduced step."
        )
    else:
        text += " No step has a priced model, so there is no cost estimate."
    if total["unpriced_steps"]:
        text += (
            f" {_steps(total['unpriced_steps'])} of unpriced models "
            f"({count(total['unpriced_user_steps'])} of them user steps with a predecessor) are "
            "left out of the cost rows."
        )
    return text
