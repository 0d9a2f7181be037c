"""The cost of a step — one definition, in SQL — and how much of a trace is priced.

`prepare_costs(con, source)` resolves the price source once per distinct model
(`pricing.register_prices` → TEMP `price_rates`); `metrics.steps` prices every step with the
SQL below while it builds `step_facts` (no table of its own: one pass, no join of 357k rows).
The rates of a step are those of its model's band that holds the step's start time
(`started_at`, else `ended_at`; a step with neither pays the latest price) and its context
C = prefix + append (context-length tiers).

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

#: The step columns the cost needs, beyond `provider`, `model`, `started_at`, `ended_at` and
#: the null-free token counts `prefix`, `append`, `output`: cache-write tokens W and W_1h and
#: whether the log splits them (hidden helper columns of `step_facts`' input; `{creation}`,
#: `{creation_1h}`: the raw fields' SQL).
STEP_WRITE_COLUMNS = """
    cache_write_tokens({creation}, {append}) AS _cache_write,
    cache_write_1h_tokens({creation_1h}, _cache_write) AS _cache_write_1h,
    {creation_1h} IS NOT NULL AS _cache_write_split"""

#: The hidden helper columns of `STEP_WRITE_COLUMNS` (excluded from `step_facts`).
HIDDEN_COLUMNS = ("_cache_write", "_cache_write_1h", "_cache_write_split")

#: The step's band: its model's rates in force at its start (`started_at`, else `ended_at`; a
#: step with neither pays the latest price) for its context C = prefix + append. `{s}`: the
#: step relation's alias.
BAND_JOIN = """
LEFT JOIN price_rates pr
    ON pr.provider = {s}.provider AND pr.model = {s}.model
    AND coalesce({s}.started_at, {s}.ended_at, '9999-12-31'::TIMESTAMPTZ) >= pr.valid_from
    AND coalesce({s}.started_at, {s}.ended_at, '9999-12-31'::TIMESTAMPTZ) < pr.valid_to
    AND {s}.prefix + {s}.append > pr.context_above AND {s}.prefix + {s}.append <= pr.context_upto"""

#: The cost columns of a step (`STEP_COST_COLUMNS`, in that order) over the step relation
#: `{s}` (with `STEP_WRITE_COLUMNS`) joined to its band `pr` (`BAND_JOIN`).
STEP_COST_SELECT = """
    pr.price_match, pr.price_group,
    pr.p_input, pr.p_write_5m, pr.p_write_1h, pr.p_read, pr.p_output,
    {s}._cache_write AS cache_write, {s}._cache_write_split AS cache_write_split,
    {s}._cache_write - {s}._cache_write_1h AS cache_write_5m,
    {s}._cache_write_1h AS cache_write_1h,
    ({s}.append - {s}._cache_write) * pr.p_input / 1e6 AS cost_input,
    ({s}._cache_write - {s}._cache_write_1h) * pr.p_write_5m / 1e6 AS cost_write_5m,
    {s}._cache_write_1h * pr.p_write_1h / 1e6 AS cost_write_1h,
    append_cost({s}.append, {s}._cache_write, {s}._cache_write_1h,
                pr.p_input, pr.p_write_5m, pr.p_write_1h) AS cost_append,
    prefix_cost({s}.prefix, pr.p_read) AS cost_prefix,
    output_cost({s}.output, pr.p_output) AS cost_output,
    cost_append + cost_prefix + cost_output AS cost_total"""

#: The cost columns `step_facts` carries.
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


def raw_field(con: duckdb.DuckDBPyConnection, name: str, alias: str = "r") -> str:
    """`<alias>.<name>`, or a typed null when `rounds` has no such column (an older database)."""
    present = scalar(
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'rounds' AND column_name = ?",
        [name],
    )
    return f"{alias}.{name}" if present else "NULL::BIGINT"


def step_write_columns(con: duckdb.DuckDBPyConnection, alias: str = "r") -> str:
    """`STEP_WRITE_COLUMNS` over `rounds` (aliased `alias`), in SQL on `con`."""
    return STEP_WRITE_COLUMNS.format(
        creation=f"{alias}.claude_cache_creation_input_tokens",
        creation_1h=raw_field(con, _TIER_FIELDS[0], alias),
        append=f"coalesce({alias}.newly_append_tokens, 0)",
    )


def prepare_costs(con: duckdb.DuckDBPyConnection, source: PriceSource) -> None:
    """TEMP `price_rates` and `price_source` and the cost macros on `con` (see the module
    doc); `metrics.steps` prices each step in SQL as it builds `step_facts`."""
    register_prices(con, source)
    con.execute(COST_MACROS)


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
