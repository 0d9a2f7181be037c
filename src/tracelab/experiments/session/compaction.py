"""`session/compaction` (Table 4): context compactions near the session's peak context, and
whether the user or a tool result triggers them.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import providers, records, rows, share
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.metrics.session import (
    MAJOR_DROP,
    PEAK_SHARE,
    REBOUND_SHARE,
    REBOUND_STEPS,
    prepare_session,
)

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
