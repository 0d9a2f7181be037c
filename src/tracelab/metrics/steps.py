"""The per-step, per-tool and per-request facts every analysis starts from — defined once, in SQL.

`prepare(con)` materializes TEMP tables on a (read-only) trace-database connection; every
experiment, the summary, the report and the exports query them instead of re-deriving anything.
`step_facts` comes with the tables it is made of (`step_events`, `result_calls`,
`human_waits`); `tool_facts` and `request_facts` are built when a caller names them
(`prepare(con, tables=…)`; by default every table), so a command or page that reads only the
step facts does not pay for them, and `step_costs` (the steps' tokens and costs from `rounds`
and the prices alone, no event: the Dashboard's cost charts) only when named. They follow the
metric definitions of the spec (`analyses.md`) literally:

`step_facts` — one row per step (`round_pk`):
  seq            1-based position in its session: ORDER BY round_index, then ingestion order
  is_user        first input event is a user_message (user-initiated step); `is_tool`: tool_result
  prefix, append, output, reasoning   token counts (null counts → 0; reasoning stays null)
  context        C_i = prefix + append;  prev_context, prev_output, prev_prefix, prev_append:
                 the previous step of the session (null for the session's first step);
                 prev_pk: its round_pk (Table 12's file-order check in `metrics.cache`)
  growth         C_i − C_{i−1}
  fresh          max(0, C_i − C_{i−1}) − O_{i−1}, clipped to [0, append]; null when session-first
                 (per step: the exports' and Fig. 11's; Table 12 sums it unclipped over the
                 file-order predecessor, see `metrics.cache`)
  request_no     the request the step belongs to (amendments §14.2): a step *opens* a request
                 iff it has a user_message timestamped ≤ its earliest model-output event
                 (whatever its `first_input_event_type`); the open request runs until the next
                 opening step of the session. request_no = number of opening steps up to and
                 including this one; 0 = before the session's first opener (no request)
  request_start_ts  on an opening step: its latest user_message timestamped ≤ its earliest
                 model-output event (the request's start); null on other steps
  gen_start_ts   latest user_message/tool_result event before the first model-output event
  last_out_ts    last model-output event (reasoning, text, tool_call)
  gen_ms         observable generation time last_out_ts − gen_start_ts (ms; null when either
                 is missing; may be ≤ 0 on clock skew — distributions keep only > 0)
  reasoning_ts, last_visible_ts   latest reasoning event; latest text/tool_call event (by
                 timestamp; Codex decode, amendments §14.4)
  max_out_ts     the latest model-output event timestamp
  first_ts, first_event_type   the step's earliest event timestamp; the type of its first event
  input_total    input_tokens_total, else prefix + append (Fig. 3 and Fig. 6 context)
  first_user_ts  the step's first user_message event
  human_wait_ms  wait before the step's first user_message (see `human_waits`)
  tool_wait_ms   longest effective latency among the tools whose results this step carries
  idle_gap_ms    the idle gap before the step: human_wait_ms for user-initiated steps,
                 tool_wait_ms for tool-initiated ones (null when not observable)
  priced, price_match ('exact' / 'fallback' / null), price_group, the step's rates p_*,
                 cache_write (W), cache_write_5m, cache_write_1h, cost_input, cost_write_5m,
                 cost_write_1h, cost_append, cost_prefix, cost_output, cost_total: USD, the
                 one cost definition of `metrics.costs`; costs are null for an unpriced step

`tool_facts` — `tool_calls` plus `effective_latency_ms` = internal latency if not null, else
  wall latency (only strictly positive values enter latency distributions), and the emitting
  step's `seq` / `is_user`.

`human_waits` — one row per user_message event: `wait_ms` = its timestamp minus the previous
  event's of any type in the same session (events ordered by step seq, then event position).
  Human-wait distributions keep only strictly positive waits.

`request_facts` — one row per request (session_id, request_no ≥ 1; steps of request 0 belong to
  no request): step counts, tool calls, cost, `trigger_ts` = the opening step's
  `request_start_ts`, `last_out_ts` = the latest model-output event over the request's steps, and
  `response_ms` = trigger_ts → last_out_ts, null when there is no model output or it is ≤ 0
  (amendments §14.2: such requests are dropped from response-time statistics); `model`: the
  model of the request's first step (what per-model metrics group a request by).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from tracelab.metrics.costs import (
    BAND_JOIN,
    HIDDEN_COLUMNS,
    STEP_COST_SELECT,
    prepare_costs,
    step_write_columns,
)
from tracelab.pricing import PriceSource, default_source

OUTPUT_EVENTS = "('reasoning', 'text', 'tool_call')"
INPUT_EVENTS = "('user_message', 'tool_result')"

#: ms between two TIMESTAMPTZ values (double, exact to the microsecond).
_MS = "((epoch_us({b}) - epoch_us({a})) / 1000.0)"


def ms_between(a: str, b: str) -> str:
    """SQL for the milliseconds from timestamp expression `a` to `b`."""
    return _MS.format(a=a, b=b)


#: One pass over the events, no join: per step with events, the position of its first
#: model-output event and of its last event, the last output event, the earliest and latest
#: output timestamps, the latest reasoning / visible-output timestamps, the first user message,
#: the first event's type, the earliest and latest timestamps, the position of the first event
#: that is no tool_result (`lead_end`: the step's leading tool results come before it), the
#: last event's timestamp (null if none), and what the generation and request starts need: the
#: position and timestamp of the last input event and the latest user message.
STEP_EVENTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE step_events AS
SELECT round_pk,
       min(event_pos) FILTER (WHERE event_type IN {OUTPUT_EVENTS}) AS first_out_pos,
       max(event_pos) AS last_pos,
       arg_max(timestamp, event_pos) FILTER (WHERE event_type IN {OUTPUT_EVENTS}) AS last_out_ts,
       min(timestamp) FILTER (WHERE event_type IN {OUTPUT_EVENTS}) AS first_out_ts,
       max(timestamp) FILTER (WHERE event_type IN {OUTPUT_EVENTS}) AS max_out_ts,
       max(timestamp) FILTER (WHERE event_type = 'reasoning') AS reasoning_ts,
       max(timestamp) FILTER (WHERE event_type IN ('text', 'tool_call')) AS last_visible_ts,
       arg_min(timestamp, event_pos) FILTER (WHERE event_type = 'user_message') AS first_user_ts,
       arg_min(event_type, event_pos) AS first_event_type,
       min(timestamp) AS first_ts, max(timestamp) AS max_ts,
       min(event_pos) FILTER (WHERE event_type <> 'tool_result') AS lead_end,
       arg_max_null(timestamp, event_pos) AS last_ts,
       max(event_pos) FILTER (WHERE event_type IN {INPUT_EVENTS}) AS in_last_pos,
       arg_max(timestamp, event_pos) FILTER (WHERE event_type IN {INPUT_EVENTS}) AS in_last_ts,
       max(timestamp) FILTER (WHERE event_type = 'user_message') AS user_max_ts
FROM timing_events GROUP BY round_pk
"""

