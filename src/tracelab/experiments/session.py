"""Experiments of category `session`: the agentic loop, context growth and compaction, cost and
wall-clock time per session / request / step (Tables 2–5, 7) and one session's timeline (Fig. 10).

Definitions live in `tracelab.metrics.session` (SQL); this module turns them into tables, words
and figures.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import (
    QUANTILES,
    dist_columns,
    providers,
    records,
    rows,
    share,
)
from tracelab.experiments.fmt import format_value, human_tokens
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.session import (
    HUMAN_CAP_MS,
    MAJOR_DROP,
    MICRO_MAX,
    PEAK_SHARE,
    POSITIVE_GENERATION,
    POSITIVE_TOOL_LATENCIES,
    POSITIVE_WAITS,
    REBOUND_SHARE,
    REBOUND_STEPS,
    REQUEST_COSTS,
    REQUEST_COUNTS,
    SESSION_COSTS,
    SESSION_COUNTS,
    STEP_COSTS,
    Block,
    block_distributions,
    prepare_session,
)

#: Table 5 and Table 7 show avg, p50, p90, p99 (no p25).
TAIL_QUANTILES = (0.5, 0.9, 0.99)


# --- Block tables (Tables 2, 5, 7) -----------------------------------------------------------


def _block_tables(
    dists: list[dict[str, Any]],
    name: str,
    title: str,
    kind: str,
    quantiles: tuple[float, ...],
    share_column: str | None = None,
) -> list[Table]:
    """The distributions as two tables: all providers pooled, and one row block per provider."""
    stats = dist_columns(quantiles)
    extra = [share_column] if share_column else []
    kinds = {c: kind for c in stats} | ({share_column: "pct"} if share_column else {})

    def body(r: dict[str, Any]) -> list[Any]:
        return [r["block"], r["metric"], *(r[c] for c in stats), *([r["share"]] if extra else [])]

    pooled = Table(
        name=name,
        title=title,
        columns=["unit", "metric", *stats, *extra],
        rows=[body(r) for r in dists if r["grp"] == "all"],
        kinds=kinds,
        latex=True,
    )
    per_provider = Table(
        name=f"{name}_by_provider",
        title=f"{title}, per provider",
        columns=["provider", "unit", "metric", *stats, *extra],
        rows=[[r["grp"], *body(r)] for r in dists if r["grp"] != "all"],
        kinds=kinds,
    )
    return [pooled, per_provider]


def _lookup(dists: list[dict[str, Any]], grp: str = "all") -> dict[tuple[str, str], dict]:
    return {(r["block"], r["metric"]): r for r in dists if r["grp"] == grp}


# --- Table 2: the agentic loop ---------------------------------------------------------------

LOOP_BLOCKS = [
    Block(
        "Per session",
        SESSION_COUNTS,
        {
            "Requests": "requests",
            "User-initiated steps": "user_steps",
            "Tool-initiated steps": "tool_steps",
            "Tool calls": "tool_calls",
        },
    ),
    Block(
        "Per request",
        REQUEST_COUNTS,
        {
            "User-initiated steps": "user_steps",
            "Tool-initiated steps": "tool_steps",
            "Tool calls": "tool_calls",
        },
    ),
    Block("Per step", "FROM step_facts", {"Tool calls": "coalesce(tool_call_count, 0)"}),
]


@experiment(
    "session/loop_counts",
    title="The autonomous loop: requests, steps and tool calls",
    question="How many requests, user- and tool-initiated steps and tool calls make up a "
    "session, a request and a step?",
    definitions="""
- **User-initiated step**: its first input event is a `user_message`; **tool-initiated**: a
  `tool_result` (a step with no input event is neither).
- **Request**: a user-initiated step and the steps after it, up to the next user-initiated
  step (`request_facts`). The steps before a session's first user-initiated step form
  *request 0*, a request without a user message — counted as a request, which is why the
  per-request average of user-initiated steps is below 1.
- **Tool calls**: `tool_call_count` of the step, summed per request and session.
- Distributions are over sessions, requests and steps; the second table repeats them per
  provider.
