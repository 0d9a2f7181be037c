"""`session/cost_distribution` (Table 5): cost per session, request and step at list prices,
split by token class.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.experiments.session._shared import TAIL_QUANTILES, _block_tables, _lookup
from tracelab.metrics.costs import coverage_note, price_coverage
from tracelab.metrics.session import (
    REQUEST_COSTS,
    SESSION_COSTS,
    STEP_COSTS,
    Block,
    block_distributions,
    prepare_session,
)

_COST_METRICS = {
    "Total": "cost_total",
    "Append tokens": "cost_append",
    "Prefix tokens": "cost_prefix",
    "Output tokens": "cost_output",
}
_COST_PARTS = ("Append tokens", "Prefix tokens", "Output tokens")
COST_BLOCKS = [
    Block(unit, source, _COST_METRICS, _COST_PARTS, "Total")
    for unit, source in (
        ("Per session", SESSION_COSTS),
        ("Per request", REQUEST_COSTS),
        ("Per step", STEP_COSTS),
    )
]


@experiment(
    "session/cost_distribution",
    title="Cost per session, request and step",
    question="What does a session, a request and a step cost at list prices, and which tokens "
    "(append, prefix, output) is the money spent on?",
    definitions="""
- **Cost of a step** (USD, the prices of `trace_facts/prices`, `metrics.costs`): append =
  uncached input × input price + 5-minute cache writes × 5-minute-write price + 1-hour cache
  writes × 1-hour-write price (Claude; Codex: append × input price); prefix × cache-read
  price; output × output price. Steps of models without a price carry no cost; the note
  says how many steps were priced exactly, by family fallback, and not at all.
- **Cost of a session / request** = Σ over its priced steps; sessions and requests without a
  priced step are left out. Request: a step with a `user_message` at or before its earliest
  model output and the steps after it, up to the next such step (`request_facts`, amendments
  §14.2; steps before a session's first request belong to no request).
- **% of cost** = Σ of the component over the units / Σ of their total cost.
""",
    study_item="Table 5",
)
def cost_distribution(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, COST_BLOCKS, TAIL_QUANTILES)
    tables = _block_tables(
        dists,
        "table5_cost",
        "Table 5 — cost per session, request and step (USD)",
        "usd",
        TAIL_QUANTILES,
        "% of cost",
    )
    cov = price_coverage(con)
    for table in tables:
        table.note = coverage_note(cov)
    return Result(tables, _cost_text(dists, cov))


def _cost_text(dists: list[dict[str, Any]], cov: dict[str, Any]) -> str:
    d = _lookup(dists)
    note = " " + coverage_note(cov)
    if cov["steps"] == cov["unpriced_steps"]:
        return "No step of the trace is priced, so there is no cost to distribute." + note
    sess, req, step = (d[(u, "Total")] for u in ("Per session", "Per request", "Per step"))
    shares = ", ".join(
        f"{m.split()[0].lower()} {format_value(d[('Per session', m)]['share'], 'pct')}"
        for m in _COST_PARTS
    )
    return (
        f"A session costs {format_value(sess['avg'], 'usd')} on average (median "
        f"{format_value(sess['p50'], 'usd')}, p99 {format_value(sess['p99'], 'usd')}); a request "
        f"{format_value(req['avg'], 'usd')} (median {format_value(req['p50'], 'usd')}) and a step "
        f"{format_value(step['avg'], 'usd')}. Of the total cost of "
        f"{format_value(sess['total'], 'usd')}, the token classes take: {shares}." + note
    )