#: A step's generation start: the latest input event (by position) before its first output
#: event. Its request start (amendments §14.2): the latest user_message timestamped ≤ its
#: earliest model-output event (null: the step opens no request). Both null without output.
#: When every input event precedes the first output (and every user message its time), they
#: are the step's last input event and latest user message (`step_events`, no second pass);
#: the other steps (rare: input after output) are computed from their events in
#: `step_gen_fix`. Over `step_events ev LEFT JOIN step_gen_fix gx`.
GEN_START_TS = """CASE WHEN ev.first_out_pos IS NULL THEN NULL
     WHEN ev.in_last_pos < ev.first_out_pos THEN ev.in_last_ts ELSE gx.gen_start_ts END"""
REQUEST_START_TS = """CASE
     WHEN ev.first_out_pos IS NULL OR ev.first_out_ts IS NULL OR ev.user_max_ts IS NULL THEN NULL
     WHEN ev.user_max_ts <= ev.first_out_ts THEN ev.user_max_ts ELSE gx.request_start_ts END"""

#: Both starts by their definitions, for the steps whose shortcut above does not hold.
GEN_FIX_SQL = f"""
CREATE OR REPLACE TEMP TABLE step_gen_fix AS
SELECT e.round_pk,
       arg_max(e.timestamp, e.event_pos) FILTER (WHERE e.event_pos < s.first_out_pos)
           AS gen_start_ts,
       max(e.timestamp) FILTER (
           WHERE e.event_type = 'user_message' AND e.timestamp <= s.first_out_ts
       ) AS request_start_ts
FROM timing_events e JOIN (
    SELECT round_pk, first_out_pos, first_out_ts FROM step_events
    WHERE first_out_pos IS NOT NULL
      AND (in_last_pos >= first_out_pos OR user_max_ts > first_out_ts)
) s USING (round_pk)
WHERE e.event_type IN {INPUT_EVENTS}
GROUP BY e.round_pk
"""