""",
    study_item="Table 2",
)
def loop_counts(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, LOOP_BLOCKS, QUANTILES)
    tables = _block_tables(
        dists, "table2_loop_counts", "Table 2 — requests, steps and tool calls", "float", QUANTILES
    )
    return Result(tables, _loop_text(dists))


def _loop_text(dists: list[dict[str, Any]]) -> str:
    d = _lookup(dists)
    if not d or not d[("Per step", "Tool calls")]["n"]:
        return "The trace has no steps, so there is no loop to count."

    def avg(block: str, metric: str) -> str:
        return format_value(d[(block, metric)]["avg"], "float")

    sessions = d[("Per session", "Requests")]
    user = d[("Per session", "User-initiated steps")]["total"]
    tool = d[("Per session", "Tool-initiated steps")]["total"]
    return (
        f"A session has {avg('Per session', 'Requests')} requests on average (median "
        f"{format_value(sessions['p50'], 'float')}, p99 {format_value(sessions['p99'], 'float')}"
        f") over {format_value(sessions['n'], 'int')} sessions. A request takes "
        f"{avg('Per request', 'Tool-initiated steps')} tool-initiated steps and "
        f"{avg('Per request', 'Tool calls')} tool calls on average, and a step makes "
        f"{avg('Per step', 'Tool calls')} tool calls. Tool-initiated steps are "
        f"{format_value(share(tool, user + tool), 'pct')} of the user- and tool-initiated "
        "steps: the loop runs mostly on its own."
    )


# --- Table 3: context growth -----------------------------------------------------------------

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


# --- Table 4: compaction ---------------------------------------------------------------------

COMPACTION_SQL = """
WITH per_session AS (
    SELECT provider, session_id,
           count(*) FILTER (WHERE change = 'major') AS majors,
           count(*) FILTER (WHERE is_compaction) AS compactions,
           count(*) FILTER (WHERE is_compaction AND is_user) AS user_compactions,
           count(*) FILTER (WHERE is_compaction AND is_tool) AS tool_compactions
    FROM context_changes GROUP BY provider, session_id
)
SELECT CASE WHEN grouping(provider) = 1 THEN 'total' ELSE provider END AS provider,
       count(*) AS sessions,
       sum(majors) AS majors,
       sum(compactions) AS compactions,
       count(*) FILTER (WHERE compactions > 0) AS sessions_with,
       avg(compactions) AS avg_all,
       avg(compactions) FILTER (WHERE compactions > 0) AS avg_with,
       quantile_cont(compactions, 0.9) FILTER (WHERE compactions > 0) AS p90_with,
       quantile_cont(compactions, 0.99) FILTER (WHERE compactions > 0) AS p99_with,
       sum(user_compactions) AS user_compactions,
       sum(tool_compactions) AS tool_compactions
FROM per_session
GROUP BY ROLLUP (provider)
"""

COMPACTION_EVENTS_SQL = """
SELECT provider, session_id, seq,
       CASE WHEN is_user THEN 'user' WHEN is_tool THEN 'tool' ELSE 'other' END AS trigger,
       prev_context, context, reduction, session_max
