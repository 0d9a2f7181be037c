"""Tool-call metrics — popularity, error rate, latency bins and tails, overhead, categories.

Every function reads `tool_facts` (see `metrics.steps`) and aggregates in DuckDB; Python only
shapes the few result rows. The definitions (spec, `analyses.md`):

- **Calls** of a tool: rows of `tool_facts` (one per tool call); a missing name is `(unnamed)`.
- **Popularity name** (`TOOL_MERGED`): names starting with `mcp_` merged into `mcp` (one bar
  for every MCP tool), as the study's tool-popularity table and figure do.
- **Error rate** (amendments §14.6): calls with `is_error` true / **all** calls of the (provider,
  popularity name); a null `is_error` counts as a non-error call. `with_status` (calls with a
  result or a status) is reported beside it, not used as the denominator.
- **Effective latency**: `effective_latency_ms` (internal if not null, else wall); only strictly
  positive values enter latency bins, distributions and tool time.
- **Latency bins** are half-open `[lo, hi)`: a 1,000 ms call is in "1–10 s", a 60,000 ms call in
  "1–10 min". A **long call** is one of at least `threshold_ms` (default `LONG_CALL_MS`, 1 min),
  so the long-call shares equal the sum of the bins from 1 min up.
- **Top-k share**: calls of the k most-called tool names / all calls (ties broken by name).
  Overall (no provider) ranks names over all providers together.
- **Tool overhead** (Table 10): calls with both wall and internal latency non-null and wall ≥ 0;
  residual = wall − internal, kept signed (a runner that reports more time than the trace saw
  gives a negative residual rather than being dropped or clipped).
- **Category**: `TOOL_CATEGORIES` maps known names (case-insensitive); `mcp__*` names are MCP;
  anything else is "other".
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.sql import dist_sql, group_key, records
from tracelab.metrics.steps import prepare

LATENCY = "effective_latency_ms"
POSITIVE = f"{LATENCY} > 0"
TOOL = "coalesce(tool_name, '(unnamed)')"
#: Prefix of the tool names the popularity table merges into one `MCP_MERGED` row.
MCP_MERGE_PREFIX = "mcp_"
MCP_MERGED = "mcp"
TOOL_MERGED = (
    f"CASE WHEN starts_with(lower(tool_name), '{MCP_MERGE_PREFIX}') THEN '{MCP_MERGED}' "
    f"ELSE {TOOL} END"
)
#: Error rate of a group of calls: errors / all calls (amendments §14.6).
ERROR_RATE_SQL = "sum(errors) / nullif(sum(calls), 0)"
OTHER = "Other"
ALL = "all"
ALL_TOOLS = "(all tools)"
ALL_TIMED = "All timed"
#: A long tool call lasts at least this long (ms): 1 min.
LONG_CALL_MS = 60_000

#: (label, lower bound ms inclusive, upper bound ms exclusive or None).
LATENCY_BINS: tuple[tuple[str, float, float | None], ...] = (
    ("<0.1 s", 0, 100),
    ("0.1–1 s", 100, 1_000),
    ("1–10 s", 1_000, 10_000),
    ("10 s–1 min", 10_000, 60_000),
    ("1–10 min", 60_000, 600_000),
    ("≥10 min", 600_000, None),
)

#: Tool category → tool names (matched case-insensitively). `mcp__*` names are always MCP.
TOOL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "shell/exec": (
        "Bash", "BashOutput", "KillShell", "KillBash", "TaskOutput", "TaskStop",
        "exec_command", "shell", "shell_command", "local_shell", "container.exec",
        "unified_exec", "write_stdin",
    ),
    "file read": ("Read", "NotebookRead", "view_image", "read_file", "list_dir", "LS"),
    "file edit/write": ("Edit", "MultiEdit", "Write", "NotebookEdit", "apply_patch"),
    "search": ("Grep", "Glob", "grep_files", "ToolSearch"),
    "web": ("WebFetch", "WebSearch", "web_search", "web_search_call"),
    "subagent/task": (
        "Task", "Agent", "spawn_agent", "send_input", "resume_agent", "wait", "close_agent",
    ),
    "planning/todo": (
        "TodoWrite", "TodoRead", "ExitPlanMode", "EnterPlanMode", "TaskCreate", "TaskUpdate",
        "TaskList", "TaskGet", "update_plan",
    ),
    "user interaction": ("AskUserQuestion", "request_user_input"),
    "MCP": (
        "ListMcpResourcesTool", "ReadMcpResourceTool", "list_mcp_resources",
        "list_mcp_resource_templates", "read_mcp_resource",
    ),
}  # fmt: skip
MCP_PREFIX = "mcp__"
OTHER_CATEGORY = "other"
CATEGORY_ORDER: tuple[str, ...] = (*TOOL_CATEGORIES, OTHER_CATEGORY)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def category_sql(column: str = "tool_name") -> str:
    """SQL CASE giving the category of tool name `column` (see `TOOL_CATEGORIES`)."""
    whens = [f"WHEN starts_with(lower({column}), {_quote(MCP_PREFIX)}) THEN 'MCP'"]
    for category, names in TOOL_CATEGORIES.items():
        listed = ", ".join(_quote(n.lower()) for n in names)
        whens.append(f"WHEN lower({column}) IN ({listed}) THEN {_quote(category)}")
    return "CASE " + " ".join(whens) + f" ELSE {_quote(OTHER_CATEGORY)} END"


def _category_positions() -> str:
    """A relation (pos, category) giving each category its display position."""
    values = ", ".join(f"({i}, {_quote(c)})" for i, c in enumerate(CATEGORY_ORDER))
    return f"(VALUES {values}) o(pos, category)"


def bin_sql(column: str = LATENCY) -> str:
    """SQL CASE giving the `LATENCY_BINS` index of a latency in ms."""
    whens = [f"WHEN {column} < {hi} THEN {i}" for i, (_, _, hi) in enumerate(LATENCY_BINS) if hi]
    return "CASE " + " ".join(whens) + f" ELSE {len(LATENCY_BINS) - 1} END"


def _bins_values() -> str:
    return ", ".join(f"({i}, {_quote(label)})" for i, (label, _, _) in enumerate(LATENCY_BINS))


def _records(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The query's rows as dicts, on a connection with `tool_facts` prepared (what every query
    here reads; it is built on `step_facts`)."""
    prepare(con, tables=("tool_facts",))
    return records(con, sql, params)


