"""`tool_calls/long_tool_calls` (amendments §6): an audit of the Claude tool calls whose
effective latency exceeds an hour — real long work, a human answering, or a logging artefact?
"""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import records, rows
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.metrics.steps import ms_between

LONG_MS = 3_600_000
#: Tools that wait for the user by design.
HUMAN_TOOLS = ("AskUserQuestion", "ExitPlanMode", "PushNotification")
MISMATCH_MS = 1

CALLS = "FROM tool_facts WHERE provider = 'claude'"
SOURCE = (
    "CASE WHEN tool_internal_latency_ms IS NOT NULL THEN 'internal' "
    "WHEN tool_wall_latency_ms IS NOT NULL THEN 'wall_fallback' ELSE 'missing' END"
)
STAMP_MS = f"round({ms_between('emitted_at', 'result_at')})"
LONG = f"{CALLS} AND effective_latency_ms > {LONG_MS}"
SIGNATURE = (
    "session_id, round_id, tool_call_id, tool_name, emitted_at, result_at, "
    "effective_latency_ms, input_chars, result_chars"
)

DETAIL_SQL = f"""
SELECT t.session_id, r.round_index, t.round_pk, t.tool_index, t.tool_name, t.tool_call_id,
       {SOURCE} AS source, t.effective_latency_ms AS eff_ms,
       t.effective_latency_ms / 3.6e6 AS eff_h, t.tool_wall_latency_ms AS wall_ms,
       t.tool_internal_latency_ms AS internal_ms,
       round({ms_between("t.emitted_at", "t.result_at")}) AS stamp_ms,
       t.emitted_at, t.result_at, t.is_error, t.input_chars, t.result_chars, t.model
FROM tool_facts t JOIN rounds r USING (round_pk)
WHERE t.provider = 'claude' AND t.effective_latency_ms > {LONG_MS}
ORDER BY eff_ms DESC, t.round_pk, t.tool_index
"""

SCAN_SQL = f"""
SELECT count(*) AS calls,
       count(*) FILTER (WHERE effective_latency_ms > 0) AS positive,
       count(*) FILTER (WHERE effective_latency_ms IS NULL) AS missing,
       count(*) FILTER (WHERE effective_latency_ms <= 0) AS non_positive,
       count(*) FILTER (WHERE effective_latency_ms > {LONG_MS}) AS long_calls,
       coalesce(sum(effective_latency_ms) FILTER (WHERE effective_latency_ms > {LONG_MS}), 0)
           / 3.6e6 AS long_hours,
       coalesce(sum(effective_latency_ms) FILTER (WHERE effective_latency_ms > 0), 0) / 3.6e6
           AS positive_hours,
       count(*) FILTER (WHERE tool_wall_latency_ms > {LONG_MS}
                        AND coalesce(effective_latency_ms, 0) <= {LONG_MS}) AS wall_only_long,
       count(*) FILTER (WHERE tool_wall_latency_ms IS NOT NULL AND emitted_at IS NOT NULL
                        AND result_at IS NOT NULL
                        AND abs(tool_wall_latency_ms - {STAMP_MS}) > {MISMATCH_MS})
           AS wall_stamp_mismatch
{CALLS}
"""

DUPLICATES_SQL = f"""
WITH long AS (
    SELECT t.*, r.round_id FROM tool_facts t JOIN rounds r USING (round_pk)
    WHERE t.provider = 'claude' AND t.effective_latency_ms > {LONG_MS}
),
keys AS (
    SELECT count(*) AS n, sum(effective_latency_ms) AS ms, max(effective_latency_ms) AS one_ms
    FROM long GROUP BY session_id, tool_call_id
),
sigs AS (
    SELECT count(*) AS n, max(effective_latency_ms) AS one_ms FROM long GROUP BY {SIGNATURE}
)
SELECT (SELECT count(*) FILTER (WHERE n > 1) FROM keys) AS dup_keys,
       (SELECT coalesce(sum(n - 1) FILTER (WHERE n > 1), 0) FROM keys) AS dup_key_rows,
       (SELECT coalesce(sum(one_ms), 0) / 3.6e6 FROM keys) AS key_dedup_hours,
       (SELECT count(*) FILTER (WHERE n > 1) FROM sigs) AS dup_signatures,
       (SELECT coalesce(sum(n - 1) FILTER (WHERE n > 1), 0) FROM sigs) AS dup_signature_rows,
       (SELECT coalesce(sum(one_ms), 0) / 3.6e6 FROM sigs) AS signature_dedup_hours
"""

BREAKDOWN_SQL = f"""
SELECT dimension, value, count(*) AS calls, sum(effective_latency_ms) / 3.6e6 AS hours
FROM (
    SELECT effective_latency_ms, UNNEST([
        {{'dimension': 'source', 'value': {SOURCE}}},
        {{'dimension': 'tool', 'value': coalesce(tool_name, '(none)')}},
        {{'dimension': 'model', 'value': coalesce(model, '(unknown)')}},
        {{'dimension': 'is_error', 'value': coalesce(is_error::VARCHAR, '(null)')}},
        {{'dimension': 'waits for the user',
          'value': CASE WHEN tool_name IN {HUMAN_TOOLS!r} THEN tool_name ELSE 'other tools' END}}
    ], recursive := true)
    {LONG}
)
GROUP BY dimension, value ORDER BY dimension, hours DESC, value
"""

