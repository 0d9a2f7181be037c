"""`session/session_token_steps` (amendments §11, Fig. 10 gallery): the sessions the reference
scores as good Fig. 10 examples, and their tokens step by step.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import records
from tracelab.experiments.fmt import format_value, human_tokens
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.steps import ms_between, prepare

#: The session of the paper's Fig. 10 and how many of its steps it shows (the reference's
#: docstring says a Codex session and 30 steps; its code — followed here — says this, and 40).
PAPER_SESSION = "claude:985ce830-b92e-8856-8506-c709b91a9a12"
PAPER_STEPS = 40
MIN_STEPS, MAX_STEPS, MIN_USER, MIN_TOOL, MAX_USER_SHARE = 60, 220, 2, 10, 0.7
#: Inferred compaction: C_prev ≥ this, a drop ≥ DROP, C ≤ SHARE·C_prev, no rebound to
#: ≥ SHARE·C_prev within the next REBOUND steps (≥ 1 step must follow).
COMPACT_MIN_PREV, COMPACT_DROP, COMPACT_SHARE, COMPACT_REBOUND = 32_768, 8_192, 0.75, 3
TOP = {"balanced": 6, "context": 4, "compaction": 4}
STRIP_S = 300

_LEADS = ", ".join(f"lead(context, {k}) OVER s AS next{k}" for k in range(1, COMPACT_REBOUND + 1))
_NEXTS = ", ".join(f"coalesce(next{k}, 0)" for k in range(1, COMPACT_REBOUND + 1))

STEPS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS token_steps AS
WITH ev AS (
    SELECT round_pk,
           bool_or(event_type = 'user_message') AS has_user,
           bool_or(event_type = 'tool_result') AS has_tool_result,
           bool_or(lower(event_type) LIKE '%compact%'
                   OR lower(coalesce(source, '')) LIKE '%compact%') AS explicit_compact
    FROM timing_events GROUP BY round_pk
),
o AS (
    SELECT f.provider, f.session_id, f.round_pk, f.prefix, f.append, f.context, f.first_ts,
           coalesce(f.tool_call_count, 0) AS tools,
           coalesce(ev.has_user, false) AS is_user,
           coalesce(ev.has_tool_result, false) AS is_tool_result,
           coalesce(ev.explicit_compact, false) AS explicit_compact,
           row_number() OVER (PARTITION BY f.provider, f.session_id
                              ORDER BY f.round_index, f.first_ts NULLS LAST, f.round_pk) AS step
    FROM step_facts f LEFT JOIN ev USING (round_pk)
),
w AS (
    SELECT *, lag(context) OVER s AS prev_context, {_LEADS},
           min(first_ts) OVER (PARTITION BY provider, session_id) AS session_start
    FROM o WINDOW s AS (PARTITION BY provider, session_id ORDER BY step)
)
SELECT provider, session_id, round_pk, step, prefix, append, context, tools, is_user,
       is_tool_result, explicit_compact,
       coalesce(prev_context >= {COMPACT_MIN_PREV}
                AND prev_context - context >= {COMPACT_DROP}
                AND context <= {COMPACT_SHARE} * prev_context
                AND next1 IS NOT NULL
                AND greatest({_NEXTS}) < {COMPACT_SHARE} * prev_context, false)
           AS inferred_compact,
       {ms_between("session_start", "first_ts")} / 1000.0 AS elapsed_s
FROM w
"""

#: log2 of a token count, 0 for counts below 1 (the scores never see −∞).
_LOG2 = "log2(greatest({x}, 1))"

