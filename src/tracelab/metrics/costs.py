"""The cost of a step — one definition, in SQL — and how much of a trace is priced.

`prepare_costs(con, source)` resolves the price source once per distinct model
(`pricing.register_prices` → TEMP `price_rates`) and materializes TEMP `step_costs`, one row per
step, which `metrics.steps` joins into `step_facts`. The rates of a step are those of its
model's band that holds the step's start time (`started_at`, else `ended_at`; a step with
neither pays the latest price) and its context C = prefix + append (context-length tiers).

Cost of a step (USD; rates per million tokens; the reference's formula, amendments §14.7,
with the cache-write tiers split):
  W      = clamp(claude_cache_creation_input_tokens or 0, 0, append)    cache-write tokens
  W_1h   = clamp(claude_cache_creation_1h_input_tokens, 0, W); 0 when the log has no split
  W_5m   = W − W_1h            (no split: every cache write is billed as a 5-minute write)
  input  = (append − W) × input           write_5m = W_5m × 5-minute write (input if none)
  write_1h = W_1h × 1-hour write (5-minute write if none)
  append = input + write_5m + write_1h;   prefix = prefix × cache read;   output = O × output
  total  = append + prefix + output       (reasoning is inside O, never billed twice)
Codex rows have no cache-creation field: W = 0, append is billed at the input price. An
unpriced step (no band) has null rates and null costs — never zero.

`price_coverage` counts steps priced exactly / by fallback / not at all: every cost figure
states it.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.sql import records, scalar
from tracelab.pricing import PriceSource, register_prices

COST_MACROS = """
CREATE OR REPLACE TEMP MACRO cache_write_tokens(creation, append_tokens) AS
    least(greatest(coalesce(creation, 0), 0), append_tokens);
CREATE OR REPLACE TEMP MACRO cache_write_1h_tokens(creation_1h, write_tokens) AS
    coalesce(least(greatest(creation_1h, 0), write_tokens), 0);
CREATE OR REPLACE TEMP MACRO append_cost(append_tokens, w, w_1h, p_input, p_write_5m,
                                         p_write_1h) AS
    ((append_tokens - w) * p_input + (w - w_1h) * p_write_5m + w_1h * p_write_1h) / 1e6;
CREATE OR REPLACE TEMP MACRO prefix_cost(prefix_tokens, p_read) AS prefix_tokens * p_read / 1e6;
CREATE OR REPLACE TEMP MACRO output_cost(output_tokens, p_output) AS
    output_tokens * p_output / 1e6;
"""

#: The optional raw fields (a database of an older format may lack them: they read as null).
_TIER_FIELDS = ("claude_cache_creation_1h_input_tokens",)

STEP_COSTS_SQL = """
CREATE OR REPLACE TEMP TABLE step_costs AS
WITH s AS (
    SELECT r.round_pk, r.provider, r.model,
           coalesce(r.started_at, r.ended_at, '9999-12-31'::TIMESTAMPTZ) AS price_ts,
           coalesce(r.prefix_tokens, 0) AS prefix,
           coalesce(r.newly_append_tokens, 0) AS append,
           coalesce(r.output_tokens, 0) AS output,
           r.claude_cache_creation_input_tokens AS creation,
           {creation_1h} AS creation_1h
    FROM rounds r
),
w AS (
    SELECT s.*, cache_write_tokens(s.creation, s.append) AS cache_write
    FROM s
),
priced AS (
    SELECT w.round_pk, w.prefix, w.append, w.output, w.cache_write,
           w.creation_1h IS NOT NULL AS cache_write_split,
           cache_write_1h_tokens(w.creation_1h, w.cache_write) AS cache_write_1h,
           pr.price_match, pr.price_group,
           pr.p_input, pr.p_write_5m, pr.p_write_1h, pr.p_read, pr.p_output
    FROM w LEFT JOIN price_rates pr
        ON pr.provider = w.provider AND pr.model = w.model
        AND w.price_ts >= pr.valid_from AND w.price_ts < pr.valid_to
        AND w.prefix + w.append > pr.context_above AND w.prefix + w.append <= pr.context_upto
)
SELECT round_pk, price_match, price_group,
       p_input, p_write_5m, p_write_1h, p_read, p_output,
       cache_write, cache_write_split,
       cache_write - cache_write_1h AS cache_write_5m, cache_write_1h,
       (append - cache_write) * p_input / 1e6 AS cost_input,
       (cache_write - cache_write_1h) * p_write_5m / 1e6 AS cost_write_5m,
       cache_write_1h * p_write_1h / 1e6 AS cost_write_1h,
       append_cost(append, cache_write, cache_write_1h, p_input, p_write_5m, p_write_1h)
           AS cost_append,
       prefix_cost(prefix, p_read) AS cost_prefix,
       output_cost(output, p_output) AS cost_output,
       cost_append + cost_prefix + cost_output AS cost_total