#: Each step's place in its session and what it needs of the steps before: one window (one
#: sort) over a few narrow columns, so neither `step_facts` nor `human_waits` needs one.
#: `prev_event_ts` is the timestamp of the session's last event before the step (the last
#: event of the nearest earlier step that has events; steps without events are skipped).
STEP_ORDER_SQL = f"""
CREATE OR REPLACE TEMP TABLE step_order AS
SELECT round_pk, session_id, row_number() OVER w AS seq, is_user,
       lag(prefix + append) OVER w AS prev_context,
       lag(output) OVER w AS prev_output,
       lag(prefix) OVER w AS prev_prefix,
       lag(append) OVER w AS prev_append,
       lag(round_pk) OVER w AS prev_pk,
       sum(opens::INTEGER) OVER (w ROWS UNBOUNDED PRECEDING)::BIGINT AS request_no,
       (lag(last_event IGNORE NULLS) OVER w).ts AS prev_event_ts
FROM (
    SELECT r.round_pk, r.session_id, r.round_index,
           coalesce(r.first_input_event_type = 'user_message', false) AS is_user,
           coalesce(r.prefix_tokens, 0) AS prefix,
           coalesce(r.newly_append_tokens, 0) AS append,
           coalesce(r.output_tokens, 0) AS output,
           CASE WHEN ev.round_pk IS NOT NULL THEN {{'ts': ev.last_ts}} END AS last_event,
           ({REQUEST_START_TS}) IS NOT NULL AS opens
    FROM rounds r LEFT JOIN step_events ev USING (round_pk)
    LEFT JOIN step_gen_fix gx USING (round_pk)
)
WINDOW w AS (PARTITION BY session_id ORDER BY round_index, round_pk)
"""

#: A call's effective latency: its internal latency if reported, else its wall latency.
EFFECTIVE_LATENCY = "coalesce({t}.tool_internal_latency_ms, {t}.tool_wall_latency_ms)"

#: The tool calls with their effective latency, from `tool_calls` alone: `tool_facts` without
#: the emitting step's `seq` / `is_user`, as a relation for FROM that needs nothing prepared.
TOOL_LATENCIES_FROM = f"""(
    SELECT t.*, {EFFECTIVE_LATENCY.format(t="t")} AS effective_latency_ms FROM tool_calls t
)"""