FROM context_changes WHERE is_compaction
ORDER BY provider, session_id, seq
"""


#: Table 4 rows: (label, kind, field) — a field pair is a share (first / second).
_T4_ROWS: list[tuple[str, str, str | tuple[str, str]]] = [
    ("Sessions", "int", "sessions"),
    (f"Major reductions (drop ≥ {MAJOR_DROP:,})", "int", "majors"),
    ("Compactions", "int", "compactions"),
    ("Compactions, % of major reductions", "pct", ("compactions", "majors")),
    ("Sessions with ≥ 1 compaction", "int", "sessions_with"),
    ("Sessions with ≥ 1 compaction, % of sessions", "pct", ("sessions_with", "sessions")),
    ("Compactions per session, avg (all sessions)", "float", "avg_all"),
    ("Compactions per session, avg (sessions with ≥ 1)", "float", "avg_with"),
    ("Compactions per session, p90 (sessions with ≥ 1)", "float", "p90_with"),
    ("Compactions per session, p99 (sessions with ≥ 1)", "float", "p99_with"),
    ("User-initiated compactions", "int", "user_compactions"),
    ("User-initiated, % of compactions", "pct", ("user_compactions", "compactions")),
    ("Tool-initiated compactions", "int", "tool_compactions"),
    ("Tool-initiated, % of compactions", "pct", ("tool_compactions", "compactions")),
]


def _stat(stats: dict[str, Any], field: str | tuple[str, str]) -> Any:
    if isinstance(field, tuple):
        return share(stats[field[0]], stats[field[1]])
    return stats[field]


@experiment(
    "session/compaction",
    title="Context compactions",
    question="How often is the context compacted near its limit, in how many sessions, and is "
    "it triggered by the user or mid-loop by a tool result?",
    definitions=f"""
- **Major reduction**: `C_(i−1) − C_i ≥ {MAJOR_DROP:,}` tokens (64k = 65,536; the same
  constant as the *major* bucket of `session/context_growth`).