#: Over `tool_facts` rows: failed calls, finished calls (a result arrived or a status was
#: reported), and the error rate of the calls (`ERROR_RATE_SQL`'s definition, per row).
ERRORS_SQL = "count(*) FILTER (WHERE is_error)"
FINISHED_SQL = "count(*) FILTER (WHERE is_error IS NOT NULL OR result_at IS NOT NULL)"
CALL_ERROR_RATE_SQL = f"{ERRORS_SQL} / nullif(count(*), 0)"

#: Calls per (group, tool) ranked by calls within the group; `{group}` is provider or 'all',
#: `{tool}` the tool-name expression.
_RANKED_SQL = f"""
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY grp ORDER BY calls DESC, tool) AS rank,
           sum(calls) OVER (PARTITION BY grp) AS grp_calls
    FROM (
        SELECT {{group}} AS grp, {{tool}} AS tool, count(*) AS calls,
               {ERRORS_SQL} AS errors, {FINISHED_SQL} AS with_status
        FROM tool_facts GROUP BY ALL
    )
)"""


def _ranked(group: str = "provider", tool: str = TOOL) -> str:
    return "WITH " + _RANKED_SQL.format(group=group, tool=tool)


def top_share_rows(
    con: duckdb.DuckDBPyConnection, k: int = 3, *, by: str = "provider"
) -> list[dict[str, Any]]:
    """Per provider (`by="model"`: per model, in a `model` column) and overall ('all'): calls,
    distinct tools, top-k tools and their share, errors, calls with a status and error rate."""
    sql = f"""
    SELECT grp AS {by}, sum(calls) AS calls, count(*) AS distinct_tools,
           string_agg(tool, ', ' ORDER BY rank) FILTER (WHERE rank <= {int(k)}) AS top_tools,
           sum(calls) FILTER (WHERE rank <= {int(k)}) / sum(calls) AS top_share,
           sum(errors) AS errors, sum(with_status) AS with_status,
           {ERROR_RATE_SQL} AS error_rate
    FROM ranked GROUP BY grp
    """
    per_provider = _records(con, _ranked(group_key(by)) + sql + " ORDER BY grp")
    overall = _records(con, _ranked(group=_quote(ALL)) + sql)
    return per_provider + overall


def top_tools_share(
    con: duckdb.DuckDBPyConnection, provider: str | None = None, k: int = 3
) -> float | None:
    """Share of tool calls going to the k most-called tools of `provider` (None: overall)."""
    for row in top_share_rows(con, k):
        if row["provider"] == (provider or ALL):
            return row["top_share"]
    return None


def top_tools(con: duckdb.DuckDBPyConnection, k: int = 5) -> list[dict[str, Any]]:
    """Over all providers: the `k` most-called tools with calls, share of all calls, errors
    and error rate (of the calls with a status)."""
    sql = f"""
    SELECT rank, tool, calls, calls / grp_calls AS share, errors,
           errors / nullif(with_status, 0) AS error_rate
    FROM ranked WHERE rank <= {int(k)} ORDER BY rank
    """
    return _records(con, _ranked(group=_quote(ALL)) + sql)