FROM priced
"""

#: The `step_costs` columns `step_facts` carries (every one but the key).
STEP_COST_COLUMNS = (
    "price_match",
    "price_group",
    "p_input",
    "p_write_5m",
    "p_write_1h",
    "p_read",
    "p_output",
    "cache_write",
    "cache_write_split",
    "cache_write_5m",
    "cache_write_1h",
    "cost_input",
    "cost_write_5m",
    "cost_write_1h",
    "cost_append",
    "cost_prefix",
    "cost_output",
    "cost_total",
)


def _field(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """`r.<name>`, or a typed null when `rounds` has no such column (an older database)."""
    present = scalar(
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'rounds' AND column_name = ?",
        [name],
    )
    return f"r.{name}" if present else "NULL::BIGINT"


def prepare_costs(con: duckdb.DuckDBPyConnection, source: PriceSource) -> None:
    """TEMP `price_rates`, `price_source` and `step_costs` on `con` (see the module doc)."""
    register_prices(con, source)
    con.execute(COST_MACROS)
    con.execute(STEP_COSTS_SQL.format(creation_1h=_field(con, _TIER_FIELDS[0])))


#: Steps priced exactly / by fallback / not at all, and cache-write tokens per tier (tokens of
#: steps whose log has no 5m/1h split are `cache_write_unsplit_tokens`). Over `step_facts`.
COVERAGE_SELECT = """
    count(*) FILTER (WHERE price_match = 'exact') AS priced_exact,
    count(*) FILTER (WHERE price_match = 'fallback') AS priced_fallback,
    count(*) FILTER (WHERE price_match IS NULL) AS unpriced_steps,
    coalesce(sum(cache_write), 0) AS cache_write_tokens,
    coalesce(sum(cache_write_5m) FILTER (WHERE cache_write_split), 0) AS cache_write_5m_tokens,
    coalesce(sum(cache_write_1h) FILTER (WHERE cache_write_split), 0) AS cache_write_1h_tokens,
    coalesce(sum(cache_write) FILTER (WHERE NOT cache_write_split), 0)
        AS cache_write_unsplit_tokens""".strip()


def price_coverage(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> dict[str, Any]:
    """{steps, priced_exact, priced_fallback, unpriced_steps, cache_write_*_tokens, source}
    over the steps of `step_facts` matching `where` (an SQL condition)."""
    row = records(
        con,
        f"SELECT count(*) AS steps, {COVERAGE_SELECT} FROM step_facts WHERE {where}",
    )[0]
    row["source"] = scalar(con, "SELECT label FROM price_source")
    return row


def coverage_note(cov: dict[str, Any]) -> str:
    """One sentence: how many steps were priced exactly, by fallback, and not at all."""

    def n(key: str) -> str:
        return f"{cov[key]:,}"

    text = (
        f"Prices: {cov['source']}; of {n('steps')} steps {n('priced_exact')} priced exactly, "
        f"{n('priced_fallback')} by family fallback, {n('unpriced_steps')} unpriced"
    )
    if cov["unpriced_steps"]:
        return text + " (left out of every cost, never priced at zero)."
    return text + "."