- **Compaction** at step i: a major reduction where (ii) `C_(i−1) ≥ {PEAK_SHARE} × max_session(C)`
  (near the session's peak context) and (iii) at least one step follows and none of the next
  {REBOUND_STEPS} steps (those that exist) rebounds to `≥ {REBOUND_SHARE} × C_(i−1)`. So a drop at
  the session's last step is never a compaction; a rebound at step i+{REBOUND_STEPS + 1} does not
  count. Every compaction is a major reduction.
- **Trigger**: the compaction step's own kind — user-initiated (first input a `user_message`) or
  tool-initiated (`tool_result`).
- Compactions per session: *avg (all sessions)* over every session; avg, p90, p99 over the
  sessions with at least one compaction. Shares in the percentage rows: compactions of major
  reductions, sessions of all sessions, triggers of compactions.
- The second table lists every compaction (pre- and post-drop context, the session maximum).
""",
    study_item="Table 4",
)
def compaction(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    stats = {r["provider"]: r for r in records(con, COMPACTION_SQL) if r["sessions"]}
    keys = [*(p for p in providers(con) if p in stats), *(["total"] if stats else [])]
    body = [[label, *(_stat(stats[k], field) for k in keys)] for label, _, field in _T4_ROWS]
    table = Table(
        name="table4_compactions",
        title="Table 4 — context compactions",
        columns=["metric", *keys],
        rows=body if keys else [],
        row_kinds=[kind for _, kind, _ in _T4_ROWS] if keys else None,
        latex=True,
    )
    events = Table(
        name="compaction_events",
        title="Every compaction: pre-drop and post-drop context, the session's maximum",
        columns=["provider", "session", "step", "trigger", "C before", "C after", "drop", "max C"],
        rows=[list(r) for r in rows(con, COMPACTION_EVENTS_SQL)],
        kinds={c: "int" for c in ("step", "C before", "C after", "drop", "max C")},
    )
    return Result([table, events], _compaction_text(stats.get("total")))


def _compaction_text(total: dict[str, Any] | None) -> str:
    if not total:
        return "The trace has no sessions, so there is nothing to compact."
    if not total["majors"]:
        return (
            f"None of the {format_value(total['sessions'], 'int')} sessions has a major "
            f"context reduction (a drop of ≥ {MAJOR_DROP:,} tokens), so there are no compactions."
        )
    text = (
        f"Of {format_value(total['majors'], 'int')} major reductions, "
        f"{format_value(total['compactions'], 'int')} "
        f"({format_value(share(total['compactions'], total['majors']), 'pct')}) are compactions; "
        f"{format_value(share(total['sessions_with'], total['sessions']), 'pct')} of sessions "
        "have at least one."
    )
    if total["compactions"]:
        text += (
            " Sessions that compact have "
            f"{format_value(total['avg_with'], 'float')} compactions on average (p99 "
            f"{format_value(total['p99_with'], 'float')}), and "
            f"{format_value(share(total['tool_compactions'], total['compactions']), 'pct')} of "
            "compactions happen at tool-initiated steps (mid-loop)."
        )
    return text


# --- Table 5: cost distribution --------------------------------------------------------------

_COST_METRICS = {
    "Total": "cost_total",
    "Append tokens": "cost_append",
    "Prefix tokens": "cost_prefix",
    "Output tokens": "cost_output",
}
_COST_PARTS = ("Append tokens", "Prefix tokens", "Output tokens")
COST_BLOCKS = [
    Block(unit, source, _COST_METRICS, _COST_PARTS, "Total")
    for unit, source in (
        ("Per session", SESSION_COSTS),
        ("Per request", REQUEST_COSTS),
        ("Per step", STEP_COSTS),
    )
]


@experiment(
    "session/cost_distribution",
    title="Cost per session, request and step",
    question="What does a session, a request and a step cost at list prices, and which tokens "
    "(append, prefix, output) is the money spent on?",
    definitions="""
- **Cost of a step** (USD, prices of Table 6): append = uncached input × input price +
  cache-creation × 5-minute-write price (Claude; Codex: append × input price); prefix ×
  cache-read price; output × output price. Steps of models without a price carry no cost.
- **Cost of a session / request** = Σ over its priced steps; sessions and requests without a
  priced step are left out. Request = a user-initiated step and the steps after it
  (`request_facts`, request 0 included).
- **% of cost** = Σ of the component over the units / Σ of their total cost (the same at every
  level, since every level sums the same priced steps).
""",
    study_item="Table 5",
)
def cost_distribution(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, COST_BLOCKS, TAIL_QUANTILES)
    tables = _block_tables(
        dists,
        "table5_cost",
        "Table 5 — cost per session, request and step (USD)",
        "usd",
        TAIL_QUANTILES,
        "% of cost",
    )
    (priced, total) = rows(con, "SELECT count(*) FILTER (WHERE priced), count(*) FROM step_facts")[
        0
    ]
    return Result(tables, _cost_text(dists, priced, total))


def _cost_text(dists: list[dict[str, Any]], priced: int, total: int) -> str:
    d = _lookup(dists)
    unpriced = total - priced
    note = (
        f" {format_value(unpriced, 'int')} of {format_value(total, 'int')} steps are of unpriced "
        "models and carry no cost."
        if unpriced
        else ""
    )
    if not priced:
        return "No step of the trace is priced, so there is no cost to distribute." + note
    sess, req, step = (d[(u, "Total")] for u in ("Per session", "Per request", "Per step"))
    shares = ", ".join(
        f"{m.split()[0].lower()} {format_value(d[('Per session', m)]['share'], 'pct')}"
        for m in _COST_PARTS
    )
    return (
        f"A session costs {format_value(sess['avg'], 'usd')} on average (median "
        f"{format_value(sess['p50'], 'usd')}, p99 {format_value(sess['p99'], 'usd')}); a request "
        f"{format_value(req['avg'], 'usd')} (median {format_value(req['p50'], 'usd')}) and a step "
        f"{format_value(step['avg'], 'usd')}. Of the total cost of "
        f"{format_value(sess['total'], 'usd')}, the token classes take: {shares}." + note
    )


# --- Table 7: timing -------------------------------------------------------------------------

_PARTS = ("Human thinking", "LLM generation", "Tool execution")
TIMING_BLOCKS = [
    Block(
        "Per session",
        "FROM session_timing",
        {
            "Total elapsed": "elapsed_ms",
            "Human thinking": "human_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS,
        "parts",
    ),
    Block(
        "Per session, human capped (1h)",
        "FROM session_timing",
        {
            "Total": "elapsed_capped_ms",
            "Human thinking": "human_capped_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS,
        "parts",
    ),
    Block(
        "Per request",
        "FROM request_timing",
        {
            "Total (response time)": "response_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS[1:],
        "Total (response time)",
    ),
    Block(
        "Per step",
        "FROM step_timing",
        {"LLM generation": "gen_ms", "Tool execution": "tool_ms"},
        _PARTS[1:],
        "parts",
    ),
    Block(
        "Per individual latency",
        "",
        {
            "Human thinking": "wait_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "effective_latency_ms",
        },
        sources={
            "Human thinking": POSITIVE_WAITS,
            "LLM generation": POSITIVE_GENERATION,
            "Tool execution": POSITIVE_TOOL_LATENCIES,
        },
    ),
]


@experiment(
    "session/timing",
    title="Where the wall-clock time goes: human, generation, tools",
    question="How is the wall-clock time of a session, a request and a step split between "
    "human thinking, LLM generation and tool execution?",
    definitions=f"""
- **Total elapsed** of a session: its last event timestamp − its first (all `timing_events`).
- **Human thinking**: Σ of the session's strictly positive human input waits (previous event of
  any type in the session → the next `user_message`). **LLM generation**: Σ of positive
  observable generation times (latest input event before the first model output → last model
  output). **Tool execution**: Σ of positive effective tool latencies (internal if reported,
  else wall). A session/request/step without any counts 0.
