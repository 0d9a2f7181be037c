"""The JSON behind the Sessions pages: the filtered list, one session's steps, one step.

Per-session totals are materialized once per connection as the TEMP table `web_sessions` (one
GROUP BY over `step_facts`), so filtering, sorting and paging a list of thousands of sessions is
a small query. A session page reads only its own steps; the step inspector reads one step's
tool calls and timing events. Raw content (tool inputs) is never part of these responses: the
database does not hold it. `step_raw` reads it from the private trace file, and only when the
user asks for that one step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tracelab.metrics import tools
from tracelab.metrics.sql import records, scalar

#: Per session: its own totals, and the cost of its subagent sessions rolled into it.
#: `nested`: the session's parent session is in the trace (the list shows it under its parent);
#: `subagent_cost` / `subagent_sessions`: every session below it (subagents of subagents too,
#: followed through `parent_session_id`, at most 16 levels, cycles cut); `cost` = own_cost +
#: subagent_cost (null only when both are: an unpriced session tree); `priced`: every step of
#: the tree priced; `subagent_share` = subagent_cost / cost.
SESSIONS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS web_sessions AS
WITH RECURSIVE own AS (
    SELECT session_id, any_value(provider) AS provider, any_value(project) AS project,
           any_value(parent_session_id) AS parent_session_id,
           mode(model) AS model, count(DISTINCT model) AS models,
           min(started_at) AS started_at, max(coalesce(ended_at, started_at)) AS ended_at,
           epoch_ms(max(coalesce(ended_at, started_at))) - epoch_ms(min(started_at))
               AS duration_ms,
           count(*) AS steps, max(request_no) AS requests,
           coalesce(sum(tool_call_count), 0) AS tool_calls,
           sum(cost_total) AS own_cost, bool_and(priced) AS own_priced,
           sum(prefix) AS prefix, sum(append) AS append, sum(output) AS output,
           max(context) AS max_context, bool_or(is_subagent) AS subagent
    FROM (SELECT s.*, r.project, r.parent_session_id
          FROM step_facts s JOIN rounds r USING (round_pk))
    GROUP BY session_id
),
linked AS (  -- sessions whose parent session is in the trace
    SELECT o.session_id, o.parent_session_id
    FROM own o JOIN own p ON p.session_id = o.parent_session_id
    WHERE o.parent_session_id <> o.session_id
),
up(session_id, ancestor_id, depth) AS (
    SELECT session_id, parent_session_id, 1 FROM linked
    UNION ALL
    SELECT up.session_id, l.parent_session_id, up.depth + 1
    FROM up JOIN linked l ON l.session_id = up.ancestor_id
    WHERE up.depth < 16
),
pairs AS (SELECT DISTINCT session_id, ancestor_id FROM up WHERE session_id <> ancestor_id),
below AS (
    SELECT p.ancestor_id AS session_id, sum(o.own_cost) AS subagent_cost,
           count(*) AS subagent_sessions, bool_and(o.own_priced) AS below_priced
    FROM pairs p JOIN own o USING (session_id)
    GROUP BY p.ancestor_id
)
SELECT o.* EXCLUDE (parent_session_id, own_priced),
       l.parent_session_id, l.session_id IS NOT NULL AS nested,
       coalesce(b.subagent_sessions, 0) AS subagent_sessions,
       b.subagent_cost,
       CASE WHEN o.own_cost IS NOT NULL OR b.subagent_cost IS NOT NULL
            THEN coalesce(o.own_cost, 0) + coalesce(b.subagent_cost, 0) END AS cost,
       o.own_priced AND coalesce(b.below_priced, true) AS priced,
       CASE WHEN coalesce(o.own_cost, 0) + coalesce(b.subagent_cost, 0) > 0
            THEN coalesce(b.subagent_cost, 0)
                 / (coalesce(o.own_cost, 0) + coalesce(b.subagent_cost, 0)) END
           AS subagent_share
FROM own o
LEFT JOIN linked l USING (session_id)
LEFT JOIN below b USING (session_id)
"""

SORTS = {
    "recent": "started_at",
    "steps": "steps",
    "duration": "duration_ms",
    "cost": "cost",
    "tools": "tool_calls",
    "subagents": "subagent_share",
}
MAX_PAGE = 200