TOOL_FACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE tool_facts AS
SELECT t.*, o.seq, o.is_user
FROM {TOOL_LATENCIES_FROM} t
JOIN step_order o USING (round_pk)
"""

#: Every tool_result event with the calls it answers (matched by session and tool_call_id; a call
#: id seen twice matches both): the call's step, effective latency and wall duration from its
#: timestamps (`result_at − emitted_at`, null when negative or unknown). One string join, shared
#: by the tool wait below and the eviction sweep's gaps (`metrics.cache`).
RESULT_CALLS_SQL = f"""
CREATE OR REPLACE TEMP TABLE result_calls AS
SELECT e.round_pk, e.event_pos, t.round_pk AS call_round_pk,
       {EFFECTIVE_LATENCY.format(t="t")} AS effective_latency_ms,
       CASE WHEN t.result_at >= t.emitted_at THEN {ms_between("t.emitted_at", "t.result_at")}
       END AS wall_ms
FROM timing_events e
JOIN tool_calls t ON e.session_id = t.session_id AND e.tool_call_id = t.tool_call_id
WHERE e.event_type = 'tool_result'
"""

#: The tool wait of a step: the longest effective latency among the tools whose results it
#: carries.
TOOL_WAIT_SQL = """
CREATE OR REPLACE TEMP TABLE step_tool_wait AS
SELECT round_pk, max(effective_latency_ms) AS tool_wait_ms FROM result_calls GROUP BY round_pk
"""

#: A user message's wait: its timestamp minus the previous event's in session order — the event
#: before it in its step (event positions are 0, 1, … within a step), or for a step's first
#: event the session's last event before the step (`step_order.prev_event_ts`).
HUMAN_WAITS_SQL = f"""
CREATE OR REPLACE TEMP TABLE human_waits AS
SELECT u.round_pk, u.event_pos, u.session_id, u.provider, o.seq,
       {
    ms_between("CASE WHEN u.event_pos = 0 THEN o.prev_event_ts ELSE p.timestamp END", "u.timestamp")
} AS wait_ms
FROM timing_events u
JOIN step_order o ON u.round_pk = o.round_pk
LEFT JOIN timing_events p
    ON u.event_pos > 0 AND p.round_pk = u.round_pk AND p.event_pos = u.event_pos - 1
WHERE u.event_type = 'user_message'
"""

#: A step's observable generation time (ms) over `step_events ev LEFT JOIN step_gen_fix gx`.
GEN_MS = ms_between(GEN_START_TS, "ev.last_out_ts")

#: Every step's tokens and cost, from `rounds` and the price bands alone (no event, no order):
#: what the Dashboard's cost and token charts read without waiting for the event-derived facts.
#: The same cost SQL as `step_facts` (`costs.STEP_COST_SELECT`), so the same values; its rows
#: are in no particular order. `{write_columns}`: `costs.step_write_columns`.
STEP_COSTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE step_costs AS
WITH s AS (
    SELECT r.round_pk, r.provider, r.session_id, r.model, r.started_at, r.ended_at,
           coalesce(r.prefix_tokens, 0) AS prefix,
           coalesce(r.newly_append_tokens, 0) AS append,
           coalesce(r.output_tokens, 0) AS output,
           r.tool_call_count, {{write_columns}}
    FROM rounds r
)
SELECT s.* EXCLUDE ({", ".join(HIDDEN_COLUMNS)}), s.prefix + s.append AS context,
       pr.price_match IS NOT NULL AS priced,
       {STEP_COST_SELECT.format(s="s")}
FROM s
{BAND_JOIN.format(s="s")}
"""