- **Human capped (1h)**: each human wait capped at {format_value(HUMAN_CAP_MS, "ms")}; the
  session total is the elapsed time minus what the cap removed.
- **Per request** (requests with a positive response time): response time = the triggering
  `user_message` → the last model output before the next request; generation and tool time
  are Σ over the request's steps and the tools they called.
- **Per step**: its generation time (0 if not positive) and Σ of its tools' positive latencies.
- **Per individual latency**: each positive human wait, generation span and tool latency.
- **% time**: sessions and steps — share of the sum of the components (human + generation +
  tool); requests — share of the total response time (tools may run while nothing else is
  observed, so the two shares need not sum to 100%).
""",
    study_item="Table 7",
)
def timing(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, TIMING_BLOCKS, TAIL_QUANTILES)
    tables = _block_tables(
        dists,
        "table7_timing",
        "Table 7 — wall-clock time per session, request, step and latency",
        "ms",
        TAIL_QUANTILES,
        "% time",
    )
    return Result(tables, _timing_text(dists))


def _timing_text(dists: list[dict[str, Any]]) -> str:
    d = _lookup(dists)
    if not d or not d[("Per session", "LLM generation")]["n"]:
        return "The trace has no sessions, so there is no time to split."
    capped = "Per session, human capped (1h)"
    text = (
        "Human thinking takes "
        f"{format_value(d[('Per session', 'Human thinking')]['share'], 'pct')} of the session "
        f"time (generation {format_value(d[('Per session', 'LLM generation')]['share'], 'pct')}, "
        f"tools {format_value(d[('Per session', 'Tool execution')]['share'], 'pct')}); with each "
        f"wait capped at 1 h, {format_value(d[(capped, 'Human thinking')]['share'], 'pct')}."
    )
    req = d[("Per request", "Total (response time)")]
    if req["n"]:
        text += (
            f" A request takes {format_value(req['avg'], 'ms')} on average (median "
            f"{format_value(req['p50'], 'ms')}, p90 {format_value(req['p90'], 'ms')}); of "
            f"{format_value(req['total'], 'ms')} of response time, tools account for "
            f"{format_value(d[('Per request', 'Tool execution')]['share'], 'pct')} and "
            f"generation {format_value(d[('Per request', 'LLM generation')]['share'], 'pct')}."
        )
    waits = d[("Per individual latency", "Human thinking")]
    if waits["n"]:
        text += (
            f" Positive human waits have median {format_value(waits['p50'], 'ms')} and p90 "
            f"{format_value(waits['p90'], 'ms')}."
        )
    return text


# --- Fig. 10: one session's timeline ---------------------------------------------------------

TIMELINE_MIN_STEPS, TIMELINE_MAX_STEPS, TIMELINE_MIN_USER = 15, 80, 2
#: Idle gaps longer than this are annotated in the figure (5 min, in ms).
IDLE_MARK_MS = 300_000

TIMELINE_PICK_SQL = f"""
SELECT session_id FROM (
    SELECT session_id, count(*) AS steps, count(*) FILTER (WHERE is_user) AS user_steps,
           sum(append) AS total_append
    FROM step_facts GROUP BY session_id
)
ORDER BY (steps BETWEEN {TIMELINE_MIN_STEPS} AND {TIMELINE_MAX_STEPS}
          AND user_steps >= {TIMELINE_MIN_USER}) DESC,
         steps <= {TIMELINE_MAX_STEPS} DESC, total_append DESC, session_id