CANDIDATES_SQL = f"""
WITH s AS (
    SELECT provider, session_id, count(*) AS n,
           count(*) FILTER (WHERE is_user) AS u,
           count(*) FILTER (WHERE is_tool_result) AS t,
           sum(tools) AS tools, max(context) AS max_c, sum(context) AS sum_c,
           count(*) FILTER (WHERE explicit_compact OR inferred_compact) AS comp
    FROM token_steps GROUP BY provider, session_id
),
c AS (
    SELECT *,
           n + 5 * least(u, t) + {_LOG2.format(x="max_c")} + 0.03 * tools + 12 * comp
               AS balanced,
           18 * {_LOG2.format(x="max_c")} + 10 * {_LOG2.format(x="sum_c")} + 0.25 * n
               + 0.2 * least(u, t) + 10 * comp AS context,
           CASE WHEN comp > 0 THEN 100 * comp + 10 * {_LOG2.format(x="max_c")} + 0.1 * n
               + 0.01 * tools END AS compaction
    FROM s
    WHERE n BETWEEN {MIN_STEPS} AND {MAX_STEPS} AND u >= {MIN_USER} AND t >= {MIN_TOOL}
      AND u <= {MAX_USER_SHARE} * n
)
SELECT *,
       row_number() OVER (ORDER BY balanced DESC, session_id) AS balanced_rank,
       row_number() OVER (ORDER BY context DESC, session_id) AS context_rank,
       CASE WHEN compaction IS NOT NULL THEN
           row_number() OVER (ORDER BY compaction DESC NULLS LAST, session_id) END
           AS compaction_rank
FROM c ORDER BY balanced DESC, session_id
"""

CANDIDATE_COLUMNS = ["provider", "session", "steps", "user steps", "tool-result steps",
                     "tool calls", "max C", "sum C", "compactions", "balanced", "context",
                     "compaction", "balanced rank", "context rank", "compaction rank",
                     "selected"]  # fmt: skip
STEP_COLUMNS = ["session", "step", "prefix", "append", "total", "user step", "tool-result step",
                "compaction", "elapsed s", "shown in"]  # fmt: skip


def _selected(r: dict[str, Any]) -> str:
    picks = [
        name
        for name, top in TOP.items()
        if r[f"{name}_rank"] is not None and r[f"{name}_rank"] <= top
    ]
    return ", ".join(picks)


@experiment(
    "session/session_token_steps",
    title="Fig. 10 gallery: sessions step by step",
    question="Which sessions make good step-by-step examples (long, with user turns, tool "
    "results and compactions), and what do their tokens look like per step?",
    definitions=f"""
- **Step order** in a session: round_index, then the step's first event timestamp (steps
  without events last), then file order. **User step**: any `user_message` event in the step
  (not only the first one); **tool-result step**: any `tool_result` event.
- **Compaction marker**: explicit — an event whose type or source contains "compact" (any
  case) — or inferred: `C_prev ≥ {COMPACT_MIN_PREV:,}`, a drop `C_prev − C ≥ {COMPACT_DROP:,}`,
  `C ≤ {COMPACT_SHARE}·C_prev`, at least one step follows and none of the next
  {COMPACT_REBOUND} has `C ≥ {COMPACT_SHARE}·C_prev` (C = prefix + append). These are the
  reference's gallery markers, looser than Table 4's compactions (`session/compaction`).
- **Candidates**: {MIN_STEPS}–{MAX_STEPS} steps (n), ≥ {MIN_USER} user steps (u), ≥ {MIN_TOOL}
  tool-result steps (t), u/n ≤ {MAX_USER_SHARE}. With `tools` = tool calls, `comp` = marked
  steps and log2 of a count below 1 taken as 0:
  balanced = `n + 5·min(u,t) + log2 maxC + 0.03·tools + 12·comp`;
  context = `18·log2 maxC + 10·log2 ΣC + 0.25·n + 0.2·min(u,t) + 10·comp`;
  compaction (comp > 0 only) = `100·comp + 10·log2 maxC + 0.1·n + 0.01·tools`.
- **Selection**: the union of the top {TOP["balanced"]} balanced, {TOP["context"]} context and
  {TOP["compaction"]} compaction scores (ties: smaller session id first).
- **Paper figure**: session `{PAPER_SESSION}`, its first {PAPER_STEPS} steps, when the trace
  has it (the reference's docstring says a Codex session and 30 steps; its code, followed
  here, says this Claude session and 40).
- Figures: stacked prefix / append bars, the total line, ▼ user steps, ✕ compaction markers,
  and a strip of alternating shades for each {STRIP_S // 60}-minute block of wall-clock time
  since the session's first event.
""",
    study_item="Fig. 10 (gallery)",
)
def session_token_steps(con: duckdb.DuckDBPyConnection) -> Result:
    prepare(con)
    con.execute(STEPS_SQL)
    cands = records(con, CANDIDATES_SQL)
    for r in cands:
        r["selected"] = _selected(r)
    candidates = Table(
        name="fig10_candidates",
        title="Candidate sessions and their scores",
        columns=CANDIDATE_COLUMNS,
        rows=[
            [
                r["provider"],
                r["session_id"],
                r["n"],
                r["u"],
                r["t"],
                r["tools"],
                r["max_c"],
                r["sum_c"],
                r["comp"],
                r["balanced"],
                r["context"],
                r["compaction"],
                r["balanced_rank"],
                r["context_rank"],
                r["compaction_rank"],
                r["selected"],
            ]
            for r in cands
        ],
        kinds={c: "int" for c in CANDIDATE_COLUMNS[2:9]}
        | {c: "float2" for c in ("balanced", "context", "compaction")}
        | {c: "int" for c in ("balanced rank", "context rank", "compaction rank")},
    )
    chosen = [r["session_id"] for r in cands if r["selected"]]
    steps = _steps_table(con, chosen)
    return Result([candidates, steps], _text(cands, chosen, steps))


