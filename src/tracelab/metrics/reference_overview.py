"""The reference implementation's headline facts (`overview_summary --json`), in its own key names.

`reference_overview(con)` returns one block per provider and a `merged` block, each shaped like
the reference's output (scope, tokens.input / tokens.output, generation_timing, tools,
rounds_by_provider, rounds_by_model), so the two can be compared key by key. Every figure is
SQL over the fact tables of `metrics.steps`, reusing their one definition of each quantity:

- trigger: user-initiated = `step_facts.is_user`, tool-initiated = `is_tool` (first input event);
  prefix hit rate = `overview.HIT_RATE_SQL`; context growth = `step_facts.growth`
  (`C_i − C_{i−1}`, previous step of the session; null for a session's first step);
- observable generation time = `step_facts.gen_ms` (> 0 only); human wait = `human_waits`
  (> 0 only, `session.POSITIVE_WAITS`); effective tool latency = `tool_facts` (> 0 only).

What the reference defines differently from TraceLab's other tables gets its own name here:

- `REF_MICRO_MAX` / `REF_MAJOR_MIN`: the reference's reduction buckets are micro ≤ 1,024,
  ordinary in (1,024, 64,000), major ≥ 64,000 (decimal 64k), whereas Table 3 / Table 4
  (`metrics.session`) use 65,536. Both exist; neither replaces the other.
- Decode figures are ratios of sums (Σ tokens / Σ time), not medians of per-step speeds as in
  Fig. 6 (`metrics.generation`). The post-reasoning TPOT keeps steps with reasoning tokens > 0,
  visible tokens `V = max(0, O − R)` > 0 and a positive span from the last reasoning event to
  the last text / tool_call event (amendments §14.4, the paper macros: no 0.1 s floor); the
  residual TTFT = Σ (input → reasoning end) − Σ R × (Σ span / Σ V), over steps with R > 0 and
  a positive input → reasoning-end span (input = `step_facts.gen_start_ts`).

Conventions of the reference kept as they are: sums over no rows are 0 (totals, token sums),
averages / percentiles / ratios over no rows are null, and the reduction totals, the
post-reasoning decode time and everything derived from the per-token latency are null when
there is nothing to sum. Times are seconds; percentiles are linear (`quantile_cont`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from tracelab.metrics.overview import HIT_RATE_SQL
from tracelab.metrics.session import POSITIVE_WAITS
from tracelab.metrics.sql import UNKNOWN_MODEL, grouped_records, records
from tracelab.metrics.steps import ms_between, prepare

#: The block over every provider (the reference's name for it).
MERGED = "merged"
#: Largest reduction (tokens) of a reference *micro* reduction.
REF_MICRO_MAX = 1_024
#: Smallest reduction (tokens) of a reference *major* reduction (decimal 64k; see the docstring).
REF_MAJOR_MIN = 64_000
#: The two triggers, as (the reference's word in key names, the word of its context-delta keys,
#: the step_facts column).
TRIGGERS = (
    ("user_message", "user", "is_user"),
    ("tool_result", "tool_result", "is_tool"),
)

#: Per step: the fact columns these figures use plus what only they need — its user-message and
#: reasoning events, its first/last event time, visible tokens, the input → reasoning-end and
#: reasoning-end → last visible output spans, and the growth clipped at 0.
OVERVIEW_STEPS_SQL = f"""
CREATE OR REPLACE TEMP TABLE overview_steps AS
SELECT s.round_pk, s.provider, s.session_id, s."user", s.model, s.is_user, s.is_tool,
       s.prefix, s.append, s.context, s.output, s.reasoning, s.growth, s.gen_ms,
       s.tool_call_count,
       coalesce(e.user_messages, 0) AS user_messages,
       coalesce(e.reasoning_events, 0) AS reasoning_events,
       e.first_event_ts, e.last_event_ts,
       greatest(s.output - coalesce(s.reasoning, 0), 0) AS visible,
       {ms_between("s.gen_start_ts", "s.reasoning_ts")} AS input_to_reasoning_ms,
       {ms_between("s.reasoning_ts", "s.last_visible_ts")} AS post_reasoning_ms,
       CASE WHEN s.growth IS NOT NULL THEN greatest(s.growth, 0) END AS clipped_growth