LIMIT 1
"""

TIMELINE_STEPS_SQL = f"""
SELECT provider, session_id, seq,
       CASE WHEN is_user THEN 'user' WHEN is_tool THEN 'tool' ELSE 'other' END AS initiated_by,
       prefix, append, output,
       prefix / nullif(context, 0) AS hit_ratio, idle_gap_ms
FROM step_facts WHERE session_id = ? ORDER BY seq LIMIT {TIMELINE_MAX_STEPS}
"""


TIMELINE_COLUMNS = [
    "provider",
    "session",
    "step",
    "initiated by",
    "prefix",
    "append",
    "output",
    "hit ratio",
    "idle gap",
]


@experiment(
    "session/session_timeline",
    title="One session, step by step",
    question="What does a typical session look like step by step: how the prefix accumulates, "
    "where the appends are large, and what a long idle gap does to the prefix hit ratio?",
    definitions=f"""
- The session is chosen from the data, deterministically: among sessions with
  {TIMELINE_MIN_STEPS}–{TIMELINE_MAX_STEPS} steps and ≥ {TIMELINE_MIN_USER} user-initiated
  steps, the one with the largest total append (ties: smallest session id). If none
  qualifies: the largest total append among sessions of ≤ {TIMELINE_MAX_STEPS} steps, else
  any session; at most its first {TIMELINE_MAX_STEPS} steps are shown.
- Bars: prefix (cached) and append tokens of each step, stacked (their sum is the step's input
  `C`). Line: the step's prefix hit ratio prefix / (prefix + append).
- ▼ marks user-initiated steps. **Idle gap** before a step: the human wait for a user-initiated
  step, the longest tool latency for a tool-initiated one; gaps over
  {format_value(IDLE_MARK_MS, "ms")} are annotated.
