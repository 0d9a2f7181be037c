"""`session/session_timeline` (Fig. 10): one session chosen from the data, step by step — prefix,
append, prefix hit ratio and long idle gaps.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.common import rows, share
from tracelab.experiments.fmt import format_value, human_tokens
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.metrics.session import prepare_session

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
