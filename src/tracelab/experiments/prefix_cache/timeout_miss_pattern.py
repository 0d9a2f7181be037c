"""`prefix_cache/timeout_miss_pattern` (amendments §5): a drawn schematic of what a cache
timeout costs — a session's steps hit the prefix cache until the user returns after the cache
was evicted, and that one step re-sends the whole context as append.

Synthetic: generated from a fixed seed, never from the trace, so it is the same on every trace.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import count
from tracelab.experiments.registry import experiment
from tracelab.figures.style import SERIES_COLORS, new_figure

SEED = 20250613
START_TOTAL = 6_500
#: Inclusive bounds of a step's new tokens: a user message, a tool result.
USER_INCREMENT = (3_000, 4_200)
TOOL_INCREMENT = (1_100, 2_400)
#: The bursts: whether the user step that opens it hits the cache, then its tool-result steps.
BURSTS = ((True, 17), (True, 18), (False, 19))
#: The axis breaks (schematic time elided while the user is away): before the 2nd user step
#: and before the miss. Only these two positions are the reference's; see `step_positions`.
X_BREAKS = (3.1, 4.8)
BREAK_LABELS = (
    "user returns before the cache timeout: hit",
    "user returns after the cache timeout: miss",
)
SEGMENT_COLORS = {"prefix (cache hit)": SERIES_COLORS[0], "append": SERIES_COLORS[1]}


def step_positions() -> list[float]:
    """x of every step: one spacing d = (4.8 − 3.1) / 20, so the 2nd burst's 19 steps fill the
    space between the breaks with one d of margin on each side, and every burst has it."""
    b1, b2 = X_BREAKS
    n1, n2, n3 = (1 + tools for _, tools in BURSTS)
    d = (b2 - b1) / (n2 + 1)
    first = [b1 - (n1 - k) * d for k in range(n1)]
    second = [b1 + (k + 1) * d for k in range(n2)]
    third = [b2 + (k + 1) * d for k in range(n3)]
    return [round(x, 6) for x in first + second + third]


def schematic_steps() -> list[list[Any]]:
    """The generated series: (step, burst, x, kind, cache, increment, prefix, append, total).

    One draw per step in step order, `default_rng(SEED).integers(lo, hi, endpoint=True)`. A hit
    keeps the previous total as prefix and appends its increment; the miss adds its increment
    to the total and re-sends all of it: prefix 0, append = total.
    """
    import numpy as np

    rng = np.random.default_rng(SEED)
    xs = iter(step_positions())
    total = START_TOTAL
    rows: list[list[Any]] = []
    for burst, (user_hits, tools) in enumerate(BURSTS, start=1):
        for i in range(1 + tools):
            lo, hi = USER_INCREMENT if i == 0 else TOOL_INCREMENT
            inc = int(rng.integers(lo, hi, endpoint=True))
            hit = i > 0 or user_hits
            prefix = total if hit else 0
            total += inc
            kind = "user" if i == 0 else "tool"
            rows.append(
                [
                    len(rows) + 1,
                    burst,
                    next(xs),
                    kind,
                    "hit" if hit else "miss",
                    inc,
                    prefix,
                    total - prefix,
                    total,
                ]
            )
    return rows


@experiment(
    "prefix_cache/timeout_miss_pattern",
    title="What a cache timeout costs (schematic)",
    question="When the user comes back after the prefix cache was evicted, what does that one "
    "step cost compared with the cache hits around it?",
    definitions=f"""
