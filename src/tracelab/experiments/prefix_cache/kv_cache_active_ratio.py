"""`prefix_cache/kv_cache_active_ratio` (amendments §4): the share of KV-cache lifetime spent
generating when caches are kept through idle gaps up to a cut-off T.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Figure, Result, Table
from tracelab.experiments.fmt import format_value, pct
from tracelab.experiments.prefix_cache._shared import _marks, _time_axis
from tracelab.experiments.registry import experiment
from tracelab.figures.plots import no_data
from tracelab.figures.style import new_figure, provider_color
from tracelab.metrics import active_ratio as m
from tracelab.metrics import cache

COLUMNS = {
    "provider": ("provider", "text"),
    "T (s)": ("t_s", "float"),
    "generation spans": ("gen_n", "int"),
    "tool calls": ("tool_n", "int"),
    "human waits": ("human_n", "int"),
    "G: generation (s)": ("gen_s", "float"),
    "tool latency ≤ T (s)": ("tool_le_s", "float"),
    "human wait ≤ T (s)": ("human_le_s", "float"),
    "active ratio": ("active_ratio", "pct"),
}
MARKS_MS = tuple(t * 1000 for t in m.GRID_MARKS_S)


@experiment(
    "prefix_cache/kv_cache_active_ratio",
    title="KV-cache active ratio by idle cut-off",
    question="If a session's KV cache were kept through every idle gap up to T and dropped for "
    "longer ones, what share of its kept time would the model be generating?",
    definitions=f"""
- Per provider (and *all*): **active(T) = G / (G + Σ_{{eff ≤ T}} eff + Σ_{{w ≤ T}} w)** with
  G = Σ of the positive generation spans (`gen_ms`, as in every generation-time table), eff the
  positive per-call effective tool latencies (internal, else wall) and w the positive human
  waits (every `user_message`'s gap from the session's previous event — the human-wait
  definition of the human-in-the-loop tables).
- An idle value longer than T contributes **nothing** (the reference code), not min(value, T)
  as the eviction sweep's storage ratio does: a gap beyond T is read as the cache being
  dropped and rebuilt, so it is neither active nor kept. A value equal to T counts.
- The reference's README describes the human wait as "model output → next request message";
  its code (followed here) uses the human-wait definition above (amendments §4, §10).
- T grid: {m.GRID_POINTS} log-spaced points from 1 s to 1 h plus the marks 1m, 5m, 10m, 30m,
  1h (seconds). Related to the study's §7.4 KV-storage argument, not to Fig. 12.
""",
    study_item="§7.4 (reference)",
)
def kv_cache_active_ratio(con: duckdb.DuckDBPyConnection) -> Result:
    recs = m.active_ratio(con)
    marks = [r for r in recs if r["t_s"] in m.GRID_MARKS_S]
    tables = [
        _table("kv_cache_active_ratio", "Active ratio per provider and cut-off T", recs),
        _table("kv_cache_active_ratio_marks", "Active ratio at the marked cut-offs", marks),
    ]
    return Result(tables, _text(marks))


def _table(name: str, title: str, recs: list[dict[str, Any]]) -> Table:
    return Table(
        name=name,
        title=title,
        columns=list(COLUMNS),
        rows=[[r[key] for key, _ in COLUMNS.values()] for r in recs],
        kinds={c: kind for c, (_, kind) in COLUMNS.items()},
    )


def _text(marks: list[dict[str, Any]]) -> str:
    by = {(r["provider"], r["t_s"]): r for r in marks}
    groups = list(dict.fromkeys(r["provider"] for r in marks))
    timed = [g for g in groups if by[(g, 60.0)]["gen_s"] > 0]
    if not timed:
        return "No step has a positive generation span, so the active ratio is undefined."
    parts = [
        f"{g} {pct(by[(g, 60.0)]['active_ratio'])} at 1 min, "
        f"{pct(by[(g, 300.0)]['active_ratio'])} at 5 min and "
        f"{pct(by[(g, 3600.0)]['active_ratio'])} at 1 h"
        for g in timed
    ]
    g = timed[-1]
    hour = by[(g, 3600.0)]
    return (
        "Share of the kept KV-cache time spent generating, when idle gaps up to T are kept: "
        + "; ".join(parts)
        + f". Up to 1 h, {g} keeps {format_value(hour['tool_le_s'] * 1000, 'ms')} of tool "
        f"latency and {format_value(hour['human_le_s'] * 1000, 'ms')} of human waits beside "
        f"{format_value(hour['gen_s'] * 1000, 'ms')} of generation."
    )


@kv_cache_active_ratio.figures
def _(result: Result) -> list[Figure]:
    table = result.table("kv_cache_active_ratio")
    rows = [r for r in table.records() if r["active ratio"] is not None]
    groups = list(dict.fromkeys(r["provider"] for r in rows))
    fig, ax = new_figure(width=6.4, height=3.8)
    for j, group in enumerate(groups):
        pts = [r for r in rows if r["provider"] == group]
        ax.plot(
            [r["T (s)"] for r in pts],
            [r["active ratio"] for r in pts],
            color=provider_color(group, j),
            lw=2.2 if group == m.ALL else 1.4,
            label=group,
        )
    if groups:
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("active ratio G / (G + idle ≤ T)")
        _marks(ax, MARKS_MS, labelled=True)
        _time_axis(ax, (cache.SECOND_MS, 10 * cache.SECOND_MS, *MARKS_MS), "idle cut-off T")
        ax.legend(loc="upper right")
    else:
        no_data(ax, "no positive generation span")
    return [
        Figure(
            name="kv_cache_active_ratio",
            title="KV-cache active ratio by idle cut-off T",
            figure=fig,
            data=table,
            caption="Generation time over generation plus the tool latencies and human waits "
            "no longer than T (longer gaps count nothing), per provider; log T axis, dotted "
            "lines at 1m, 5m, 10m, 30m, 1h.",
        )
    ]