def ensure_sessions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SESSIONS_SQL)


def facets(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The filter choices: providers, models (by steps), projects (by sessions), the dates."""
    ensure_sessions(con)
    models = [
        m
        for (m,) in con.execute(
            "SELECT model FROM step_facts WHERE model IS NOT NULL "
            "GROUP BY model ORDER BY count(*) DESC, model"
        ).fetchall()
    ]
    provs = [
        p
        for (p,) in con.execute("SELECT DISTINCT provider FROM web_sessions ORDER BY 1").fetchall()
    ]
    projects = [
        p
        for (p,) in con.execute(
            "SELECT project FROM web_sessions WHERE project IS NOT NULL AND NOT nested "
            "GROUP BY project ORDER BY count(*) DESC, project"
        ).fetchall()
    ]
    first, last = con.execute(
        "SELECT min(started_at)::DATE, max(started_at)::DATE FROM web_sessions"
    ).fetchone()
    return {
        "providers": [p for p in provs if p],
        "models": models,
        "projects": projects,
        "first_day": first.isoformat() if first else None,
        "last_day": last.isoformat() if last else None,
    }


def list_sessions(
    con: duckdb.DuckDBPyConnection,
    *,
    provider: str | None = None,
    model: str | None = None,
    project: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = None,
    sort: str = "recent",
    desc: bool = True,
    limit: int = 50,
    offset: int = 0,
    subagents: bool = False,
) -> dict[str, Any]:
    """One page of sessions matching the filters, and how many match in all.

    `model` matches sessions that used the model in any step; `q` is a case-insensitive
    substring of the session id, project or main model; dates are UTC days, inclusive.
    A subagent session whose parent is in the trace is listed only with `subagents` (its
    cost is already in its parent's `cost`); it always has its own session page.
    """
    ensure_sessions(con)
    where, params = ["TRUE"], []
    if not subagents:
        where.append("NOT nested")
    if provider:
        where.append("provider = ?")
        params.append(provider)
    if project:
        where.append("project = ?")
        params.append(project)
    if model:
        where.append("session_id IN (SELECT session_id FROM step_facts WHERE model = ?)")
        params.append(model)
    if date_from:
        where.append("started_at::DATE >= ?::DATE")
        params.append(date_from)
    if date_to:
        where.append("started_at::DATE <= ?::DATE")
        params.append(date_to)
    if q:
        where.append(
            "(contains(lower(session_id), ?) OR contains(lower(coalesce(project, '')), ?) "
            "OR contains(lower(coalesce(model, '')), ?))"
        )
        params += [q.lower()] * 3
    cond = " AND ".join(where)
    order = SORTS.get(sort, SORTS["recent"])
    direction = "DESC" if desc else "ASC"
    limit = max(1, min(int(limit), MAX_PAGE))
    total = scalar(con, f"SELECT count(*) FROM web_sessions WHERE {cond}", params)
    rows = records(
        con,
        f"SELECT * FROM web_sessions WHERE {cond} "
        f"ORDER BY {order} {direction} NULLS LAST, session_id LIMIT {limit} OFFSET ?",
        [*params, max(0, int(offset))],
    )
    return {"total": total, "limit": limit, "offset": max(0, int(offset)), "sessions": rows}


def session_detail(con: duckdb.DuckDBPyConnection, session_id: str) -> dict[str, Any] | None:
    """The session's totals and every step in order (the timeline), or None if unknown."""
    ensure_sessions(con)
    head = records(con, "SELECT * FROM web_sessions WHERE session_id = ?", [session_id])
    if not head:
        return None
    steps = records(
        con,
        """
        SELECT s.seq, s.round_pk, s.started_at, s.model, s.prefix, s.append, s.output,
               s.reasoning, s.context, s.is_user, s.is_tool, s.request_no,
               coalesce(s.tool_call_count, 0) AS tool_calls, s.gen_ms, s.idle_gap_ms,
               s.cost_total AS cost, coalesce(e.errors, 0) AS tool_errors
        FROM step_facts s
        LEFT JOIN (
            SELECT round_pk, count(*) FILTER (WHERE is_error) AS errors
            FROM tool_facts WHERE session_id = ? GROUP BY round_pk
        ) e USING (round_pk)
        WHERE s.session_id = ? ORDER BY s.seq
        """,
        [session_id, session_id],
    )
    children = records(
        con,
        "SELECT session_id, provider, model, started_at, steps, own_cost, cost, priced, "
        "subagent_sessions FROM web_sessions WHERE parent_session_id = ? "
        "ORDER BY started_at, session_id",
        [session_id],
    )
    return {"session": head[0], "steps": steps, "subagents": children}


def step_detail(con: duckdb.DuckDBPyConnection, round_pk: int) -> dict[str, Any] | None:
    """One step's tokens, timing and cost, its tool calls (latencies, errors) and events."""
    step = records(
        con,
        """
        SELECT s.round_pk, s.session_id, s.provider, s.model, s.seq, s.request_no, s.is_user,
               s.is_tool, s.prefix, s.append, s.output, s.reasoning, s.context, s.fresh,
               r.claude_uncached_input_tokens AS uncached,
               r.claude_cache_creation_input_tokens AS cache_creation,
               s.started_at, s.ended_at, s.gen_ms, s.human_wait_ms, s.tool_wait_ms,
               s.idle_gap_ms, s.priced, s.cost_prefix, s.cost_append, s.cost_output,
               s.cost_total, r.current_user_message_chars AS user_chars,
               r.current_tool_result_chars AS tool_result_chars
        FROM step_facts s JOIN rounds r USING (round_pk) WHERE s.round_pk = ?
        """,
        [round_pk],
    )
    if not step:
        return None
    calls = records(
        con,
        f"""
        SELECT tool_index, coalesce(tool_name, '(unnamed)') AS tool, emitted_at, result_at,
               tool_wall_latency_ms AS wall_ms, tool_internal_latency_ms AS internal_ms,
               {tools.LATENCY} AS latency_ms, is_error, input_chars, result_chars
        FROM tool_facts WHERE round_pk = ? ORDER BY tool_index
        """,
        [round_pk],
    )
    events = records(
        con,
        """
        SELECT event_pos, event_type, "timestamp", source, content_chars, tool_name,
               result_chars, is_error
        FROM timing_events WHERE round_pk = ? ORDER BY event_pos
        """,
        [round_pk],
    )
    return {"step": step[0], "tools": calls, "events": events}


def step_raw(con: duckdb.DuckDBPyConnection, source: Path | None, round_pk: int) -> dict[str, Any]:
    """The step's tool inputs, read from the private trace file on request.

    Only a private (unsanitized) JSONL trace holds tool inputs; a database, a Parquet file or
    a sanitized trace has none, and the answer says so instead of failing.
    """
    key = records(con, "SELECT trace_key, round_id FROM rounds WHERE round_pk = ?", [round_pk])
    if not key:
        return {"available": False, "reason": "no such step"}
    if source is None or not source.is_file():
        return {"available": False, "reason": "the trace was opened from a database file"}
    name = source.name.lower()
    if not name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return {"available": False, "reason": "raw content is only kept in JSONL traces"}
    try:
        found = con.execute(
            """
            SELECT tools FROM read_json(?, format = 'newline_delimited', ignore_errors = true,
                                        columns = {trace_key: 'VARCHAR', round_id: 'VARCHAR',
                                                   tools: 'JSON[]'})
            WHERE trace_key IS NOT DISTINCT FROM ? AND round_id IS NOT DISTINCT FROM ?
            LIMIT 1
            """,
            [str(source), key[0]["trace_key"], key[0]["round_id"]],
        ).fetchone()
    except duckdb.Error as exc:
        return {"available": False, "reason": f"could not read the trace file ({exc})"}
    if found is None:
        return {"available": False, "reason": "step not found in the trace file"}
    import orjson

    inputs = []
    for text in found[0] or []:
        tool = orjson.loads(text) if text else {}
        inputs.append({"tool": tool.get("tool_name"), "input": tool.get("input")})
    if not any(i["input"] is not None for i in inputs):
        return {"available": False, "reason": "this trace holds no tool inputs (sanitized?)"}
    return {"available": True, "tools": inputs}