STEP_FACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE step_facts AS
WITH base AS (
    SELECT r.round_pk, r.provider, r.session_id, r."user", r.model, r.round_index,
           coalesce(r.is_subagent, false) AS is_subagent, r.first_input_event_type,
           o.is_user, coalesce(r.first_input_event_type = 'tool_result', false) AS is_tool,
           coalesce(r.prefix_tokens, 0) AS prefix,
           coalesce(r.newly_append_tokens, 0) AS append,
           coalesce(r.output_tokens, 0) AS output,
           r.reasoning_output_tokens AS reasoning,
           r.claude_uncached_input_tokens AS uncached,
           r.claude_cache_creation_input_tokens AS cache_creation,
           coalesce(r.input_tokens_total, prefix + append) AS input_total,
           r.tool_call_count, r.started_at, r.ended_at, o.seq,
           o.prev_context, o.prev_output, o.prev_prefix, o.prev_append, o.request_no,
           o.prev_pk, {{write_columns}}
    FROM rounds r JOIN step_order o USING (round_pk)
),
ordered AS (
    SELECT * EXCLUDE (prev_context, prev_output, prev_prefix, prev_append, request_no),
           prefix + append AS context,
           prev_context, prev_output, prev_prefix, prev_append, request_no
    FROM base
)
SELECT s.* EXCLUDE ({", ".join(HIDDEN_COLUMNS)}),
       s.context - s.prev_context AS growth,
       CASE WHEN s.prev_context IS NOT NULL THEN
           least(greatest(greatest(s.context - s.prev_context, 0) - s.prev_output, 0), s.append)
       END AS fresh,
       {GEN_START_TS} AS gen_start_ts,
       ev.last_out_ts, ev.reasoning_ts, ev.last_visible_ts, ev.first_user_ts,
       ev.max_out_ts, ev.first_ts, ev.first_event_type,
       {REQUEST_START_TS} AS request_start_ts,
       {GEN_MS} AS gen_ms,
       hw.human_wait_ms, tw.tool_wait_ms,
       CASE WHEN s.is_user THEN hw.human_wait_ms WHEN s.is_tool THEN tw.tool_wait_ms END
           AS idle_gap_ms,
       pr.price_match IS NOT NULL AS priced,
       {STEP_COST_SELECT.format(s="s")}
FROM ordered s
LEFT JOIN step_events ev USING (round_pk)
LEFT JOIN step_gen_fix gx USING (round_pk)
LEFT JOIN step_tool_wait tw USING (round_pk)
LEFT JOIN (
    SELECT round_pk, arg_min(wait_ms, event_pos) AS human_wait_ms FROM human_waits GROUP BY ALL
) hw USING (round_pk)
{BAND_JOIN.format(s="s")}
ORDER BY s.round_pk
"""

REQUEST_FACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE request_facts AS
SELECT * EXCLUDE (end_ts), end_ts AS last_out_ts,
       CASE WHEN trigger_ts < end_ts THEN {ms_between("trigger_ts", "end_ts")} END AS response_ms,
       model
FROM (
    SELECT provider, session_id, request_no,
           count(*) AS steps,
           count(*) FILTER (WHERE is_user) AS user_steps,
           count(*) FILTER (WHERE is_tool) AS tool_steps,
           sum(tool_call_count) AS tool_calls,
           bool_and(priced) AS priced,
           sum(cost_append) AS cost_append, sum(cost_prefix) AS cost_prefix,
           sum(cost_output) AS cost_output, sum(cost_total) AS cost_total,
           arg_min(request_start_ts, seq) AS trigger_ts,
           max(max_out_ts) AS end_ts,
           arg_min_null(model, seq) AS model
    FROM step_facts
    WHERE request_no > 0
    GROUP BY provider, session_id, request_no
)
"""