FROM step_facts s
LEFT JOIN (
    SELECT round_pk,
           count(*) FILTER (WHERE event_type = 'user_message') AS user_messages,
           count(*) FILTER (WHERE event_type = 'reasoning') AS reasoning_events,
           min(timestamp) AS first_event_ts, max(timestamp) AS last_event_ts
    FROM timing_events GROUP BY round_pk
) e USING (round_pk)
"""


def _seconds(ms_sql: str) -> str:
    return f"({ms_sql}) / 1000.0"


SCOPE = """
count(DISTINCT session_id) AS total_sessions,
count(DISTINCT "user") AS distinct_users,
count(*) AS llm_rounds_total,
count(*) FILTER (WHERE user_messages > 0) AS rounds_with_visible_user_message,
count(*) FILTER (WHERE is_tool) AS rounds_started_from_tool_result,
min(first_event_ts) AS earliest_observed_timestamp,
max(last_event_ts) AS latest_observed_timestamp
"""

INPUT = f"""
coalesce(sum(context), 0) AS total_input_tokens,
coalesce(sum(append), 0) AS new_input_tokens,
coalesce(sum(prefix), 0) AS cached_read_input_tokens,
avg(context) AS average_total_input_tokens_per_round,
avg(append) AS average_new_input_tokens_per_round,
avg(prefix) AS average_cached_read_input_tokens_per_round,
coalesce(sum(growth) FILTER (WHERE growth > 0 AND (is_user OR is_tool)), 0)
    AS total_context_increase_tokens,
{HIT_RATE_SQL} AS prefix_hit_rate
"""

#: Per trigger (`{w}` its key word, `{d}` its context-delta word): the steps it started.
TRIGGER_INPUT = f"""
count(*) AS rounds_started_with_{{w}}_for_input_token_average,
avg(context) AS average_total_input_tokens_when_started_with_{{w}},
avg(append) AS average_new_input_tokens_when_started_with_{{w}},
coalesce(sum(append), 0) AS total_new_input_tokens_when_started_with_{{w}},
{HIT_RATE_SQL} AS prefix_hit_rate_when_started_with_{{w}},
count(clipped_growth) AS {{d}}_context_delta_rounds,
avg(clipped_growth) AS average_{{d}}_context_delta_tokens,
quantile_cont(clipped_growth, 0.5) AS median_{{d}}_context_delta_tokens,
quantile_cont(clipped_growth, 0.9) AS p90_{{d}}_context_delta_tokens
"""

#: Growth buckets of the steps of one trigger that have a previous step (growth not null).
GROWTH = f"""
count(*) AS rounds,
count(*) FILTER (WHERE growth > 0) AS positive_growth_rounds,
count(*) FILTER (WHERE growth = 0) AS zero_growth_rounds,
count(*) FILTER (WHERE growth < 0) AS negative_growth_rounds,
count(*) FILTER (WHERE growth < 0 AND -growth <= {REF_MICRO_MAX}) AS micro_reduction_rounds,
count(*) FILTER (WHERE -growth > {REF_MICRO_MAX} AND -growth < {REF_MAJOR_MIN})
    AS ordinary_reduction_rounds,
