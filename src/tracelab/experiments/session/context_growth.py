"""`session/context_growth` (Table 3 + extra): how the total input changes between consecutive
steps, and the power-of-two histogram of |growth|.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import providers, rows
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.session import MAJOR_DROP, MICRO_MAX, prepare_session

GROWTH_SQL = """
SELECT provider,
       CASE WHEN grouping(kind) = 1 THEN 'all' ELSE kind END AS steps_of,
       count(*) AS steps,
       avg((change = 'growth')::INTEGER) AS positive,
       avg((change IN ('micro', 'ordinary', 'major'))::INTEGER) AS negative,
       avg((change = 'micro')::INTEGER) AS micro,
       avg((change = 'ordinary')::INTEGER) AS ordinary,
       avg((change = 'major')::INTEGER) AS major,
       avg(growth) FILTER (WHERE change = 'growth') AS avg_positive
FROM (
    SELECT *, CASE WHEN is_user THEN 'user' WHEN is_tool THEN 'tool' END AS kind
    FROM context_changes WHERE change IS NOT NULL
)
GROUP BY GROUPING SETS ((provider), (provider, kind))
HAVING grouping(kind) = 1 OR kind IS NOT NULL
"""

GROWTH_HISTOGRAM_SQL = """
WITH counted AS (
    SELECT provider, CASE WHEN growth > 0 THEN 'growth' ELSE 'reduction' END AS direction,
           floor(log2(abs(growth)))::INTEGER AS b, count(*) AS steps
    FROM context_changes WHERE change IS NOT NULL AND growth <> 0
    GROUP BY ALL
)
SELECT c.provider, c.direction, 2.0 ^ c.b AS lo, 2.0 ^ (c.b + 1) AS hi, c.steps,
       c.steps / t.steps AS share
FROM counted c
JOIN (SELECT provider, count(*) AS steps FROM context_changes WHERE change IS NOT NULL
      GROUP BY provider) t USING (provider)
ORDER BY c.provider, c.direction, c.b
"""

GROWTH_COLUMNS = [
    "provider",
    "steps of",
    "steps",
    "positive %",
    "negative %",
    "micro %",
    "ordinary %",
    "major %",
    "avg positive growth",
]
SCOPE_ORDER = {"all": 0, "user": 1, "tool": 2}


@experiment(
    "session/context_growth",
    title="Context growth and reductions between consecutive steps",
    question="How does the total input change from one step to the next — how often does it "
    "grow, shrink a little, or collapse — for user- and tool-initiated steps?",
    definitions=f"""
- **Context growth** of step i: `C_i − C_(i−1)` with `C = prefix + append`, the previous step
  of the same session. A session's first step has no growth and is left out.
- **Positive**: growth > 0; **negative** (a reduction of `drop = C_(i−1) − C_i`): growth < 0.
  Zero growth is neither positive nor negative, so the two shares may sum to less than 100%.
