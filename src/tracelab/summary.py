"""`tracelab summary`: the headline facts of a trace — Table 1 and the introduction's numbers.

Every number comes from the one definition in `tracelab.metrics` (headline, request facts,
decode speeds, tool shares, cache metrics); this module only gathers them per provider and in
total — or, with `by="model"`, per model (`metrics.sql.group_key`; a request counts for the
model of its first step). Nothing here re-defines a metric.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from tracelab.experiments.common import providers, rows
from tracelab.metrics.cache import prefill_amplification, prefix_hit_rate
from tracelab.metrics.costs import price_coverage
from tracelab.metrics.generation import SPEED_CV_SQL, prepare_generation
from tracelab.metrics.overview import headline
from tracelab.metrics.reference_overview import reference_overview
from tracelab.metrics.session import TIMED_REQUESTS
from tracelab.metrics.sql import group_key, grouped_records
from tracelab.metrics.steps import prepare
from tracelab.metrics.tools import LONG_CALL_MS, long_call_shares, top_share_rows
from tracelab.tracedb import trace_meta

TOTAL = "total"

#: (key, label, display kind) of each fact, in the order people read them.
FACTS: tuple[tuple[str, str, str], ...] = (
    ("steps_per_request", "LLM steps per request (avg)", "float1"),
    ("tool_calls_per_request", "tool calls per request (avg)", "float1"),
    ("request_time_avg_ms", "request response time (avg)", "ms"),
    ("request_time_p50_ms", "request response time (p50)", "ms"),
    ("request_time_p90_ms", "request response time (p90)", "ms"),
    ("median_prefix_tokens", "prefix tokens per step (p50)", "tokens"),
    ("median_append_tokens", "append tokens per step (p50)", "tokens"),
    ("median_output_tokens", "output tokens per step (p50)", "tokens"),
    ("decode_speed_p50", "normalized decode speed (p50, tok/s)", "float1"),
    ("decode_speed_cv", "normalized decode speed CV", "pct"),
    ("pure_decode_speed_p50", "pure decode speed (p50, tok/s; Codex)", "float1"),
    ("residual_ttft_p50_ms", "residual TTFT (p50; Codex)", "ms"),
    ("top3_tool_share", "top-3 tools' share of calls", "pct"),
    ("long_call_share", "tool calls > 1 min (share of calls)", "pct"),
    ("long_call_time_share", "tool calls > 1 min (share of tool time)", "pct"),
    ("prefix_hit_rate", "prefix cache hit rate", "pct"),
    ("prefix_hit_rate_user", "  of user-initiated steps", "pct"),
    ("prefix_hit_rate_tool", "  of tool-initiated steps", "pct"),
    ("prefill_amplification", "prefill amplification (append / fresh)", "float1"),
    ("cost_share_prefix", "cost share: prefix (cache read)", "pct"),
    ("cost_share_append", "cost share: append (incl. cache writes)", "pct"),
    ("cost_share_output", "cost share: output", "pct"),
)


#: How `summary_facts` can split a trace (the group key of each is `metrics.sql.group_key`).
GROUPINGS = ("provider", "model")


def _grouped(
    con: duckdb.DuckDBPyConnection, select: str, from_sql: str, by: str = "provider"
) -> dict[str, dict]:
    """Run `SELECT <group>, <select> <from_sql>` per group and in total (GROUPING SETS)."""
    return grouped_records(con, select, from_sql, by, TOTAL)


def groups(con: duckdb.DuckDBPyConnection, by: str = "provider") -> list[str]:
    """The groups of a trace: its providers (claude, codex first), or its models by steps
    (most first; a missing model is `metrics.sql.UNKNOWN_MODEL`)."""
    if by == "provider":
        return providers(con)
    key = group_key(by)
    return [
        g
        for (g,) in rows(con, f"SELECT {key} FROM step_facts GROUP BY 1 ORDER BY count(*) DESC, 1")
    ]


def _request_facts(con: duckdb.DuckDBPyConnection, by: str) -> dict[str, dict]:
    counts = _grouped(
        con,
        "avg(steps) AS steps_per_request, avg(tool_calls) AS tool_calls_per_request",
        "FROM request_facts",
        by,
    )
    times = _grouped(
        con,
        "avg(response_ms) AS request_time_avg_ms, "
        "quantile_cont(response_ms, 0.5) AS request_time_p50_ms, "
        "quantile_cont(response_ms, 0.9) AS request_time_p90_ms",
        TIMED_REQUESTS,
        by,
    )
    return {k: {**counts.get(k, {}), **times.get(k, {})} for k in counts}


def _step_facts(con: duckdb.DuckDBPyConnection, by: str) -> dict[str, dict]:
    return _grouped(
        con,
        "quantile_cont(prefix, 0.5) AS median_prefix_tokens, "
        "quantile_cont(append, 0.5) AS median_append_tokens, "
        "quantile_cont(output, 0.5) AS median_output_tokens, "
        "sum(cost_prefix) / nullif(sum(cost_total), 0) AS cost_share_prefix, "
        "sum(cost_append) / nullif(sum(cost_total), 0) AS cost_share_append, "
        "sum(cost_output) / nullif(sum(cost_total), 0) AS cost_share_output",
        "FROM step_facts",
        by,
    )


def _decode_facts(con: duckdb.DuckDBPyConnection, by: str) -> dict[str, dict]:
    prepare_generation(con)
    return _grouped(
        con,
        "quantile_cont(norm_speed, 0.5) AS decode_speed_p50, "
        f"{SPEED_CV_SQL} AS decode_speed_cv, "
        "quantile_cont(pure_speed, 0.5) AS pure_decode_speed_p50, "
        "quantile_cont(residual_ttft_ms, 0.5) AS residual_ttft_p50_ms",
        "FROM decode_steps",
        by,
    )


def summary_facts(
    con: duckdb.DuckDBPyConnection, by: str = "provider", *, reference: bool = False
) -> dict[str, Any]:
    """The headline facts per provider (`by="model"`: per model) and in total:
    {'trace', 'by', 'groups', 'headline': {group: …}, 'prices': the price source and the
    steps priced exactly / by fallback / unpriced, 'facts': {group: …}}; with `reference`,
    also 'reference_overview': the reference implementation's `overview_summary` figures under
    its own key names ({'merged' | provider: …}, `metrics.reference_overview`)."""
    group_key(by)  # an unknown grouping fails here, before any query
    prepare(con)
    names = [*groups(con, by), TOTAL]
    head = {r[by]: _jsonable(r) for r in headline(con, by=by)}
    per_group: dict[str, dict[str, Any]] = {g: {} for g in names}
    for part in (_request_facts(con, by), _step_facts(con, by), _decode_facts(con, by)):
        for group, values in part.items():
            per_group.setdefault(group, {}).update(values)
    tops = {r[by]: r for r in top_share_rows(con, 3, by=by)}
    for group in names:
        facts = per_group[group]
        value = None if group == TOTAL else group
        top = tops.get("all" if value is None else value, {})
        facts["top3_tool_share"] = top.get("top_share")
        facts["top3_tools"] = top.get("top_tools")
        long = long_call_shares(con, value, LONG_CALL_MS, by=by)
        facts["long_call_share"] = long["call_share"]
        facts["long_call_time_share"] = long["time_share"]
        facts["prefix_hit_rate"] = prefix_hit_rate(con, value, by=by)
        facts["prefix_hit_rate_user"] = prefix_hit_rate(con, value, by=by, kind="user")
        facts["prefix_hit_rate_tool"] = prefix_hit_rate(con, value, by=by, kind="tool")
        facts["prefill_amplification"] = prefill_amplification(con, value, by=by)
    out = {
        "trace": trace_meta(con),
        "by": by,
        "groups": names,
        "headline": {g: head.get(g, {}) for g in names},
        "prices": price_coverage(con),
        "facts": {
            g: {k: per_group[g].get(k) for k, _, _ in FACTS} | _names(per_group[g]) for g in names
        },
    }
    if reference:
        out["reference_overview"] = reference_overview(con)
    return out


def _names(facts: dict[str, Any]) -> dict[str, Any]:
    return {"top3_tools": facts.get("top3_tools")}


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