def popularity(con: duckdb.DuckDBPyConnection, top: int = 15) -> list[dict[str, Any]]:
    """Per provider: the `top` most-called tools (`mcp_*` merged into `mcp`) plus 'Other', with
    calls, share, errors and the error rate (errors / calls)."""
    sql = f"""
    SELECT grp AS provider, CASE WHEN min(rank) <= {int(top)} THEN min(rank) END AS rank,
           CASE WHEN rank <= {int(top)} THEN tool ELSE '{OTHER}' END AS tool,
           sum(calls) AS calls, sum(calls) / any_value(grp_calls) AS share,
           count(*) AS tools, sum(errors) AS errors, sum(with_status) AS with_status,
           {ERROR_RATE_SQL} AS error_rate
    FROM ranked GROUP BY grp, 3
    ORDER BY grp, 2 NULLS LAST
    """
    return _records(con, _ranked(tool=TOOL_MERGED) + sql)


def latency_bins(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per provider and overall, per latency bin: calls, tool time (ms) and their shares.

    Only strictly positive effective latencies; every bin is listed (zero when empty).
    """
    sql = f"""
    WITH timed AS (
        SELECT provider, {bin_sql()} AS bin, {LATENCY} AS ms FROM tool_facts WHERE {POSITIVE}
    ),
    grouped AS (
        SELECT coalesce(provider, '{ALL}') AS provider, bin, count(*) AS calls, sum(ms) AS time_ms
        FROM timed GROUP BY GROUPING SETS ((provider, bin), (bin))
    ),
    groups AS (SELECT DISTINCT provider FROM grouped),
    bins AS (SELECT * FROM (VALUES {_bins_values()}) b(bin, label))
    SELECT g.provider, b.bin, b.label, coalesce(x.calls, 0) AS calls,
           coalesce(x.time_ms, 0) AS time_ms,
           coalesce(x.calls, 0) / nullif(sum(x.calls) OVER w, 0) AS call_share,
           coalesce(x.time_ms, 0) / nullif(sum(x.time_ms) OVER w, 0) AS time_share
    FROM groups g CROSS JOIN bins b
    LEFT JOIN grouped x ON x.provider = g.provider AND x.bin = b.bin
    WINDOW w AS (PARTITION BY g.provider)
    ORDER BY g.provider = '{ALL}', g.provider, b.bin
    """
    return _records(con, sql)


def long_call_shares(
    con: duckdb.DuckDBPyConnection,
    provider: str | None = None,
    threshold_ms: float = LONG_CALL_MS,
    *,
    by: str = "provider",
) -> dict[str, Any]:
    """Calls of at least `threshold_ms`: count, share of timed calls, share of tool time (of
    one provider, or of one model with `by="model"`; None: all calls)."""
    sql = f"""
    SELECT count(*) AS calls, count(*) FILTER (WHERE {LATENCY} >= ?) AS long_calls,
           count(*) FILTER (WHERE {LATENCY} >= ?) / nullif(count(*), 0) AS call_share,
           sum({LATENCY}) AS time_ms,
           sum({LATENCY}) FILTER (WHERE {LATENCY} >= ?) AS long_time_ms,
           coalesce(sum({LATENCY}) FILTER (WHERE {LATENCY} >= ?), 0)
               / nullif(sum({LATENCY}), 0) AS time_share
    FROM tool_facts WHERE {POSITIVE} AND (?::VARCHAR IS NULL OR {group_key(by)} = ?)
    """
    return _records(con, sql, [threshold_ms] * 4 + [provider, provider])[0]


def long_call_time_share(
    con: duckdb.DuckDBPyConnection, provider: str | None = None, threshold_ms: float = LONG_CALL_MS
) -> float | None:
    """Share of total tool time spent in calls of at least `threshold_ms` (None: no timed call)."""
    return long_call_shares(con, provider, threshold_ms)["time_share"]


LATENCY_QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.9, 0.99)
#: The latency where it enters distributions (strictly positive), else NULL (ignored).
POSITIVE_LATENCY = f"CASE WHEN {POSITIVE} THEN {LATENCY} END"


def tool_latency(con: duckdb.DuckDBPyConnection, top: int = 12) -> list[dict[str, Any]]:
    """Per provider and overall ('all'): an all-tools row (rank 0), then per provider the `top`
    most-called tools; each with calls, timed calls (latency > 0), and avg and
    p1/p25/p50/p75/p90/p99 of the positive latencies (ms)."""
    sql = f"""
    WITH named AS (SELECT provider, {TOOL} AS tool, {LATENCY} FROM tool_facts),
    ranks AS (
        SELECT provider, tool,
               row_number() OVER (PARTITION BY provider ORDER BY count(*) DESC, tool) AS rank
        FROM named GROUP BY provider, tool
    )
    SELECT CASE WHEN grouping(provider) = 1 THEN '{ALL}' ELSE provider END AS provider,
           CASE WHEN grouping(tool) = 1 THEN 0 ELSE min(rank) END AS rank,
           CASE WHEN grouping(tool) = 1 THEN '{ALL_TOOLS}' ELSE tool END AS tool,
           count(*) AS calls, count(*) FILTER (WHERE {POSITIVE}) AS timed_calls,
           {dist_sql(POSITIVE_LATENCY, LATENCY_QUANTILES)}
    FROM named JOIN ranks USING (provider, tool)
    GROUP BY GROUPING SETS ((), (provider), (provider, tool))
    HAVING count(*) > 0 AND (grouping(tool) = 1 OR min(rank) <= {int(top)})
    ORDER BY grouping(provider), provider, 2
    """
    return _records(con, sql)


OVERHEAD_FILTER = (
    "tool_wall_latency_ms IS NOT NULL AND tool_internal_latency_ms IS NOT NULL "
    "AND tool_wall_latency_ms >= 0"
)


def overhead(con: duckdb.DuckDBPyConnection, top: int = 4) -> list[dict[str, Any]]:
    """Per provider with timed calls: an 'All timed' row, the `top` tools by timed calls, then
    'Other': calls, Σ wall, Σ internal, Σ residual (ms), avg/p50/p90/p99 of the residual (ms)."""
    sql = f"""
    WITH timed AS (
        SELECT provider, {TOOL} AS tool, tool_wall_latency_ms AS wall,
               tool_internal_latency_ms AS internal,
               tool_wall_latency_ms - tool_internal_latency_ms AS residual
        FROM tool_facts WHERE {OVERHEAD_FILTER}
    ),
    ranks AS (
        SELECT provider, tool,
               row_number() OVER (PARTITION BY provider ORDER BY count(*) DESC, tool) AS rank
        FROM timed GROUP BY provider, tool
    ),
    labelled AS (
        SELECT t.*, CASE WHEN r.rank <= {int(top)} THEN t.tool ELSE '{OTHER}' END AS tool_group,
               CASE WHEN r.rank <= {int(top)} THEN r.rank ELSE {int(top) + 1} END AS grp_rank
        FROM timed t JOIN ranks r USING (provider, tool)
    )
    SELECT provider, CASE WHEN grouping(tool_group) = 1 THEN 0 ELSE min(grp_rank) END AS rank,
           coalesce(tool_group, '{ALL_TIMED}') AS tool, count(*) AS calls,
           sum(wall) AS wall_ms, sum(internal) AS internal_ms, sum(residual) AS residual_ms,
           sum(residual) / nullif(sum(wall), 0) AS residual_share,
           {dist_sql("residual", (0.5, 0.9, 0.99))}
    FROM labelled GROUP BY GROUPING SETS ((provider), (provider, tool_group))
    ORDER BY provider, 2
    """
    return _records(con, sql)


def overhead_coverage(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per provider: tool calls, calls with both timings (the overhead filter), coverage."""
    sql = f"""
    SELECT provider, count(*) AS calls,
           count(*) FILTER (WHERE {OVERHEAD_FILTER}) AS timed_calls,
           count(*) FILTER (WHERE {OVERHEAD_FILTER}) / count(*) AS coverage
    FROM tool_facts GROUP BY provider ORDER BY provider
    """
    return _records(con, sql)


def categories(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per provider and category: calls, call share, tool time (positive latencies), time share."""
    sql = f"""
    WITH cat AS (
        SELECT provider, {category_sql()} AS category, count(*) AS calls,
               coalesce(sum({LATENCY}) FILTER (WHERE {POSITIVE}), 0) AS time_ms
        FROM tool_facts GROUP BY ALL
    )
    SELECT provider, category, calls,
           calls / sum(calls) OVER (PARTITION BY provider) AS share, time_ms,
           time_ms / nullif(sum(time_ms) OVER (PARTITION BY provider), 0) AS time_share
    FROM cat JOIN {_category_positions()} USING (category)
    ORDER BY provider, pos
    """
    return _records(con, sql)


def category_members(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per provider and tool name: its category and calls (shows what lands in "other")."""
    sql = f"""
    SELECT provider, tool, category, calls FROM (
        SELECT provider, {TOOL} AS tool, {category_sql()} AS category, count(*) AS calls
        FROM tool_facts GROUP BY ALL
    ) JOIN {_category_positions()} USING (category)
    ORDER BY provider, pos, calls DESC, tool
    """
    return _records(con, sql)
