"""Headline facts of a trace, per provider (or per model) and in total: scope, tokens, cost,
prefix hit rate.

The one definition behind Table 1, `tracelab summary` and the demo's closing table. Prefix hit
rate is token-weighted: Σ prefix / Σ (prefix + append) over the steps (spec, analyses.md), so one
huge step counts as much as its tokens, not as one vote. Cost sums priced steps only; steps of
unpriced models are counted in `unpriced_steps`. `by="model"` splits the same sums per model
instead of per provider (`metrics.sql.group_key`); the first column is then `model`.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.sql import group_key, records
from tracelab.metrics.steps import prepare

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
    count(*) FILTER (WHERE NOT priced) AS unpriced_steps,
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
    tools, tokens, cost, hit rate)."""
    prepare(con)
    return records(con, HEADLINE_SQL.format(key=group_key(by), by=by))


CACHE_SAVINGS_SQL = """
SELECT CASE WHEN grouping({key}) = 1 THEN 'total' ELSE {key} END AS {by},
       sum(s.prefix * (mp.p_input - mp.p_read) / 1e6) AS cache_savings,
       count(*) AS priced_steps
FROM step_facts s JOIN model_prices mp ON s.model = mp.model
GROUP BY ROLLUP ({key})
ORDER BY grouping({key}), {by}
"""


def cache_savings(con: duckdb.DuckDBPyConnection, by: str = "provider") -> list[dict[str, Any]]:
    """Per provider (`by="model"`: per model) and 'total': USD the prompt cache saved on priced
    steps.

    Savings of a step = its prefix (cache-read) tokens × (input price − cache-read price): what
    those tokens would have cost sent fresh, minus what they cost read from the cache. Steps of
    unpriced models are left out (never priced at zero), like `headline`'s cost.
    """
    prepare(con)
    return records(con, CACHE_SAVINGS_SQL.format(key=group_key(by, "s"), by=by))


PRICING_COVERAGE_SQL = """
SELECT count(*) AS steps,
       count(*) FILTER (WHERE priced) AS exact,
       0 AS fallback,
       count(*) FILTER (WHERE NOT priced) AS unpriced
FROM step_facts
"""


def pricing_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How the steps' cost was priced: `exact` (the model matched the price table), `fallback`
    (priced by a fallback source; none yet), `unpriced` (no price: no cost), of `steps`.

    The one place the report asks this; it reads `step_facts.priced` until the metric layer
    tells exact from fallback pricing.
    """
    prepare(con)
    return records(con, PRICING_COVERAGE_SQL)[0]
