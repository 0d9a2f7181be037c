"""Tool time by tool name (amendments §7, the reference's `tool_time_by_kind`; study §6.2).

The reference names a tool by its name with surrounding whitespace trimmed, a blank or missing
name being `<unknown-tool>` (not the `(unnamed)` of the other tool tables). Per name: calls,
**valid** calls (effective latency > 0), **missing** ones (effective latency null), errors
(`is_error` true) and Σ of the positive effective latencies (`tool_facts`, the one definition).

- `by_tool`: global (providers pooled, raw names), names with a valid call only, sorted by Σ
  descending then by first appearance in the file (round_pk, tool position); latency share =
  the name's Σ / every name's Σ, avg = Σ / valid calls.
- `figure_bars`: per provider, names with `mcp_*` merged into `mcp` (the popularity merge), names
  with fewer than `MIN_CALLS` calls pooled as "Other", the `TOP` largest by tool time.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.sql import records
from tracelab.metrics.steps import prepare
from tracelab.metrics.tools import MCP_MERGE_PREFIX, MCP_MERGED, OTHER

UNKNOWN_TOOL = "<unknown-tool>"
#: Tools with fewer calls than this are drawn as "Other" in the per-provider bars.
MIN_CALLS = 20
#: Bars drawn per provider panel (largest tool time first).
TOP = 30

_TRIMMED = r"regexp_replace(coalesce(tool_name, ''), '^\s+|\s+$', '', 'g')"
#: The reference's tool name: trimmed, blank → `<unknown-tool>`.
TOOL_NAME = f"CASE WHEN {_TRIMMED} = '' THEN '{UNKNOWN_TOOL}' ELSE {_TRIMMED} END"

_PER_TOOL = f"""
SELECT {{group}} {TOOL_NAME} AS tool, count(*) AS calls,
       count(*) FILTER (WHERE effective_latency_ms > 0) AS valid,
       count(*) FILTER (WHERE effective_latency_ms IS NULL) AS missing,
       count(*) FILTER (WHERE is_error) AS errors,
       coalesce(sum(effective_latency_ms) FILTER (WHERE effective_latency_ms > 0), 0)
           AS total_ms,
       min((round_pk, tool_pos)) AS first_seen
FROM tool_facts GROUP BY ALL
"""

BY_TOOL_SQL = f"""
SELECT tool, calls, valid, missing, errors, total_ms, total_ms / 1000.0 AS total_s,
       total_ms / 3600000.0 AS total_h,
       total_ms / nullif(sum(total_ms) OVER (), 0) AS latency_share,
       total_ms / valid AS avg_ms
FROM ({_PER_TOOL.format(group="")}) WHERE valid > 0
ORDER BY total_ms DESC, first_seen
"""

FIGURE_SQL = f"""
WITH per AS ({_PER_TOOL.format(group="provider,")}),
merged AS (
    SELECT provider,
           CASE WHEN starts_with(lower(tool), '{MCP_MERGE_PREFIX}') THEN '{MCP_MERGED}'
                ELSE tool END AS tool,
           sum(calls) AS calls, sum(valid) AS valid, sum(total_ms) AS total_ms
    FROM per GROUP BY ALL
),
labelled AS (
    SELECT provider, CASE WHEN calls < {MIN_CALLS} THEN '{OTHER}' ELSE tool END AS tool,
           sum(calls) AS calls, sum(valid) AS valid, sum(total_ms) AS total_ms
    FROM merged GROUP BY ALL
)
SELECT provider, tool, calls, valid, total_ms / 3600000.0 AS total_h, rank
FROM (
    SELECT *, row_number() OVER (PARTITION BY provider ORDER BY total_ms DESC, tool) AS rank
    FROM labelled
)
WHERE rank <= {TOP}
ORDER BY provider, rank
"""


def by_tool(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The reference's global CSV: one record per tool name with a valid call (see module)."""
    prepare(con)
    return records(con, BY_TOOL_SQL)


def figure_bars(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per provider, the `TOP` bars by tool time: merged name or 'Other', calls, valid, hours."""
    prepare(con)
    return records(con, FIGURE_SQL)