count(*) FILTER (WHERE -growth >= {REF_MAJOR_MIN}) AS major_reduction_rounds,
coalesce(sum(growth) FILTER (WHERE growth > 0), 0) AS total_context_increase_tokens,
coalesce(sum(growth), 0) AS total_raw_delta_tokens,
sum(-growth) FILTER (WHERE growth < 0) AS total_reduction_tokens,
avg(growth) AS average_raw_delta_tokens,
quantile_cont(growth, 0.5) AS median_raw_delta_tokens,
quantile_cont(growth, 0.1) AS p10_raw_delta_tokens,
quantile_cont(growth, 0.9) AS p90_raw_delta_tokens,
avg(growth) FILTER (WHERE growth > 0) AS average_positive_growth_tokens,
avg(clipped_growth) AS average_clipped_growth_tokens,
avg(-growth) FILTER (WHERE growth < 0) AS average_reduction_tokens,
max(-growth) FILTER (WHERE growth < 0) AS max_reduction_tokens
"""
#: The bucket counts of `GROWTH` whose share of `rounds` is reported, in the reference's order.
GROWTH_SHARES = (
    "positive_growth",
    "zero_growth",
    "negative_growth",
    "micro_reduction",
    "ordinary_reduction",
    "major_reduction",
)

OUTPUT = """
coalesce(sum(output), 0) AS total_output_tokens_including_reasoning,
coalesce(sum(visible), 0) AS visible_or_structured_output_tokens_estimate,
count(*) FILTER (WHERE reasoning_events > 0) AS rounds_with_observed_reasoning,
coalesce(sum(reasoning), 0) AS reasoning_output_tokens_subset,
count(*) FILTER (WHERE reasoning > 0) AS rounds_with_positive_reasoning_output_tokens,
avg(output) AS average_output_tokens_including_reasoning_per_round
"""

_GEN = "gen_ms > 0"
_TPOT = "reasoning > 0 AND visible > 0 AND post_reasoning_ms > 0"
_TTFT = "reasoning > 0 AND input_to_reasoning_ms > 0"
#: Seconds of post-reasoning decode per visible token (null without such steps).
_LATENCY = (
    f"sum(post_reasoning_ms) FILTER (WHERE {_TPOT}) / 1000.0"
    f" / nullif(sum(visible) FILTER (WHERE {_TPOT}), 0)"
)
_TTFT_TOTAL_S = f"coalesce(sum(input_to_reasoning_ms) FILTER (WHERE {_TTFT}), 0) / 1000.0"
_TTFT_REASONING = f"coalesce(sum(reasoning) FILTER (WHERE {_TTFT}), 0)"

GENERATION = f"""
coalesce({_seconds(f"sum(gen_ms) FILTER (WHERE {_GEN})")}, 0)
    AS total_observable_generation_time_seconds,
count(*) FILTER (WHERE {_GEN}) AS rounds_with_observable_generation_time,
{_seconds(f"quantile_cont(gen_ms, 0.5) FILTER (WHERE {_GEN})")}
    AS p50_observable_generation_time_seconds,
{_seconds(f"quantile_cont(gen_ms, 0.9) FILTER (WHERE {_GEN})")}
    AS p90_observable_generation_time_seconds,
sum(output) FILTER (WHERE {_GEN}) / nullif({_seconds(f"sum(gen_ms) FILTER (WHERE {_GEN})")}, 0)
    AS average_normalized_decoding_speed_tokens_per_second,
count(*) FILTER (WHERE {_GEN}) AS rounds_used_for_normalized_decoding_speed,
coalesce({_seconds("sum(input_to_reasoning_ms) FILTER (WHERE input_to_reasoning_ms > 0)")}, 0)
    AS total_input_to_reasoning_end_time_seconds,