- A drawing, not data: a SYNTHETIC session (the reference's schematic), the same on every
  trace. `numpy.random.default_rng({SEED})`, one integer draw per step in step order, bounds
  inclusive (`integers(lo, hi, endpoint=True)`); the context total starts at
  {count(START_TOTAL)} tokens.
- Three bursts, each a user step then tool-result steps: user hit + {BURSTS[0][1]} tool hits;
  user hit + {BURSTS[1][1]} tool hits; **miss** + {BURSTS[2][1]} tool hits. A user step adds
  U[{USER_INCREMENT[0]}, {USER_INCREMENT[1]}] tokens, a tool-result step
  U[{TOOL_INCREMENT[0]}, {TOOL_INCREMENT[1]}].
- **Hit**: prefix = the previous step's total, append = the step's increment. **Miss**: the
  total grows by the user increment, prefix = 0 and append = the whole total (the evicted
  context is prefilled again).
- The x axis is schematic time with two breaks, at {X_BREAKS[0]} before the 2nd user step
  (the user came back in time) and at {X_BREAKS[1]} before the miss (the user came back after
  the timeout). The reference fixes only the breaks; the steps' x are ours: one spacing
  d = ({X_BREAKS[1]} − {X_BREAKS[0]}) / 20 everywhere, each burst starting d after its break.
""",
    study_item="— (reference schematic)",
)
def timeout_miss_pattern(con: duckdb.DuckDBPyConnection) -> Result:
    del con  # generated from a fixed seed, not from the trace
    rows = schematic_steps()
    steps = Table(
        name="timeout_miss_steps",
        title="The generated steps (tokens)",
        columns=["step", "burst", "x", "kind", "cache", "increment", "prefix", "append", "total"],
        rows=rows,
        kinds={
            "step": "int",
            "burst": "int",
            "x": "float",
            "increment": "tokens",
            "prefix": "tokens",
            "append": "tokens",
            "total": "tokens",
        },
    )
    breaks = Table(
        name="timeout_miss_breaks",
        title="The axis breaks (time elided while the user is away)",
        columns=["x", "next step", "what happens"],
        rows=[
            [x, next(r[0] for r in rows if r[2] > x), label]
            for x, label in zip(X_BREAKS, BREAK_LABELS, strict=True)
        ],
        kinds={"x": "float", "next step": "int"},
    )
    return Result([steps, breaks], _text(steps.records()))


def _text(recs: list[dict[str, Any]]) -> str:
    miss = next(r for r in recs if r["cache"] == "miss")
    before = recs[miss["step"] - 2]
    hits = [r for r in recs if r["cache"] == "hit"]
    mean_hit = sum(r["append"] for r in hits) / len(hits)
    return (
        f"Every one of the {len(hits)} steps before and after step {miss['step']} hits the "
        f"cache and appends {count(round(mean_hit))} tokens on average. Step {miss['step']}, "
        f"the user's return after the timeout, finds the cache evicted: instead of a "
        f"{count(before['total'])}-token prefix and a {count(miss['increment'])}-token append "
        f"it prefills all {count(miss['append'])} tokens again, "
        f"{miss['append'] / mean_hit:.0f}× an average hit's append."
    )


@timeout_miss_pattern.figures
def _(result: Result) -> list[Figure]:
    steps = result.table("timeout_miss_steps")
    recs = steps.records()
    breaks = result.table("timeout_miss_breaks").records()
    xs = [r["x"] for r in recs]
    width = 0.8 * (xs[1] - xs[0])
    fig, ax = new_figure(width=7.2, height=3.8)
    bottom = [r["prefix"] / 1000 for r in recs]
    ax.bar(xs, bottom, width=width, color=SEGMENT_COLORS["prefix (cache hit)"], label="prefix")
    ax.bar(
        xs,
        [r["append"] / 1000 for r in recs],
        bottom=bottom,
        width=width,
        color=SEGMENT_COLORS["append"],
        label="append",
    )
    top = max(r["total"] for r in recs) / 1000
    for b in breaks:
        ax.axvline(b["x"], color="#555555", ls=(0, (4, 3)), lw=1)
        ax.annotate("//", (b["x"], 0), ha="center", va="center", fontsize=11, annotation_clip=False)
        ax.annotate(
            b["what happens"].replace(": ", ":\n"),
            (b["x"], top * 1.06),
            ha="left",
            va="bottom",
            fontsize=7,
            xytext=(3, 0),
            textcoords="offset points",
        )
    miss = next(r for r in recs if r["cache"] == "miss")
    ax.annotate(
        f"miss: prefix 0,\nappend {miss['append']:,}",
        (miss["x"], miss["total"] / 1000),
        xytext=(-10, 14),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=7,
        arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 0.8},
    )
    ax.set_ylim(0, top * 1.3)
    ax.set_xlim(xs[0] - width, xs[-1] + width)
    ax.set_xticks([])
    ax.set_xlabel("time (schematic; the axis breaks elide the user's absence)")
    ax.set_ylabel("tokens of the step's input (k)")
    ax.legend(loc="upper left")
    ax.grid(axis="x", visible=False)
    ax.set_title("A cache timeout: one step re-prefills the whole context")
    return [
        Figure(
            name="timeout_miss_pattern",
            title="Cache hits, then a miss after a timeout (schematic)",
            figure=fig,
            data=steps,
            caption="A synthetic session: each bar is one step's input, the cached prefix "
            "below and the append above. Dashed breaks elide the user's absence; after the "
            "second the cache has timed out and the whole context is appended again.",
            interactive=_plotly(recs, breaks),
        )
    ]


def _plotly(recs: list[dict[str, Any]], breaks: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    custom = [[r["step"], r["kind"], r["cache"], r["total"]] for r in recs]
    hover = (
        "step %{customdata[0]} (%{customdata[1]}, %{customdata[2]})<br>"
        "%{fullData.name}: %{y:,} tokens<br>total %{customdata[3]:,}<extra></extra>"
    )
    for (name, color), field in zip(SEGMENT_COLORS.items(), ("prefix", "append"), strict=True):
        fig.add_trace(
            go.Bar(
                x=[r["x"] for r in recs],
                y=[r[field] for r in recs],
                name=name,
                marker_color=color,
                customdata=custom,
                hovertemplate=hover,
            )
        )
    for b in breaks:
        fig.add_vline(
            x=b["x"],
            line_dash="dash",
            line_color="#555555",
            annotation_text=b["what happens"],
            annotation_position="top left",
            annotation_font_size=10,
        )
    fig.update_layout(
        title="A cache timeout: one step re-prefills the whole context",
        template="plotly_white",
        barmode="stack",
        bargap=0.2,
        height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        xaxis={"title": "time (schematic)", "showticklabels": False},
        yaxis={"title": "tokens of the step's input", "tickformat": ","},
    )
    return fig
