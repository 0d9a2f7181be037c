"""Headline facts of a trace: scope and token totals per provider, and the prefix hit rate.

Prefix hit rate is token-weighted: Σ prefix / Σ (prefix + append) over the steps (spec,
analyses.md), so one huge step counts as much as its tokens, not as one vote.
"""

from __future__ import annotations

from typing import Any

import duckdb

HEADLINE_SQL = """
WITH steps AS (
    SELECT provider, session_id, "user", model, prefix_tokens, newly_append_tokens,
           input_tokens_total, output_tokens, reasoning_output_tokens, tool_call_count
    FROM rounds
)
SELECT
    coalesce(provider, 'total') AS provider,
    count(DISTINCT session_id) AS sessions,
    count(DISTINCT "user") AS users,
    count(DISTINCT model) AS models,
    count(*) AS steps,
    coalesce(sum(tool_call_count), 0) AS tool_calls,
    coalesce(sum(input_tokens_total), 0) AS input_tokens,
    coalesce(sum(prefix_tokens), 0) AS prefix_tokens,
    coalesce(sum(newly_append_tokens), 0) AS append_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    sum(reasoning_output_tokens) AS reasoning_tokens,
    sum(prefix_tokens) / nullif(sum(prefix_tokens) + sum(newly_append_tokens), 0)
        AS prefix_hit_rate
FROM steps
GROUP BY ROLLUP (provider)
ORDER BY provider = 'total', provider
"""


def headline(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One dict per provider plus a 'total' row (sessions, steps, tools, tokens, hit rate)."""
    cur = con.execute(HEADLINE_SQL)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