- The session id is the trace's own (pseudonymous in a sanitized trace).
""",
    study_item="Fig. 10",
)
def session_timeline(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    picked = rows(con, TIMELINE_PICK_SQL)
    data = rows(con, TIMELINE_STEPS_SQL, [picked[0][0]]) if picked else []
    table = Table(
        name="fig10_session_steps",
        title="The session's steps",
        columns=TIMELINE_COLUMNS,
        rows=[list(r) for r in data],
        kinds={c: "int" for c in ("step", "prefix", "append", "output")}
        | {"hit ratio": "pct", "idle gap": "ms"},
    )
    return Result([table], _timeline_text(table))


def _timeline_text(table: Table) -> str:
    if not table.rows:
        return "The trace has no sessions to show."
    recs = table.records()
    users = sum(1 for r in recs if r["initiated by"] == "user")
    idle = [r for r in recs if (r["idle gap"] or 0) > IDLE_MARK_MS]
    prefix = sum(r["prefix"] for r in recs)
    total = prefix + sum(r["append"] for r in recs)
    text = (
        f"Session {recs[0]['session']} ({recs[0]['provider']}) has {len(recs)} steps shown, "
        f"{users} of them user-initiated; its token-weighted prefix hit ratio is "
        f"{format_value(share(prefix, total), 'pct')}."
    )
    if idle:
        worst = max(idle, key=lambda r: r["idle gap"])
        text += (
            f" {len(idle)} step(s) follow an idle gap over {format_value(IDLE_MARK_MS, 'ms')}; "
            f"after the longest ({format_value(worst['idle gap'], 'ms')}, step {worst['step']}) "
            f"the hit ratio is {format_value(worst['hit ratio'], 'pct')}."
        )
    return text


@session_timeline.figures
def _(result: Result) -> list[Figure]:
    from tracelab.figures.style import new_figure

    table = result.table("fig10_session_steps")
    fig, ax = new_figure(width=9.0, height=4.0)
    if not table.rows:
        no_data(ax)
        title = "Session timeline"
    else:
        recs = table.records()
        title = f"Session {recs[0]['session']} ({recs[0]['provider']})"
        _draw_timeline(ax, recs)
    ax.set_title(title)
    return [
        Figure(
            name="fig10_session_timeline",
            title="One session: prefix and append per step",
            figure=fig,
            data=table,
            caption="Stacked prefix (cached) and append tokens per step, the prefix hit ratio "
            "(line), user-initiated steps (▼) and idle gaps over "
            f"{format_value(IDLE_MARK_MS, 'ms')}.",
            interactive=_timeline_plotly(table) if table.rows else None,
        )
    ]


def _draw_timeline(ax: Any, recs: list[dict[str, Any]]) -> None:
    from matplotlib.ticker import FuncFormatter

    from tracelab.figures.style import STEP_KIND_COLORS, provider_color

    x = [r["step"] for r in recs]
    prefix = [r["prefix"] for r in recs]
    append = [r["append"] for r in recs]
    top = [p + a for p, a in zip(prefix, append, strict=True)]
    ax.bar(x, prefix, color=provider_color("total"), alpha=0.55, label="prefix (cached)")
    ax.bar(x, append, bottom=prefix, color=provider_color(recs[0]["provider"]), label="append")
    users = [(s, t) for s, t, r in zip(x, top, recs, strict=True) if r["initiated by"] == "user"]
    if users:
        ax.scatter(
            [s for s, _ in users],
            [t * 1.04 for _, t in users],
            marker="v",
            color=STEP_KIND_COLORS["user"],
            zorder=3,
            label="user-initiated step",
        )
    for s, t, r in zip(x, top, recs, strict=True):
        if (r["idle gap"] or 0) > IDLE_MARK_MS:
            ax.annotate(
                f"{format_value(r['idle gap'], 'ms')} idle",
                (s, t * 1.12),
                rotation=90,
                fontsize=7,
                ha="center",
                va="bottom",
            )
    ax.set_ylim(0, max(top) * 1.35 if max(top) else 1)
    ax.set_xlabel("step (position in the session)")
    ax.set_ylabel("input tokens per step")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_tokens(v)))
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)
    twin.plot(x, [r["hit ratio"] for r in recs], color="black", lw=1, marker=".", ms=3,
              label="prefix hit ratio")  # fmt: skip
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("prefix hit ratio")
    twin.grid(False)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.figure.legend(handles + h2, labels + l2, loc="outside lower center", ncols=4)


def _timeline_plotly(table: Table) -> Any:
    import plotly.graph_objects as go

    from tracelab.figures.style import provider_color

    recs = table.records()
    x = [r["step"] for r in recs]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=[r["prefix"] for r in recs], name="prefix (cached)",
                         marker_color=provider_color("total")))  # fmt: skip
    fig.add_trace(go.Bar(x=x, y=[r["append"] for r in recs], name="append",
                         marker_color=provider_color(recs[0]["provider"])))  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r["hit ratio"] for r in recs],
            name="prefix hit ratio",
            yaxis="y2",
            mode="lines+markers",
            line={"color": "black", "width": 1},
            customdata=[[format_value(r["idle gap"], "ms"), r["initiated by"]] for r in recs],
            hovertemplate="step %{x}: hit %{y:.1%}, %{customdata[1]}-initiated, "
            "idle gap %{customdata[0]}",
        )
    )
    fig.update_layout(
        title=f"Session {recs[0]['session']} ({recs[0]['provider']})",
        barmode="stack",
        xaxis={"title": "step"},
        yaxis={"title": "input tokens"},
        yaxis2={
            "title": "prefix hit ratio",
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.05],
            "tickformat": ".0%",
        },
        template="plotly_white",
        height=420,
    )
    return fig