count(*) FILTER (WHERE input_to_reasoning_ms > 0) AS rounds_with_input_to_reasoning_end_time,
count(*) FILTER (WHERE user_messages > 0) AS rounds_with_user_message,
count(*) FILTER (WHERE {_TPOT}) AS tpot_rounds,
coalesce(sum(visible) FILTER (WHERE {_TPOT}), 0) AS tpot_visible_tokens,
{_seconds(f"sum(post_reasoning_ms) FILTER (WHERE {_TPOT})")} AS tpot_decode_seconds,
{_LATENCY} AS tpot_latency,
count(*) FILTER (WHERE {_TTFT}) AS ttft_rounds,
{_TTFT_TOTAL_S} AS ttft_input_to_reasoning_end_seconds,
{_TTFT_REASONING} AS ttft_reasoning_tokens,
{_TTFT_TOTAL_S} - {_TTFT_REASONING} * {_LATENCY} AS ttft_estimated_total_seconds
"""

HUMAN_WAITS = f"""
count(*) AS rounds_with_waiting_for_human_input_time,
coalesce({_seconds("sum(wait_ms)")}, 0) AS total_waiting_for_human_input_seconds,
{_seconds("avg(wait_ms)")} AS average_waiting_for_human_input_seconds,
{_seconds("quantile_cont(wait_ms, 0.5)")} AS median_waiting_for_human_input_seconds,
{_seconds("quantile_cont(wait_ms, 0.9)")} AS p90_waiting_for_human_input_seconds
"""

TOOL_COUNTS = """
coalesce(sum(tool_call_count), 0) AS total_tool_calls,
count(*) FILTER (WHERE tool_call_count > 0) AS rounds_with_tool_calls
"""

#: Over every tool call (latency-less and non-positive ones are counted, not measured).
#: The legacy fallback counts positive latencies taken from neither latency field: TraceLab's
#: format has no third (`latency_ms`) field, so it is 0 by construction, but still counted.
TOOL_LATENCY = f"""
coalesce({_seconds("sum(effective_latency_ms) FILTER (WHERE effective_latency_ms > 0)")}, 0)
    AS total_seconds,
count(*) FILTER (WHERE effective_latency_ms > 0) AS tool_calls_with_latency,
count(*) FILTER (WHERE effective_latency_ms IS NULL) AS tool_calls_missing_latency,
count(*) FILTER (WHERE effective_latency_ms <= 0) AS tool_calls_nonpositive_latency,
{_seconds("quantile_cont(effective_latency_ms, 0.5) FILTER (WHERE effective_latency_ms > 0)")}
    AS p50_seconds,
{_seconds("quantile_cont(effective_latency_ms, 0.9) FILTER (WHERE effective_latency_ms > 0)")}
    AS p90_seconds,
count(*) FILTER (WHERE effective_latency_ms > 0 AND tool_internal_latency_ms IS NOT NULL)
    AS tool_calls_using_internal_latency,
count(*) FILTER (WHERE effective_latency_ms > 0 AND tool_internal_latency_ms IS NULL
                 AND tool_wall_latency_ms IS NOT NULL) AS tool_calls_using_wall_latency_fallback,
count(*) FILTER (WHERE effective_latency_ms > 0 AND tool_internal_latency_ms IS NULL
                 AND tool_wall_latency_ms IS NULL) AS tool_calls_using_legacy_latency_fallback