#: How each table `prepare` can build is made, and the tables it reads. `price_rates` (with the
#: cost macros) comes from `costs.prepare_costs`; the others are the SQL above.
_BUILDS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "price_rates": (None, ()),
    "step_costs": (STEP_COSTS_SQL, ("price_rates",)),
    "step_events": (STEP_EVENTS_SQL, ()),
    "step_gen_fix": (GEN_FIX_SQL, ("step_events",)),
    "step_order": (STEP_ORDER_SQL, ("step_events", "step_gen_fix")),
    "human_waits": (HUMAN_WAITS_SQL, ("step_order",)),
    "result_calls": (RESULT_CALLS_SQL, ()),
    "step_tool_wait": (TOOL_WAIT_SQL, ("result_calls",)),
    "tool_facts": (TOOL_FACTS_SQL, ("step_order",)),
    "step_facts": (
        STEP_FACTS_SQL,
        (
            "price_rates",
            "step_order",
            "step_events",
            "step_gen_fix",
            "step_tool_wait",
            "human_waits",
        ),
    ),
    "request_facts": (REQUEST_FACTS_SQL, ("step_facts",)),
}
#: Tables `prepare` builds only for others: each is dropped once every table that reads it
#: exists, so its memory goes back (at 334k steps `step_order` holds ~25 MB); a later call
#: that needs it again rebuilds it. `step_gen_fix` (a few rows) stays: the generation times
#: of `GENERATION_FROM` read it.
_INTERMEDIATE_TABLES = ("step_order", "step_tool_wait")

#: What callers ask `prepare` for: `step_facts` with the tables analyses query beside it
#: (`STEP_TABLES`), and `tool_facts` and `request_facts` (only when named); `FACT_TABLES`, all
#: of them, is what analyses read. `step_costs` is built only when named (the Dashboard's cost
#: charts: it needs no event, so they need not wait for the rest).
STEP_TABLES = ("step_facts", "step_events", "result_calls", "human_waits")
FACT_TABLES = (*STEP_TABLES, "tool_facts", "request_facts")

#: The steps' generation times (`GEN_MS`, with `provider` and `round_pk`) without
#: `step_facts`: a relation for FROM over the tables it is made of (same values, same rows).
GENERATION_FROM = f"""(
    SELECT r.round_pk, r.provider, {GEN_MS} AS gen_ms
    FROM rounds r
    JOIN step_events ev USING (round_pk)
    LEFT JOIN step_gen_fix gx USING (round_pk)
)"""
#: What a query over `GENERATION_FROM` needs prepared.
GENERATION_TABLES = ("step_events", "step_gen_fix")


def prepare(
    con: duckdb.DuckDBPyConnection,
    prices: PriceSource | None = None,
    tables: Iterable[str] = FACT_TABLES,
) -> None:
    """Materialize the fact `tables` on `con` (TEMP, so a read-only database works), by default
    all of them, with the tables they are made of; idempotent: a table already there is kept,
    so a caller names what it reads and pays for nothing else (`tool_facts` and
    `request_facts` are built on first request; `step_costs` needs no event).

    `prices` (a `tracelab.pricing` source, default the genai-prices database) prices the steps
    when `step_costs` is built; a later call's prices change nothing.
    """
    wanted = list(dict.fromkeys(tables))
    unknown = [name for name in wanted if name not in _BUILDS or name in _INTERMEDIATE_TABLES]
    if unknown:
        raise ValueError(f"no fact table {unknown[0]!r}")
    present = _present(con)
    order: list[str] = []

    def visit(name: str) -> None:
        if name in present or name in order:
            return
        for dependency in _BUILDS[name][1]:
            visit(dependency)
        order.append(name)

    for name in wanted:
        visit(name)
    for name in order:
        sql, _ = _BUILDS[name]
        if sql is None:
            prepare_costs(con, prices if prices is not None else default_source())
        elif "{write_columns}" in sql:  # the cost SQL's columns (a query of `rounds`' fields)
            con.execute(sql.format(write_columns=step_write_columns(con)))
        else:
            con.execute(sql)
        present.add(name)
    for table in _INTERMEDIATE_TABLES:  # folded into their readers: their memory goes back
        readers = [n for n, (_, needs) in _BUILDS.items() if table in needs]
        if table in present and all(reader in present for reader in readers):
            con.execute(f"DROP TABLE {table}")


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables of `_BUILDS` that `con` holds as TEMP tables."""
    return {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name IN ?",
            [list(_BUILDS)],
        ).fetchall()
    }