- Reduction buckets: **micro** 0 < drop ≤ {MICRO_MAX:,}; **ordinary** {MICRO_MAX:,} < drop <
  {MAJOR_DROP:,}; **major** drop ≥ {MAJOR_DROP:,} (64k read as 65,536 — the same threshold a
  compaction's drop must reach, see `session/compaction`).
- Shares are of the steps in the row; **avg positive growth** is the mean growth (tokens) of
  the positive steps. Rows: all steps (with a predecessor), user-initiated, tool-initiated.
- Figure: steps per power-of-two bin of |growth|, growth and reductions in separate panels,
  as a share of the provider's steps with a predecessor.
""",
    study_item="Table 3 + extra",
)
def context_growth(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    order = {p: i for i, p in enumerate(providers(con))}
    data = sorted(
        rows(con, GROWTH_SQL), key=lambda r: (order.get(r[0], len(order)), SCOPE_ORDER[r[1]])
    )
    pct = {c: "pct" for c in GROWTH_COLUMNS[3:8]}
    table = Table(
        name="table3_context_growth",
        title="Table 3 — context growth between consecutive steps",
        columns=GROWTH_COLUMNS,
        rows=[list(r) for r in data],
        kinds={"steps": "int", **pct, "avg positive growth": "int"},
        latex=True,
    )
    hist = Table(
        name="growth_histogram",
        title="Steps per power-of-two bin of |context growth|",
        columns=["provider", "direction", "from tokens", "to tokens", "steps", "share of steps"],
        rows=[list(r) for r in rows(con, GROWTH_HISTOGRAM_SQL)],
        kinds={"from tokens": "int", "to tokens": "int", "steps": "int", "share of steps": "pct"},
    )
    return Result([table, hist], _growth_text(table))


def _growth_text(table: Table) -> str:
    if not table.rows:
        return "No step has a predecessor in its session, so there is no context growth."
    parts = []
    for r in (r for r in table.records() if r["steps of"] == "all"):
        parts.append(
            f"{r['provider']}: {format_value(r['positive %'], 'pct')} of "
            f"{format_value(r['steps'], 'int')} steps grow the context (by "
            f"{format_value(r['avg positive growth'], 'int')} tokens on average) and "
            f"{format_value(r['negative %'], 'pct')} shrink it ("
            f"{format_value(r['micro %'], 'pct')} micro, {format_value(r['ordinary %'], 'pct')}"
            f" ordinary, {format_value(r['major %'], 'pct')} major)"
        )
    by_kind = {(r["provider"], r["steps of"]): r for r in table.records()}
    text = "; ".join(parts) + "."
    users = [r for r in table.records() if r["steps of"] == "user"]
    most = max(users, key=lambda r: r["negative %"] or 0, default=None)
    if most and most["negative %"]:
        tool = by_kind.get((most["provider"], "tool"), {}).get("negative %")
        text += (
            f" Among user-initiated steps, {most['provider']} shrinks the context most often ("
            f"{format_value(most['negative %'], 'pct')}, vs {format_value(tool, 'pct')} of its "
            "tool-initiated steps)."
        )
    return text


@context_growth.figures
def _(result: Result) -> list[Figure]:
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    from tracelab.figures.style import new_figure, provider_color

    hist = result.table("growth_histogram")
    fig, axes = new_figure(ncols=2, width=9.0, height=3.6)
    panels = (("growth", "Context growth (C_i − C_i−1 > 0)"), ("reduction", "Reductions"))
    provs = list(dict.fromkeys(hist.column("provider")))
    for ax, (direction, title) in zip(axes, panels, strict=True):
        recs = [r for r in hist.records() if r["direction"] == direction]
        if not recs:
            no_data(ax, f"no {direction} steps")
            ax.set_title(title)
            continue
        for i, p in enumerate(provs):
            mine = [r for r in recs if r["provider"] == p]
            if mine:
                edges, values = _stairs(mine)
                ax.stairs(values, edges, label=p, color=provider_color(p, i), lw=1.6)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _binary_tokens(v)))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("|C_i − C_i−1| (tokens, power-of-two bins)")
        ax.set_ylabel("share of the provider's steps")
        ax.set_title(title)
        ax.legend()
        if direction == "reduction":
            for edge, label in ((MICRO_MAX, "1k"), (MAJOR_DROP, "64k")):
                ax.axvline(edge, color="grey", ls="--", lw=0.8)
                ax.annotate(label, (edge, 1), xycoords=("data", "axes fraction"), fontsize=7)
    fig.suptitle("Distribution of total-input growth between consecutive steps")
    return [
        Figure(
            name="fig_context_growth",
            title="Total-input growth distribution",
            figure=fig,
            data=hist,
            caption="Share of steps per power-of-two bin of |C_i − C_(i−1)|; left: growth, "
            "right: reductions (dashed: micro/ordinary/major boundaries).",
            interactive=_growth_plotly(hist, provs),
        )
    ]


def _binary_tokens(v: float) -> str:
    """Axis label for a power-of-two token count: 512, 1k, 64k, 1M."""
    for unit, suffix in ((1 << 20, "M"), (1 << 10, "k")):
        if v >= unit:
            return f"{v / unit:g}{suffix}"
    return f"{v:g}"


def _stairs(recs: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Contiguous power-of-two edges with zero-filled gaps, from a provider's histogram rows."""
    by_lo = {r["from tokens"]: r["share of steps"] for r in recs}
    lo, hi = min(by_lo), max(r["to tokens"] for r in recs)
    edges = [lo]
    while edges[-1] < hi:
        edges.append(edges[-1] * 2)
    return edges, [by_lo.get(e, 0.0) for e in edges[:-1]]


def _growth_plotly(hist: Table, provs: list[str]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from tracelab.figures.style import provider_color

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Growth", "Reductions"))
    for col, direction in ((1, "growth"), (2, "reduction")):
        for i, p in enumerate(provs):
            recs = [r for r in hist.records() if r["direction"] == direction and r["provider"] == p]
            fig.add_trace(
                go.Bar(
                    x=[f"{r['from tokens']:,.0f}–{r['to tokens']:,.0f}" for r in recs],
                    y=[r["share of steps"] for r in recs],
                    name=p,
                    legendgroup=p,
                    showlegend=col == 1,
                    marker_color=provider_color(p, i),
                    customdata=[r["steps"] for r in recs],
                    hovertemplate="%{x} tokens: %{y:.2%} (%{customdata} steps)",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title="Total-input growth between consecutive steps",
        template="plotly_white",
        barmode="group",
        height=400,
    )
    fig.update_yaxes(tickformat=".1%", title_text="share of the provider's steps")
    fig.update_xaxes(title_text="|C_i − C_(i−1)| (tokens)")
    return fig