"""

DEFINITIONS = {
    "direct_new_input_token": (
        "Direct new input tokens are provider-reported `newly_append_tokens` (append). "
        "Trigger-conditioned average_new_input_tokens_* fields use this direct "
        "new-append/cache-miss accounting."
    ),
    "context_delta": (
        "For {trigger}-started rounds with a previous round in the same session: max(0, current "
        "total input tokens - previous total input tokens). This estimates prompt growth rather "
        "than provider cache-miss accounting."
    ),
    "total_input_growth": (
        "For rounds with a previous round in the same session: current total input tokens - "
        "previous total input tokens, before clipping. total input tokens are prefix_tokens + "
        "newly_append_tokens. First rounds in a session are excluded."
    ),
    "total_context_increase": (
        "Sum of positive same-session total-input deltas, before netting out zero or negative "
        "deltas, over user- and tool-result-started rounds that have a previous round in the "
        "same session."
    ),
    "generation_timing": (
        "Sum over rounds of the positive span from the latest input event before the first "
        "model-output event to the last model-output event; observable trace time, not "
        "serving-engine internal decode time."
    ),
    "input_to_reasoning_end": (
        "Latest input event (`user_message` or `tool_result`) before the first model-output "
        "event to the last reasoning event; positive spans only."
    ),
    "waiting_for_human_input": (
        "For each `user_message` event, the gap from the previous event of any type in the same "
        "session; every user message counts, not only turn-triggering ones. Summed and "
        "percentiled over strictly positive gaps."
    ),
    "post_reasoning_tpot": (
        "Rounds with reasoning_output_tokens > 0, visible tokens V = output - reasoning > 0 and "
        "a positive span from the last reasoning event to the last `text`/`tool_call` event: "
        "Σ span / Σ V seconds per token (speed = its inverse). Null without such rounds."
    ),
    "estimated_ttft": (
        "Rounds with reasoning_output_tokens > 0 and a positive input-to-reasoning-end span: "
        "Σ span - Σ reasoning tokens × the post-reasoning seconds per token."
    ),
    "tools": (
        "Tool-call totals count tools[] entries. Effective latency = tool_internal_latency_ms "
        "when present, else tool_wall_latency_ms; missing and non-positive latencies are counted "
        "separately and excluded from totals and percentiles. Parallel calls are additive."
    ),
}
REDUCTION_BUCKETS = {
    "micro_reduction": f"raw delta is negative and the reduction is <= {REF_MICRO_MAX} tokens",
    "ordinary_reduction": (
        f"raw delta is negative, the reduction is > {REF_MICRO_MAX} tokens, and the reduction "
        f"is < {REF_MAJOR_MIN} tokens"
    ),
    "major_reduction": f"raw delta is negative and the reduction is >= {REF_MAJOR_MIN} tokens",
}


def prepare_reference_overview(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `overview_steps` (after the base fact tables); idempotent per connection."""
    prepare(con)
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'overview_steps'"
    ).fetchone()[0]
    if not exists:
        con.execute(OVERVIEW_STEPS_SQL)


def iso_utc(value: datetime | None) -> str | None:
    """A timestamp the way the reference prints it: ISO 8601 in UTC with a `Z`, microseconds
    only when non-zero."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _per_group(
    con: duckdb.DuckDBPyConnection, select: str, from_sql: str
) -> dict[str, dict[str, Any]]:
    return grouped_records(con, select, from_sql, "provider", MERGED)


def _trigger_blocks(
    con: duckdb.DuckDBPyConnection, select: str, where: str = "TRUE"
) -> dict[tuple[str, str], dict[str, Any]]:
    """{(group, trigger column): record} of `select` over each trigger's steps (`where` too)."""
    out = {}
    for word, delta, column in TRIGGERS:
        sql = select.format(w=word, d=delta)
        for group, rec in _per_group(
            con, sql, f"FROM overview_steps WHERE {column} AND {where}"
        ).items():
            out[(group, column)] = rec
    return out


def _shares(block: dict[str, Any]) -> dict[str, Any]:
    rounds = block["rounds"]
    shares = {
        f"{name}_share": block[f"{name}_rounds"] / rounds if rounds else None
        for name in GROWTH_SHARES
    }
    ordered: dict[str, Any] = {}
    for key, value in block.items():
        ordered[key] = value
        if key == "major_reduction_rounds":
            ordered.update(shares)
    return ordered


