"""Headline facts of a trace, per provider (or per model) and in total: scope, tokens, cost,
prefix hit rate.

The one definition behind Table 1, `tracelab summary` and the demo's closing table. Prefix hit
rate is token-weighted: Σ prefix / Σ (prefix + append) over the steps (spec, analyses.md), so one
huge step counts as much as its tokens, not as one vote. Cost sums priced steps only; the steps
priced exactly, by fallback and not at all are `priced_exact`, `priced_fallback` and
`unpriced_steps` (`metrics.costs`); cache-write tokens are split into 5-minute and 1-hour writes
where the log records the split. `by="model"` splits the same sums per model
instead of per provider (`metrics.sql.group_key`); the first column is then `model`.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.costs import COVERAGE_SELECT
from tracelab.metrics.sql import group_key, records
from tracelab.metrics.steps import STEP_TABLES, prepare

HIT_RATE_SQL = "sum(prefix) / nullif(sum(prefix) + sum(append), 0)"

HEADLINE_SQL = f"""
SELECT
    CASE WHEN grouping({{key}}) = 1 THEN 'total' ELSE {{key}} END AS {{by}},
    count(DISTINCT session_id) AS sessions,
    count(DISTINCT "user") AS users,
    count(DISTINCT model) AS models,
    min(started_at) AS first_at,
    max(started_at) AS last_at,
    count(*) AS steps,
    coalesce(sum(tool_call_count), 0) AS tool_calls,
    sum(cost_total) AS cost,
    {COVERAGE_SELECT},
    coalesce(sum(context), 0) AS input_tokens,
    coalesce(sum(prefix), 0) AS prefix_tokens,
    coalesce(sum(append), 0) AS append_tokens,
    coalesce(sum(output), 0) AS output_tokens,
    sum(reasoning) AS reasoning_tokens,
    {HIT_RATE_SQL} AS prefix_hit_rate
FROM step_facts
GROUP BY ROLLUP ({{key}})
ORDER BY grouping({{key}}), {{by}}
"""


def headline(con: duckdb.DuckDBPyConnection, by: str = "provider") -> list[dict[str, Any]]:
    """One dict per provider (`by="model"`: per model) plus a 'total' row (sessions, steps,
    tools, tokens, cost, hit rate).

    Kept per connection in a TEMP table (`_headline_by_<by>`): the fact tables do not change
    once prepared, and Table 1, the report's opening and the dashboard all ask for it (its
    distinct counts are most of its cost)."""
    prepare(con, tables=STEP_TABLES)
    table = f"_headline_by_{by}"
    sql = HEADLINE_SQL.format(key=group_key(by), by=by)
    # rows kept in the query's order (DuckDB preserves insertion order; a scan returns it)
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} AS {sql}")
    return records(con, f"SELECT * FROM {table}")


#: USD the prompt cache saved on one priced step (see `cache_savings`).
STEP_SAVINGS_SQL = "prefix * (p_input - p_read) / 1e6"

CACHE_SAVINGS_SQL = f"""
SELECT CASE WHEN grouping({{key}}) = 1 THEN 'total' ELSE {{key}} END AS {{by}},
       sum({STEP_SAVINGS_SQL}) AS cache_savings,
       count(*) AS priced_steps
FROM step_facts s WHERE s.priced
GROUP BY ROLLUP ({{key}})
ORDER BY grouping({{key}}), {{by}}
"""


def cache_savings(con: duckdb.DuckDBPyConnection, by: str = "provider") -> list[dict[str, Any]]:
    """Per provider (`by="model"`: per model) and 'total': USD the prompt cache saved on priced
    steps.

    Savings of a step = its prefix (cache-read) tokens × (input price − cache-read price): what
    those tokens would have cost sent fresh, minus what they cost read from the cache. Steps of
    unpriced models are left out (never priced at zero), like `headline`'s cost.
    """
    prepare(con, tables=STEP_TABLES)
    return records(con, CACHE_SAVINGS_SQL.format(key=group_key(by, "s"), by=by))