def _steps_table(con: duckdb.DuckDBPyConnection, chosen: list[str]) -> Table:
    body = records(
        con,
        f"""SELECT session_id, step, prefix, append, context, is_user, is_tool_result,
                   explicit_compact OR inferred_compact AS compaction, elapsed_s,
                   CASE WHEN list_contains(?, session_id) THEN 'gallery' END AS gallery,
                   session_id = ? AND step <= {PAPER_STEPS} AS paper
            FROM token_steps
            WHERE list_contains(?, session_id) OR (session_id = ? AND step <= {PAPER_STEPS})
            ORDER BY session_id, step""",
        [chosen, PAPER_SESSION, chosen, PAPER_SESSION],
    )
    return Table(
        name="fig10_gallery_steps",
        title="The selected sessions' steps (and the paper figure's session)",
        columns=STEP_COLUMNS,
        rows=[
            [
                r["session_id"],
                r["step"],
                r["prefix"],
                r["append"],
                r["context"],
                r["is_user"],
                r["is_tool_result"],
                r["compaction"],
                r["elapsed_s"],
                ", ".join(x for x in (r["gallery"], "paper" if r["paper"] else None) if x),
            ]
            for r in body
        ],
        kinds={
            "step": "int",
            "prefix": "int",
            "append": "int",
            "total": "int",
            "elapsed s": "float1",
        },
    )


def _text(cands: list[dict[str, Any]], chosen: list[str], steps: Table) -> str:
    paper = any("paper" in r[-1] for r in steps.rows)
    paper_text = (
        f" The paper figure's session {PAPER_SESSION} is in the trace (first {PAPER_STEPS} steps)."
        if paper
        else " The paper figure's session is not in this trace."
    )
    if not cands:
        return (
            f"No session qualifies as a candidate ({MIN_STEPS}–{MAX_STEPS} steps, ≥ {MIN_USER} "
            f"user and ≥ {MIN_TOOL} tool-result steps, user share ≤ {MAX_USER_SHARE})." + paper_text
        )
    best = cands[0]
    return (
        f"{format_value(len(cands), 'int')} sessions are candidates; {len(chosen)} are "
        f"selected. The best balanced one, {best['session_id']}, has {best['n']} steps "
        f"({best['u']} user, {best['t']} with tool results), peaks at "
        f"{format_value(best['max_c'], 'tokens')} tokens and has {best['comp']} compaction "
        "marker(s)." + paper_text
    )