def _rounds_by(
    con: duckdb.DuckDBPyConnection, column: str, by_name: bool = False
) -> dict[str, dict[str, int]]:
    """{group: {value of `column`: steps}} per provider and merged: most steps first (by name
    with `by_name`, as the reference orders providers)."""
    recs = records(
        con,
        f"""
        SELECT provider, coalesce({column}, '{UNKNOWN_MODEL}') AS value, count(*) AS n
        FROM step_facts GROUP BY ALL ORDER BY n DESC, value
        """,
    )
    out: dict[str, dict[str, int]] = {MERGED: {}}
    merged: dict[str, int] = {}
    for r in recs:
        out.setdefault(r["provider"], {})[r["value"]] = r["n"]
        merged[r["value"]] = merged.get(r["value"], 0) + r["n"]
    order = (lambda kv: kv[0]) if by_name else (lambda kv: (-kv[1], kv[0]))
    out[MERGED] = dict(sorted(merged.items(), key=order))
    return out


#: (name, SELECT list, FROM clause) of each per-group section query.
SECTIONS = (
    ("scope", SCOPE, "FROM overview_steps"),
    ("input", INPUT, "FROM overview_steps"),
    ("output", OUTPUT, "FROM overview_steps"),
    ("gen", GENERATION, "FROM overview_steps"),
    ("tools", TOOL_COUNTS, "FROM overview_steps"),
    ("waits", HUMAN_WAITS, POSITIVE_WAITS),
    ("latency", TOOL_LATENCY, "FROM tool_facts"),
)
#: (name, SELECT list, extra condition) of each per-group × trigger section query.
TRIGGER_SECTIONS = (
    ("input", TRIGGER_INPUT, "TRUE"),
    ("growth", GROWTH, "growth IS NOT NULL"),
)


