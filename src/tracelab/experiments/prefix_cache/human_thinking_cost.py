"""`prefix_cache/human_thinking_cost` (Table 13): the append prefill and cost avoided if
user-initiated steps kept their prefix cache across the human pause.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import share
from tracelab.experiments.fmt import count, format_value, pct, tokens
from tracelab.experiments.prefix_cache._shared import _columns, _steps
from tracelab.experiments.registry import experiment
from tracelab.metrics import cache
from tracelab.metrics.costs import coverage_note, price_coverage


@experiment(
    "prefix_cache/human_thinking_cost",
    title="The cost of human thinking time (retained-cache counterfactual)",
    question="How much append prefill and cost would be avoided if user-initiated steps kept "
    "their prefix cache across the human pause before them?",
    definitions="""
- For each **user-initiated step with a predecessor** in its session, keep the input
  C_i = prefix_i + append_i but cap append at the net context growth max(0, C_i − C_{i−1});
  the rest moves to prefix, billed at the cache-read price. If append is already below the
  growth it is unchanged; tool-result steps and session-first steps are unchanged. An upper
  bound: it assumes the whole previous context could have been served from cache.
- A Claude step's append is billed as uncached input plus its cache writes W (`metrics.costs`);
  the moved tokens leave the write slice first: W' = min(max(0, W − moved), append') (the
  reference's counterfactual, amendments §14.7), its 1-hour share that of W.
- Cost uses the prices and cost formula of every other analysis (`trace_facts/prices`). Token
  rows count every step; **cost rows count priced steps only** (steps of unpriced models are
  listed; the note says how many steps were priced exactly, by fallback, and not at all).
- Reduction % = reduction / observed total (append tokens of all steps; cost of priced steps).
  **Avg saved / reduced step** = cost reduction / priced steps whose append was reduced.
""",
    study_item="Table 13",
)
def human_thinking_cost(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    by = {r["provider"]: _with_reductions(r) for r in cache.retained_cache(con)}
    cov = price_coverage(con)
    metrics = [
        ("User steps w/ predecessor", "user_steps", "int"),
        ("Observed append", "append_before", "tokens"),
        ("Append after retained cache", "append_after", "tokens"),
        ("Append reduction", "append_saved", "tokens"),
        ("Append reduction %", "append_saved_share", "pct"),
        ("Observed total cost", "cost_before", "usd"),
        ("Cost after retained cache", "cost_after", "usd"),
        ("Cost reduction", "cost_saved", "usd"),
        ("Cost reduction %", "cost_saved_share", "pct"),
        ("Avg saved / reduced step (USD)", "saved_per_step", "float3"),
        ("Steps with reduced append", "reduced_steps", "int"),
        ("Steps of unpriced models (not in cost)", "unpriced_steps", "int"),
    ]
    table = Table(
        name="table13_human_thinking_cost",
        title="Table 13 — append and cost if user steps retained their prefix cache",
        columns=["metric", *keys],
        rows=[[label, *(by.get(k, {}).get(f) for k in keys)] for label, f, _ in metrics],
        row_kinds=[fmt for _, _, fmt in metrics],
        latex=True,
        note="Cost rows cover priced steps only; token rows cover every step. "
        + coverage_note(cov),
    )
    return Result([table], _thinking_text(by.get("total", {})) + " " + coverage_note(cov))


def _with_reductions(r: dict[str, Any]) -> dict[str, Any]:
    """Add the reductions (absolute, share, per reduced priced step) to a `retained_cache` row."""
    append_saved = r["append_before"] - r["append_after"]
    cost_saved = None
    if r["cost_before"] is not None and r["cost_after"] is not None:
        cost_saved = r["cost_before"] - r["cost_after"]
    return {
        **r,
        "append_saved": append_saved,
        "append_saved_share": share(append_saved, r["append_before"]),
        "cost_saved": cost_saved,
        "cost_saved_share": share(cost_saved, r["cost_before"]),
        "saved_per_step": share(cost_saved, r["reduced_priced_steps"]),
    }


def _thinking_text(total: dict[str, Any]) -> str:
    if not total.get("user_steps"):
        return (
            "The trace has no user-initiated step with a predecessor in its session, so "
            "retaining the cache across human pauses changes nothing."
        )
    text = (
        f"If the {count(total['user_steps'])} user-initiated steps with a predecessor kept "
        f"their prefix cache across the human pause, append prefill would fall from "
        f"{tokens(total['append_before'])} to {tokens(total['append_after'])} tokens "
        f"(−{tokens(total['append_saved'])}, {pct(total['append_saved_share'])}; "
        f"{_steps(total['reduced_steps'])} reduced)."
    )
    if total["cost_saved"] is not None:
        text += (
            f" At list prices the cost would fall from {format_value(total['cost_before'], 'usd')}"
            f" to {format_value(total['cost_after'], 'usd')} "
            f"(−{format_value(total['cost_saved'], 'usd')}, {pct(total['cost_saved_share'])}), "
            f"${format_value(total['saved_per_step'], 'float3')} per reduced step."
        )
    else:
        text += " No step has a priced model, so there is no cost estimate."
    if total["unpriced_steps"]:
        text += (
            f" {_steps(total['unpriced_steps'])} of unpriced models "
            f"({count(total['unpriced_user_steps'])} of them user steps with a predecessor) are "
            "left out of the cost rows."
        )
    return text