@session_token_steps.figures
def _(result: Result) -> list[Figure]:
    from tracelab.figures.style import new_figure

    steps = result.table("fig10_gallery_steps")
    recs = steps.records()
    gallery = _by_session([r for r in recs if "gallery" in r["shown in"]])
    ncols = 2 if len(gallery) > 1 else 1
    nrows = max(1, -(-len(gallery) // ncols))
    fig, axes = new_figure(ncols, nrows, width=10.0 if ncols == 2 else 6.4,
                           height=2.6 * nrows + 0.6, squeeze=False)  # fmt: skip
    flat = list(axes.flat)
    if not gallery:
        no_data(flat[0], "no session qualifies as a candidate")
    for ax, (session, rs) in zip(flat, gallery.items(), strict=False):
        _draw_session(ax, rs)
        ax.set_title(session, fontsize=7)
    for ax in flat[len(gallery) :]:
        ax.set_visible(False)
    fig.suptitle("Fig. 10 gallery: tokens per step of the selected sessions")
    figures = [
        Figure(
            name="fig10_gallery",
            title="Fig. 10 gallery",
            figure=fig,
            data=steps,
            caption="Prefix (light) and append (dark) per step, the total (line), user steps "
            f"(▼), compaction markers (✕) and {STRIP_S // 60}-minute wall-clock blocks (strip).",
        )
    ]
    paper = [r for r in recs if "paper" in r["shown in"]]
    if paper:
        pfig, pax = new_figure(width=7.0, height=3.6)
        _draw_session(pax, paper)
        pax.set_title(f"{PAPER_SESSION}, first {PAPER_STEPS} steps", fontsize=8)
        figures.append(
            Figure(
                name="fig10_paper_session",
                title="The paper figure's session",
                figure=pfig,
                data=steps,
                caption=f"The paper's Fig. 10 session, its first {PAPER_STEPS} steps.",
            )
        )
    return figures


def _by_session(recs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        out.setdefault(r["session"], []).append(r)
    return out


def _draw_session(ax: Any, rs: list[dict[str, Any]]) -> None:
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import FuncFormatter

    from tracelab.figures.style import STEP_KIND_COLORS, provider_color

    # one artist per series (stairs, one mesh for the strip): a bar per step made the
    # 14-panel gallery slow to draw and its SVG large
    x = np.array([r["step"] for r in rs], dtype=float)
    prefix = np.array([r["prefix"] for r in rs], dtype=float)
    total = np.array([r["total"] for r in rs], dtype=float)
    top = max(float(total.max()), 1.0)
    edges = np.append(x - 0.5, x[-1] + 0.5)
    ax.stairs(prefix, edges, fill=True, color=provider_color("total"), alpha=0.5, lw=0)
    ax.stairs(total, edges, baseline=prefix, fill=True, color="#444444", lw=0)
    ax.plot(x, total, color="black", lw=0.7)
    user = np.array([bool(r["user step"]) for r in rs])
    if user.any():
        ax.scatter(x[user], np.full(user.sum(), top * 1.08), marker="v", s=10,
                   color=STEP_KIND_COLORS["user"], zorder=3)  # fmt: skip
    comp = np.array([bool(r["compaction"]) for r in rs])
    if comp.any():
        ax.scatter(x[comp], total[comp], marker="x", s=20, color="red", zorder=4)
    # the wall-clock strip: alternating shades per 5-minute block since the first event
    block = np.array(
        [np.nan if r["elapsed s"] is None else int(r["elapsed s"] // STRIP_S) % 2 for r in rs]
    )
    cmap = ListedColormap(["#dddddd", "#999999"])
    ax.pcolormesh(edges, [-top * 0.07, -top * 0.03], block[None, :], cmap=cmap, vmin=0, vmax=1)
    ax.set_ylim(-top * 0.08, top * 1.15)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_tokens(v) if v >= 0 else ""))
    ax.tick_params(labelsize=7)