def _section(
    con: duckdb.DuckDBPyConnection, select: str, source: str
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per group (and merged) records of `select` over `source`, and the record a group
    without rows gets (the same aggregates over no rows: counts 0, averages null)."""
    empty = records(con, f"SELECT {select} FROM (SELECT * {source}) WHERE FALSE")[0]
    return _per_group(con, select, source), empty


def reference_overview(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """{'merged': block, <provider>: block, …}: the reference `overview_summary --json` figures
    (see the module docstring for each definition); providers sorted by name."""
    prepare_reference_overview(con)
    sections = {name: _section(con, select, source) for name, select, source in SECTIONS}
    triggers = {
        (name, column): _section(
            con,
            select.format(w=word, d=delta),
            f"FROM overview_steps WHERE {column} AND {where}",
        )
        for name, select, where in TRIGGER_SECTIONS
        for word, delta, column in TRIGGERS
    }
    by_provider = _rounds_by(con, "provider", by_name=True)
    by_model = _rounds_by(con, "model")
    names = [MERGED, *sorted(g for g in sections["scope"][0] if g != MERGED)]

    def get(found: dict[str, dict[str, Any]], empty: dict[str, Any], group: str) -> dict:
        return dict(found.get(group) or empty)  # a copy: `_block` rearranges it

    out = {}
    for g in names:
        part = {name: get(*sections[name], g) for name in sections}
        for key in ("earliest_observed_timestamp", "latest_observed_timestamp"):
            part["scope"][key] = iso_utc(part["scope"][key])
        trig = {column: get(*triggers[("input", column)], g) for _, _, column in TRIGGERS}
        grow = {column: _shares(get(*triggers[("growth", column)], g)) for _, _, column in TRIGGERS}
        out[g] = _block(part, trig, grow, by_provider.get(g, {}), by_model.get(g, {}))
    return out


def _block(
    part: dict[str, dict[str, Any]],
    trig: dict[str, dict[str, Any]],
    grow: dict[str, dict[str, Any]],
    by_provider: dict[str, int],
    by_model: dict[str, int],
) -> dict[str, Any]:
    """One block in the reference's layout and key order."""
    inp = dict(part["input"])
    prefix_hit_rate = inp.pop("prefix_hit_rate")
    total_increase = inp.pop("total_context_increase_tokens")
    user, tool = trig["is_user"], trig["is_tool"]
    user_ctx = {k: user.pop(k) for k in list(user) if "context_delta" in k}
    tool_ctx = {k: tool.pop(k) for k in list(tool) if "context_delta" in k}
    input_block = {
        "direct_new_input_token_definition": DEFINITIONS["direct_new_input_token"],
        **inp,
        **user,
        "user_context_delta_definition": DEFINITIONS["context_delta"].format(
            trigger="user-message"
        ),
        **user_ctx,
        **tool,
        "tool_result_context_delta_definition": DEFINITIONS["context_delta"].format(
            trigger="tool-result"
        ),
        **tool_ctx,
        "total_input_growth_definition": DEFINITIONS["total_input_growth"],
        "total_context_increase_definition": DEFINITIONS["total_context_increase"],
        "total_context_increase_tokens": total_increase,
        "total_input_growth_reduction_buckets": dict(REDUCTION_BUCKETS),
        "total_input_growth_when_started_with_user_message": grow["is_user"],
        "total_input_growth_when_started_with_tool_result": grow["is_tool"],
        "prefix_hit_rate": prefix_hit_rate,
    }
    gen = part["gen"]
    latency = gen["tpot_latency"]
    speed = 1.0 / latency if latency else None
    ttft_total = gen["ttft_estimated_total_seconds"]
    timing = {
        "definition": DEFINITIONS["generation_timing"],
        **{
            k: gen[k]
            for k in (
                "total_observable_generation_time_seconds",
                "rounds_with_observable_generation_time",
                "p50_observable_generation_time_seconds",
                "p90_observable_generation_time_seconds",
                "average_normalized_decoding_speed_tokens_per_second",
                "rounds_used_for_normalized_decoding_speed",
            )
        },
        "input_to_reasoning_end_definition": DEFINITIONS["input_to_reasoning_end"],
        "total_input_to_reasoning_end_time_seconds": gen[
            "total_input_to_reasoning_end_time_seconds"
        ],
        "rounds_with_input_to_reasoning_end_time": gen["rounds_with_input_to_reasoning_end_time"],
        "waiting_for_human_input_definition": DEFINITIONS["waiting_for_human_input"],
        "rounds_with_user_message": gen["rounds_with_user_message"],
        **part["waits"],
        "post_reasoning_tpot_estimate": {
            "definition": DEFINITIONS["post_reasoning_tpot"],
            "rounds": gen["tpot_rounds"],
            "visible_or_structured_output_tokens": gen["tpot_visible_tokens"],
            "post_reasoning_output_decode_time_seconds": gen["tpot_decode_seconds"],
            "average_decode_speed_tokens_per_second": speed,
            "average_decode_latency_seconds_per_token": latency,
        },
        "estimated_ttft_from_exact_reasoning_tokens": {
            "definition": DEFINITIONS["estimated_ttft"],
            "rounds": gen["ttft_rounds"],
            "input_to_reasoning_end_total_seconds": gen["ttft_input_to_reasoning_end_seconds"],
            "reasoning_tokens": gen["ttft_reasoning_tokens"],
            "decode_latency_seconds_per_token_used": latency,
            "decode_speed_tokens_per_second_used": speed,
            "rounds_used_to_estimate_decode_latency": gen["tpot_rounds"],
            "estimated_total_seconds": ttft_total,
            "estimated_average_seconds": (
                ttft_total / gen["ttft_rounds"]
                if ttft_total is not None and gen["ttft_rounds"]
                else None
            ),
        },
    }
    tools = part["tools"]
    user_rounds = part["scope"]["rounds_with_visible_user_message"]
    return {
        "scope": part["scope"],
        "tokens": {"input": input_block, "output": dict(part["output"])},
        "generation_timing": timing,
        "tools": {
            "definition": DEFINITIONS["tools"],
            **tools,
            "tool_calls_per_visible_user_message_round": (
                tools["total_tool_calls"] / user_rounds if user_rounds else None
            ),
            "effective_latency": dict(part["latency"]),
        },
        "rounds_by_provider": by_provider,
        "rounds_by_model": by_model,
    }
