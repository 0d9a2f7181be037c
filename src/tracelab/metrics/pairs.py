"""Consecutive step pairs (P → S) of the reference's token audits (amendments §3, §8, §9).

`step_pairs` (TEMP table, one row per pair): the steps of each (provider, session) stable-sorted
by round_index (ties: file order `round_pk`); S and its predecessor P form a pair only when
`S.round_index = P.round_index + 1` (an exact index step — a gap or a duplicate index breaks the
pair). Columns: S's facts (`round_pk`, `provider`, `session_id`, `model`, `prefix`, `append`,
`output`, `total` = input_tokens_total else prefix + append, `visible`, the Claude cache fields,
the input chars) and P's as `p_*`.

`visible` = V = max(0, O − R), reasoning R null → 0 (amendments notation).

`subtracted_sql(policy)` is the one spelling of what is subtracted from S.append for P's output
(§8 / §9): `default` — P.O when P is Claude or a Codex step of model exactly `gpt-5.5`, else 0;
`all` — P.O always; `visible-for-codex` — P.O for Claude, P.V for every Codex step.
"""

from __future__ import annotations

import duckdb

from tracelab.metrics.steps import prepare

#: The Codex model whose append includes the previous output under the default policy.
DEFAULT_CODEX_MODEL = "gpt-5.5"
POLICIES = ("default", "all", "visible-for-codex")

_PAIR_COLUMNS = ("provider", "model", "prefix", "append", "output", "visible", "total")

STEP_PAIRS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS step_pairs AS
WITH s AS (
    SELECT f.round_pk, f.provider, f.session_id, f.model, f.round_index,
           f.first_input_event_type, f.prefix, f.append, f.output, f.reasoning,
           greatest(f.output - coalesce(f.reasoning, 0), 0) AS visible,
           f.input_total AS total,
           r.claude_uncached_input_tokens AS uncached,
           r.claude_cache_creation_input_tokens AS cache_creation,
           r.claude_cache_read_input_tokens AS cache_read,
           r.current_input_chars AS input_chars,
           r.current_user_message_chars AS user_chars,
           r.current_tool_result_chars AS tool_chars
    FROM step_facts f JOIN rounds r USING (round_pk)
),
w AS (
    SELECT s.*, lag(round_index) OVER o AS p_round_index,
           {", ".join(f"lag({c}) OVER o AS p_{c}" for c in _PAIR_COLUMNS)}
    FROM s
    WINDOW o AS (PARTITION BY provider, session_id ORDER BY round_index, round_pk)
)
SELECT * EXCLUDE (p_round_index) FROM w WHERE round_index = p_round_index + 1
ORDER BY round_pk
"""


def prepare_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `step_pairs` (and the fact tables it needs) on `con`; idempotent."""
    prepare(con)
    con.execute(STEP_PAIRS_SQL)


def subtracted_sql(policy: str = "default") -> str:
    """SQL (over `step_pairs`) of the tokens of P's output subtracted from S.append."""
    if policy == "default":
        return (
            f"CASE WHEN p_provider = 'claude' OR (p_provider = 'codex' AND "
            f"p_model = '{DEFAULT_CODEX_MODEL}') THEN p_output ELSE 0 END"
        )
    if policy == "all":
        return "p_output"
    if policy == "visible-for-codex":
        return (
            "CASE WHEN p_provider = 'claude' THEN p_output "
            "WHEN p_provider = 'codex' THEN p_visible ELSE 0 END"
        )
    raise ValueError(f"unknown policy {policy!r} (expected one of {', '.join(POLICIES)})")
