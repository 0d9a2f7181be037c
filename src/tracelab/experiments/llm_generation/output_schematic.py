"""`llm_generation/output_schematic` (Fig. 5): the two ways of accounting for a prior step's
output, drawn from constants.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.registry import experiment
from tracelab.figures.style import new_figure

SEGMENT_COLORS = {"prefix": "#9fb4d3", "append": "#e0a030", "output": "#4a9a5b"}

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