DETAIL_COLUMNS = ["session", "round index", "step", "tool index", "tool", "call id", "source",
                  "effective ms", "effective h", "wall ms", "internal ms", "result − emitted ms",
                  "emitted at", "result at", "is error", "input chars", "result chars",
                  "model"]  # fmt: skip

SUMMARY_ROWS = [
    ("Claude tool calls scanned", "calls", "int"),
    ("  with effective latency > 0", "positive", "int"),
    ("  with effective latency missing", "missing", "int"),
    ("  with effective latency ≤ 0", "non_positive", "int"),
    ("Calls over 1 h", "long_calls", "int"),
    ("Hours in calls over 1 h", "long_hours", "float1"),
    ("Hours in all positive calls", "positive_hours", "float1"),
    ("Calls over 1 h: duplicate (session, call id) keys", "dup_keys", "int"),
    ("  extra rows of those keys", "dup_key_rows", "int"),
    ("  hours, one row per key", "key_dedup_hours", "float1"),
    ("Calls over 1 h: duplicate signatures", "dup_signatures", "int"),
    ("  extra rows of those signatures", "dup_signature_rows", "int"),
    ("  hours, one row per signature", "signature_dedup_hours", "float1"),
    ("Wall > 1 h but effective ≤ 1 h", "wall_only_long", "int"),
    (f"Wall latency ≠ result − emitted (> {MISMATCH_MS} ms)", "wall_stamp_mismatch", "int"),
]


@experiment(
    "tool_calls/long_tool_calls",
    title="Claude tool calls over an hour",
    question="Which Claude tool calls take more than an hour, where does their latency come "
    "from, and how much of it is duplicated rows or a tool waiting for the user?",
    definitions=f"""
- **Effective latency** (the one definition of `tool_facts`): internal latency if not null,
  else wall latency. **Source**: `internal` (internal latency set), `wall_fallback` (only the
  wall latency), `missing` (neither).
- **Long call**: a Claude call with effective latency > {LONG_MS:,} ms (1 h); listed by
  effective latency descending, then file order (step, tool index), with the wall and
  internal latencies, `round(result_at − emitted_at)` in ms, timestamps, error flag and chars.
  The reference also shows ≤ 220 chars of the tool's input; TraceLab never puts tool inputs
  in its outputs (they are private), so that column is left out.
- **Summary**: the scan's counts (effective latency positive / missing / ≤ 0), calls and
  hours over 1 h; duplicates among the long calls by (session, call id) and by signature
  (session, round id, call id, tool, timestamps, latency, chars) with hours counting one
  row per key; Claude calls whose wall latency is > 1 h while their effective latency is not;
  calls whose wall latency differs from their timestamps by more than {MISMATCH_MS} ms.
- **Breakdown** of the long calls by source, tool, model, error flag, and the tools that wait
  for the user by design ({", ".join(HUMAN_TOOLS)}).
""",
    study_item="§6.2 (reference audit)",
)
def long_tool_calls(con: duckdb.DuckDBPyConnection) -> Result:
    from tracelab.metrics.steps import prepare

    prepare(con)
    stats = records(con, SCAN_SQL)[0] | records(con, DUPLICATES_SQL)[0]
    summary = Table(
        name="long_call_summary",
        title="Scan and duplicate audit",
        columns=["metric", "value"],
        rows=[[label, stats[key]] for label, key, _ in SUMMARY_ROWS],
        row_kinds=[kind for _, _, kind in SUMMARY_ROWS],
    )
    detail = Table(
        name="long_calls",
        title="Every Claude call over 1 h",
        columns=DETAIL_COLUMNS,
        rows=[list(r) for r in rows(con, DETAIL_SQL)],
        kinds={
            c: "int"
            for c in (
                "round index",
                "step",
                "tool index",
                "effective ms",
                "wall ms",
                "internal ms",
                "result − emitted ms",
                "input chars",
                "result chars",
            )
        }
        | {"effective h": "float2"},
    )
    breakdown = Table(
        name="long_call_breakdown",
        title="Calls over 1 h by source, tool, model and error flag",
        columns=["dimension", "value", "calls", "hours"],
        rows=[list(r) for r in rows(con, BREAKDOWN_SQL)],
        kinds={"calls": "int", "hours": "float2"},
    )
    return Result([summary, detail, breakdown], _text(stats))


def _text(s: dict) -> str:
    if not s["calls"]:
        return "The trace has no Claude tool calls."
    if not s["long_calls"]:
        return (
            f"None of the {format_value(s['calls'], 'int')} Claude tool calls has an effective "
            "latency over 1 h."
        )
    return (
        f"{format_value(s['long_calls'], 'int')} of {format_value(s['calls'], 'int')} Claude "
        f"tool calls take over 1 h: {format_value(s['long_hours'], 'float1')} h of the "
        f"{format_value(s['positive_hours'], 'float1')} h in all timed calls "
        f"({format_value(s['signature_dedup_hours'], 'float1')} h once duplicate rows are "
        "counted once)."
    )
