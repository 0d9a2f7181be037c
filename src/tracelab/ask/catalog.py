"""The `metric` tool: a catalog of the project's metrics, each run by the metric layer's own SQL.

A metric here is a name, a definition, a unit and an aggregate taken from `metrics/` (the
error rate is `metrics.tools.ERROR_RATE_SQL`, the hit rate `metrics.overview.HIT_RATE_SQL`,
…) over one of the fact tables `metrics.steps.prepare` builds, so "tool error rate" means
exactly what Table 7 and Fig. 7 mean. The catalog adds only what a question needs around it:
groupings (provider, model, project, day, tool, …) and filters (date range, provider, model,
project, tool), always as bound parameters. `build_query` turns a call into one SELECT that
the sandbox runs like any other query, so the evidence shows the real SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from tracelab.metrics import cache, overview, tools
from tracelab.metrics.sql import UNKNOWN_MODEL

#: The relation each metric family aggregates over: a fact table with the step's project and
#: start time beside it (one row per step / tool call / request).
RELATIONS = {
    "steps": "(SELECT s.*, r.project FROM step_facts s JOIN rounds r USING (round_pk))",
    "tool_calls": (
        "(SELECT t.*, r.project, r.started_at FROM tool_facts t JOIN rounds r USING (round_pk))"
    ),
    "requests": "(SELECT q.*, q.trigger_ts AS started_at FROM request_facts q)",
}

_GAP_BANDS = "['< 5 min', '5 min – 1 h', '≥ 1 h']"

#: grouping name → (SQL over the relation, relations it applies to, what it means).
GROUPINGS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "provider": ("provider", ("steps", "tool_calls", "requests"), "claude or codex"),
    "model": (
        f"coalesce(model, '{UNKNOWN_MODEL}')",
        ("steps", "tool_calls", "requests"),
        "the model of the step (of a request: its first step)",
    ),
    "project": ("project", ("steps", "tool_calls"), "the project (pseudonymous when sanitized)"),
    "day": ("started_at::DATE", ("steps", "tool_calls", "requests"), "UTC day the step started"),
    "week": (
        "date_trunc('week', started_at)::DATE",
        ("steps", "tool_calls", "requests"),
        "UTC ISO week (its Monday)",
    ),
    "hour_of_day": ("hour(started_at)", ("steps", "tool_calls"), "UTC hour 0–23"),
    "session": ("session_id", ("steps", "tool_calls", "requests"), "the session"),
    "tool": (tools.TOOL, ("tool_calls",), "the tool name"),
    "tool_category": (tools.category_sql(), ("tool_calls",), "shell/exec, file read, search, …"),
    "step_kind": (cache.STEP_KIND_SQL, ("steps",), "user-initiated or tool-initiated step"),
    "idle_gap": (
        f"CASE WHEN idle_gap_ms IS NOT NULL THEN {_GAP_BANDS}[{cache.gap_band_sql()} + 1] END",
        ("steps",),
        "idle gap before the step: < 5 min, 5 min – 1 h, ≥ 1 h (a coffee break and longer)",
    ),
    "subagent": ("is_subagent", ("steps",), "whether the step is a subagent's"),
}

#: filter name → (SQL with one `?`, relations it applies to, JSON type, what it means).
FILTERS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "since": (
        "started_at >= ?::DATE",
        ("steps", "tool_calls", "requests"),
        "string",
        "first UTC day included, YYYY-MM-DD",
    ),
    "until": (
        "started_at < ?::DATE + INTERVAL 1 DAY",
        ("steps", "tool_calls", "requests"),
        "string",
        "last UTC day included, YYYY-MM-DD",
    ),
    "provider": ("provider = ?", ("steps", "tool_calls", "requests"), "string", "claude or codex"),
    "model": (
        "model ILIKE '%' || ? || '%'",
        ("steps", "tool_calls", "requests"),
        "string",
        "models whose name contains this text (case-insensitive), e.g. opus",
    ),
    "project": ("project = ?", ("steps", "tool_calls"), "string", "exact project name"),
    "tool": (f"{tools.TOOL} = ?", ("tool_calls",), "string", "exact tool name, e.g. Bash"),
}


@dataclass(frozen=True)
class Metric:
    """One catalog entry: its aggregate SQL comes from the metric layer."""

    name: str
    relation: str
    sql: str
    unit: str
    definition: str
    #: Extra columns shown beside the value (e.g. how many steps a cost leaves unpriced).
    extras: tuple[tuple[str, str], ...] = ()


_UNPRICED = (("unpriced_steps", "count(*) FILTER (WHERE NOT priced)"),)
_POSITIVE_GEN = "CASE WHEN gen_ms > 0 THEN gen_ms END"
_POSITIVE_WAIT = "CASE WHEN human_wait_ms > 0 THEN human_wait_ms END"
_POSITIVE_RESPONSE = "CASE WHEN response_ms > 0 THEN response_ms END"

METRICS: tuple[Metric, ...] = (
    Metric("steps", "steps", "count(*)", "steps", "steps (one model call each)"),
    Metric("sessions", "steps", "count(DISTINCT session_id)", "sessions", "distinct sessions"),
    Metric(
        "input_tokens", "steps", "sum(context)", "tokens",
        "input tokens: cached prefix + newly appended, summed over steps",
    ),
    Metric("output_tokens", "steps", "sum(output)", "tokens", "output tokens summed over steps"),
    Metric(
        "cached_input_tokens", "steps", "sum(prefix)", "tokens",
        "input tokens read from the prompt cache (prefix)",
    ),
    Metric(
        "reasoning_tokens", "steps", "sum(reasoning)", "tokens",
        "reasoning output tokens (where the log records them)",
    ),
    Metric(
        "cost_usd", "steps", "sum(cost_total)", "USD",
        "cost of the priced steps (input, cache writes, cache reads, output); unpriced steps "
        "are counted in unpriced_steps, never priced at zero",
        _UNPRICED,
    ),
    Metric(
        "cache_savings_usd", "steps",
        f"sum({overview.STEP_SAVINGS_SQL}) FILTER (WHERE priced)", "USD",
        "what the prompt cache saved on priced steps: cached tokens × (input − cache-read price)",
        _UNPRICED,
    ),
    Metric(
        "prefix_hit_rate", "steps", overview.HIT_RATE_SQL, "ratio 0–1",
        "token-weighted prompt-cache hit rate: Σ prefix / Σ (prefix + append) (Table 1)",
    ),
    Metric(
        "cache_miss_step_share", "steps", cache.LOW_HIT_SHARE_SQL, "ratio 0–1",
        "share of steps whose own hit ratio is below 50% (the cache mostly missed; Fig. 11)",
    ),
    Metric(
        "context_tokens_p50", "steps", "quantile_cont(context, 0.5)", "tokens",
        "median context size of a step (prefix + append)",
    ),
    Metric(
        "generation_ms_p50", "steps", f"quantile_cont({_POSITIVE_GEN}, 0.5)", "ms",
        "median observable generation time of a step (positive values only)",
    ),
    Metric(
        "human_wait_ms_p50", "steps", f"quantile_cont({_POSITIVE_WAIT}, 0.5)", "ms",
        "median time the agent waited for the human before a user message",
    ),
    Metric(
        "tool_calls_per_step", "steps", "avg(tool_call_count)", "calls",
        "average tool calls a step emits",
    ),
    Metric("tool_calls", "tool_calls", "count(*)", "calls", "tool calls"),
    Metric(
        "tool_errors", "tool_calls", tools.ERRORS_SQL, "calls", "tool calls that failed (is_error)"
    ),
    Metric(
        "tool_error_rate", "tool_calls", tools.CALL_ERROR_RATE_SQL, "ratio 0–1",
        "failed calls / all calls (Table 7, Fig. 7)",
        (("errors", tools.ERRORS_SQL), ("calls", "count(*)")),
    ),
    Metric(
        "tool_latency_ms_p50", "tool_calls",
        f"quantile_cont({tools.POSITIVE_LATENCY}, 0.5)", "ms",
        "median effective tool latency (internal if reported, else wall; positive only)",
    ),
    Metric(
        "tool_latency_ms_p90", "tool_calls",
        f"quantile_cont({tools.POSITIVE_LATENCY}, 0.9)", "ms", "90th percentile tool latency",
    ),
    Metric(
        "tool_time_ms", "tool_calls", f"sum({tools.POSITIVE_LATENCY})", "ms",
        "total effective tool time",
    ),
    Metric(
        "long_tool_calls", "tool_calls",
        f"count(*) FILTER (WHERE {tools.LATENCY} >= {tools.LONG_CALL_MS})", "calls",
        "tool calls of at least 1 minute",
    ),
    Metric(
        "requests", "requests", "count(*) FILTER (WHERE request_no > 0)", "requests",
        "user requests: a user message and the steps it starts",
    ),
    Metric(
        "response_ms_p50", "requests", f"quantile_cont({_POSITIVE_RESPONSE}, 0.5)", "ms",
        "median request response time: user message → last model output of the request",
    ),
    Metric(
        "steps_per_request", "requests", "avg(steps) FILTER (WHERE request_no > 0)", "steps",
        "average steps of a user request",
    ),
)  # fmt: skip

BY_NAME = {m.name: m for m in METRICS}
MAX_GROUPS = 2
#: Groupings listed in their own order unless the call asks for an order by value.
TIME_GROUPINGS = ("day", "week", "hour_of_day", "idle_gap")
DEFAULT_LIMIT = 50


class CatalogError(ValueError):
    """A metric call the catalog cannot run: the message is the tool error the model sees."""


@dataclass
class MetricQuery:
    sql: str
    params: list[Any]
    metric: Metric


def _check_date(name: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise CatalogError(f"filter {name}: expected a date YYYY-MM-DD, got {value!r}") from None


def build_query(
    metric: str,
    group_by: list[str] | str | None = None,
    filters: dict[str, Any] | None = None,
    order: str | None = None,
    limit: int | None = None,
) -> MetricQuery:
    """The SELECT (with bound parameters) computing `metric` per group, filtered.

    `order`: value_desc, value_asc or group; by default time groupings are in time order and
    the others by value, largest first."""
    m = BY_NAME.get(str(metric))
    if m is None:
        raise CatalogError(f"unknown metric {metric!r}; known: {', '.join(BY_NAME)}")
    groups = [group_by] if isinstance(group_by, str) else list(group_by or [])
    groups = [g for g in groups if g]
    if len(groups) > MAX_GROUPS:
        raise CatalogError(f"at most {MAX_GROUPS} groupings, got {len(groups)}")
    select: list[str] = []
    for g in groups:
        spec = GROUPINGS.get(g)
        if spec is None:
            raise CatalogError(f"unknown grouping {g!r}; known: {', '.join(GROUPINGS)}")
        if m.relation not in spec[1]:
            allowed = [k for k, v in GROUPINGS.items() if m.relation in v[1]]
            raise CatalogError(
                f"metric {m.name} cannot be grouped by {g}; it can by: {', '.join(allowed)}"
            )
        select.append(f"{spec[0]} AS {g}")
    where: list[str] = []
    params: list[Any] = []
    for name, value in (filters or {}).items():
        if value is None or value == "":
            continue
        spec_f = FILTERS.get(name)
        if spec_f is None:
            raise CatalogError(f"unknown filter {name!r}; known: {', '.join(FILTERS)}")
        if m.relation not in spec_f[1]:
            raise CatalogError(f"metric {m.name} cannot be filtered by {name}")
        if name in ("since", "until"):
            value = _check_date(name, value)
        where.append(spec_f[0])
        params.append(str(value))
    select.append(f"{m.sql} AS {m.name}")
    select.extend(f"{sql} AS {col}" for col, sql in m.extras)
    sql = f"SELECT {', '.join(select)}\nFROM {RELATIONS[m.relation]}"
    if where:
        sql += "\nWHERE " + " AND ".join(where)
    if groups:
        sql += "\nGROUP BY ALL"
        if order is None:
            order = "group" if groups[0] in TIME_GROUPINGS else "value_desc"
        if order == "group" and groups[0] == "idle_gap":
            sql += "\nORDER BY min(idle_gap_ms) NULLS LAST"
        elif order == "group":
            sql += "\nORDER BY " + ", ".join(str(i + 1) for i in range(len(groups)))
        else:
            direction = "ASC" if order == "value_asc" else "DESC"
            tiebreak = ", ".join(str(i + 1) for i in range(len(groups)))
            sql += f"\nORDER BY {m.name} {direction} NULLS LAST, {tiebreak}"
        n = DEFAULT_LIMIT if limit is None else max(1, min(int(limit), 500))
        sql += f"\nLIMIT {n}"
    return MetricQuery(sql, params, m)


def describe() -> str:
    """The catalog as text for the tool's description (names, units, definitions)."""
    lines = ["Metrics (name [unit; table]: definition):"]
    lines += [f"- {m.name} [{m.unit}; {m.relation}]: {m.definition}" for m in METRICS]
    lines.append("Groupings (name: meaning; tables):")
    lines += [f"- {g}: {v[2]}; {', '.join(v[1])}" for g, v in GROUPINGS.items()]
    lines.append("Filters (name: meaning):")
    lines += [f"- {f}: {v[3]}" for f, v in FILTERS.items()]
    return "\n".join(lines)


def json_schema() -> dict[str, Any]:
    """The JSON schema of the metric tool's arguments (also the local model's grammar)."""
    return {
        "type": "object",
        "properties": {
            "metric": {"type": "string", "enum": list(BY_NAME)},
            "group_by": {
                "type": "array",
                "items": {"type": "string", "enum": list(GROUPINGS)},
                "maxItems": MAX_GROUPS,
            },
            "filters": {
                "type": "object",
                "properties": {f: {"type": v[2], "description": v[3]} for f, v in FILTERS.items()},
                "additionalProperties": False,
            },
            "order": {"type": "string", "enum": ["value_desc", "value_asc", "group"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        },
        "required": ["metric"],
        "additionalProperties": False,
    }
