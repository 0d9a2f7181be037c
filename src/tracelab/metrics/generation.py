"""LLM-generation metrics (study §5): token bins, output attribution and decode speed, in SQL.

Every definition here is written once and used by the `llm_generation` experiments:

- **Bins.** `bucket_sql` turns a value into the index of its bin for a list of edges (bin *i*
  is `[edges[i-1], edges[i])`, bin 0 is `< edges[0]`, the last is `≥ edges[-1]`).
  `log2_bin_sql` is the `floor(log2(x + 1))` bin of the log–log density (bin *b* holds
  `x + 1 ∈ [2^b, 2^(b+1))`, so x = 0 is bin 0). `log10_bin_sql` gives
  `OUTPUT_BINS_PER_DECADE` bins per factor of ten for the output histogram (x ≥ 1).
- **Output attribution** (`attribution_pairs`, a TEMP table; amendments §14.5): pairs (P, S) of
  consecutive steps of a (provider, session) ordered by (round_index, first event time, file
  order), steps without a timestamp dropped. Kept when the gap S's first event − P's latest
  model output (else P's first event) is within [0, `ATTRIBUTION_MAX_GAP_MS`], P's input
  (`input_total`) > 0 and P's output O ≥ `ATTRIBUTION_MIN_OUTPUT`. Gain
  `g = S.prefix − P.input`; tolerance `tol = max(ATTRIBUTION_MIN_TOL, τ·O)` (τ =
  `ATTRIBUTION_TOLERANCE`). *cached* (prefix-close) when `|g − O| ≤ tol`; *resend*
  (append-side) when `g < O − tol` and `S.append ≥ O − tol`; else *neither*. Pairs are grouped
  by P: `Claude` for every Claude model, else P's model.
- **Attribution decision** of a group (`attribution_decision`): fewer than
  `ATTRIBUTION_MIN_PAIRS` pairs → not_sure; cached ≥ 70% and resend ≤ 20% → cached; resend ≥ 70%
  and cached ≤ 20% → resend; both ≥ 30% → mixed; else not_sure.
- **Decode speed** (`decode_steps`, a TEMP table; amendments §14.4). *Base* steps: output > 0,
  context C (`input_total`: input_tokens_total, else prefix + append) > 0 and generation span
  `gen_ms` > 0; their normalized decode speed is `output / gen_ms × 1000` (tokens/s). For Codex
  steps with R reasoning tokens > 0: V = output − R visible tokens, `t_post` = the latest
  reasoning event → the latest text/tool_call event (≥ it), `t_in→r` = the generation start →
  the latest reasoning event.
  *Paper-text* values (the study's macros, no floor): pure decode speed `V / t_post` where
  V > 0 and t_post > 0; `L = Σ t_post / Σ V` over those steps (per provider); residual TTFT
  `t_in→r − R·L` for every such Codex step with t_in→r > 0 (`pure_speed`, `residual_ttft_ms`).
  *Fig. 6* values (`fig6_*`): the same, but only for **eligible** steps — V > 0, t_post ≥
  `FIG6_MIN_POST_MS` (0.1 s), t_in→r > 0 — with L over the eligible steps.
  **Decode-speed CV** (`SPEED_CV_SQL`): sample standard deviation / mean of the normalized speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import duckdb

from tracelab.metrics.steps import ms_between, prepare

KIB = 1024
#: Table 9 prefix bins: <1k, 1–2k, …, 128–256k, ≥256k with k = 1,024 tokens.
PREFIX_BIN_EDGES: tuple[int, ...] = tuple(KIB * 2**i for i in range(9))
#: Fig. 1 text: a prefix below this is the "short prefix" group (misses, initial prefills).
SHORT_PREFIX = 16 * KIB
#: Table 9 text: the median append once the prefix has reached this.
LONG_PREFIX = 32 * KIB
#: Fig. 2 append-length buckets (decimal k = 1,000 so the paper's "< 1k" and "≥ 10k" are edges).
APPEND_SHARE_EDGES: tuple[int, ...] = (256, 1_000, 4_000, 10_000, 50_000)
APPEND_SHARE_UNIT = 1_000
#: Fig. 2 text: steps appending fewer than this …
SMALL_APPEND = 1_000
#: … versus append tokens from steps appending at least this.
LARGE_APPEND = 10_000

#: Fig. 4 histogram resolution (log bins per factor of ten of output tokens).
OUTPUT_BINS_PER_DECADE = 20

#: Output attribution: the prior output must be at least this long for the signal to show.
ATTRIBUTION_MIN_OUTPUT = 2_000
#: Output attribution: relative tolerance τ on the prefix gain, as a share of the prior output…
ATTRIBUTION_TOLERANCE = 0.10
#: … and its floor in tokens: tol = max(ATTRIBUTION_MIN_TOL, τ·O).
ATTRIBUTION_MIN_TOL = 512
#: Output attribution: the longest gap (ms) from the prior step's last output to the next step.
ATTRIBUTION_MAX_GAP_MS = 240_000
#: Output attribution: a group with fewer pairs is "not_sure".
ATTRIBUTION_MIN_PAIRS = 50
ATTRIBUTION_CLASSES = ("cached", "resend", "neither")
#: The name of the group of every Claude model (the study groups Claude models together).
CLAUDE_GROUP = "Claude"

#: Fig. 6: a context bin (floor(log2 C)) enters the binned-median curves only with at least
#: this many rows (amendments §14.4).
MIN_BIN_STEPS = 250
#: Fig. 6: the shortest post-reasoning span (ms) of an eligible Codex step (amendments §14.4).
FIG6_MIN_POST_MS = 100.0
#: The provider whose reasoning-token counts split output into reasoning and visible tokens.
REASONING_PROVIDER = "codex"


def bucket_sql(expr: str, edges: Sequence[float]) -> str:
    """SQL: index of the bin of `expr` (0 = below edges[0], len(edges) = at or above the last)."""
    whens = " ".join(f"WHEN {expr} < {e} THEN {i}" for i, e in enumerate(edges))
    return f"(CASE {whens} ELSE {len(edges)} END)"


def _short(n: int, unit: int) -> str:
    return f"{n // unit}k" if n >= unit and n % unit == 0 else f"{n:,}"


def bucket_labels(edges: Sequence[int], unit: int = KIB) -> list[str]:
    """Labels of the bins of `bucket_sql`: '<1k', '1–2k', '256–1k', …, '≥256k'."""
    labels = [f"<{_short(edges[0], unit)}"]
    for lo, hi in pairwise(edges):
        if lo >= unit and lo % unit == 0 and hi % unit == 0:
            labels.append(f"{lo // unit}–{hi // unit}k")
        else:
            labels.append(f"{_short(lo, unit)}–{_short(hi, unit)}")
    labels.append(f"≥{_short(edges[-1], unit)}")
    return labels


def log2_bin_sql(expr: str) -> str:
    """SQL: the log–log density bin floor(log2(x + 1)) of a non-negative count."""
    return f"CAST(floor(log2(({expr}) + 1)) AS INTEGER)"


def log10_bin_sql(expr: str, per_decade: int = OUTPUT_BINS_PER_DECADE) -> str:
    """SQL: bin k holds x ∈ [10^(k/n), 10^((k+1)/n)) for x ≥ 1 (n bins per decade)."""
    return f"CAST(floor(log10({expr}) * {per_decade}) AS INTEGER)"


#: The pairs' order is the session order of `step_facts` (seq: round_index, then file order)
#: in a session with one provider, distinct round_index values and a timestamp on every step:
#: there P is S's `prev_pk`, joined by key, and no window is needed. A session with a tie, a
#: provider change or an untimed step (each seen between a step and its `prev_pk`, where ties
#: sit next to each other) goes through the window.
ATTRIBUTION_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS attribution_pairs AS
WITH steps AS (
    SELECT round_pk, provider, model, session_id, round_index, seq, prev_pk, prefix, append,
           output, input_total, first_ts, coalesce(max_out_ts, first_ts) AS end_ts
    FROM step_facts
),
by_key AS (
    SELECT s.round_pk, s.provider, s.session_id, s.seq, s.prefix, s.append, s.first_ts,
           p.provider AS prev_provider, p.model AS prev_model,
           p.input_total AS prev_input, p.output AS prev_output, p.end_ts AS prev_end_ts,
           s.first_ts IS NULL OR (s.prev_pk IS NOT NULL AND (
               p.round_index IS NOT DISTINCT FROM s.round_index
               OR p.provider IS DISTINCT FROM s.provider)) AS irregular
    FROM steps s LEFT JOIN steps p ON p.round_pk = s.prev_pk
),
irregular AS (SELECT DISTINCT session_id FROM by_key WHERE irregular),
linked AS (
    SELECT * EXCLUDE (irregular) FROM by_key k
    WHERE NOT EXISTS (
        SELECT 1 FROM irregular i WHERE i.session_id IS NOT DISTINCT FROM k.session_id)
    UNION ALL
    SELECT round_pk, provider, session_id, seq, prefix, append, first_ts,
           lag(provider) OVER w AS prev_provider, lag(model) OVER w AS prev_model,
           lag(input_total) OVER w AS prev_input, lag(output) OVER w AS prev_output,
           lag(end_ts) OVER w AS prev_end_ts
    FROM steps s
    WHERE first_ts IS NOT NULL
      AND EXISTS (SELECT 1 FROM irregular i WHERE i.session_id IS NOT DISTINCT FROM s.session_id)
    WINDOW w AS (PARTITION BY provider, session_id ORDER BY round_index, first_ts, round_pk)
),
pairs AS (
    SELECT *, prefix - prev_input AS gain,
           greatest({ATTRIBUTION_MIN_TOL}, {ATTRIBUTION_TOLERANCE} * prev_output) AS tol,
           {ms_between("prev_end_ts", "first_ts")} AS gap_ms
    FROM linked
    WHERE prev_output >= {ATTRIBUTION_MIN_OUTPUT} AND prev_input > 0
)
SELECT round_pk, prev_provider AS provider,
       CASE WHEN prev_provider = 'claude' THEN '{CLAUDE_GROUP}'
            ELSE coalesce(prev_model, '(unknown)') END AS model,
       session_id, seq, prev_output, prev_input, gain, append, tol, gap_ms,
       gain / prev_output AS gain_ratio, append / prev_output AS append_ratio,
       CASE WHEN abs(gain - prev_output) <= tol THEN 'cached'
            WHEN gain < prev_output - tol AND append >= prev_output - tol THEN 'resend'
            ELSE 'neither' END AS attribution
FROM pairs
WHERE gap_ms BETWEEN 0 AND {ATTRIBUTION_MAX_GAP_MS}
"""


def attribution_decision(pairs: int, cached: float | None, resend: float | None) -> str:
    """The study's verdict for a group of pairs (shares of cached and resend pairs, 0–1)."""
    if pairs < ATTRIBUTION_MIN_PAIRS or cached is None or resend is None:
        return "not_sure"
    if cached >= 0.70 and resend <= 0.20:
        return "cached"
    if resend >= 0.70 and cached <= 0.20:
        return "resend"
    if cached >= 0.30 and resend >= 0.30:
        return "mixed"
    return "not_sure"


_T_POST_MS = ms_between("reasoning_ts", "last_visible_ts")
_T_IN_R_MS = ms_between("gen_start_ts", "reasoning_ts")

DECODE_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS decode_steps AS
WITH d AS (
    SELECT round_pk, provider, coalesce(model, '(unknown)') AS model, input_total AS context,
           output, reasoning, gen_ms, output - reasoning AS visible,
           {_T_POST_MS} AS t_post_ms, {_T_IN_R_MS} AS t_in_reasoning_ms,
           output > 0 AND input_total > 0 AND gen_ms > 0 AS base,
           provider = '{REASONING_PROVIDER}' AND reasoning > 0 AS split
    FROM step_facts
),
e AS (
    SELECT *,
           coalesce(base AND split AND visible > 0 AND t_post_ms > 0, false) AS text_pure,
           coalesce(base AND split AND t_in_reasoning_ms > 0, false) AS text_ttft,
           coalesce(base AND split AND visible > 0 AND t_post_ms >= {FIG6_MIN_POST_MS}
                    AND t_in_reasoning_ms > 0, false) AS eligible
    FROM d
),
l AS (
    SELECT provider,
           sum(t_post_ms) FILTER (WHERE text_pure) / sum(visible) FILTER (WHERE text_pure)
               AS ms_per_token,
           sum(t_post_ms) FILTER (WHERE eligible) / sum(visible) FILTER (WHERE eligible)
               AS fig6_ms_per_token
    FROM e GROUP BY provider
)
SELECT e.round_pk, e.provider, e.model, e.context, e.output, e.reasoning, e.visible, e.gen_ms,
       e.t_post_ms, e.t_in_reasoning_ms, e.eligible,
       CASE WHEN e.base THEN e.output / (e.gen_ms / 1000.0) END AS norm_speed,
       CASE WHEN e.text_pure THEN e.visible / (e.t_post_ms / 1000.0) END AS pure_speed,
       CASE WHEN e.text_ttft THEN e.t_in_reasoning_ms - e.reasoning * l.ms_per_token END
           AS residual_ttft_ms,
       CASE WHEN e.eligible THEN e.visible / (e.t_post_ms / 1000.0) END AS fig6_pure_speed,
       CASE WHEN e.eligible THEN e.t_in_reasoning_ms - e.reasoning * l.fig6_ms_per_token END
           AS fig6_residual_ttft_ms,
       l.ms_per_token, l.fig6_ms_per_token
FROM e LEFT JOIN l USING (provider)
"""


#: Coefficient of variation of the normalized decode speed over a group of `decode_steps` rows.
SPEED_CV_SQL = "stddev_samp(norm_speed) / nullif(avg(norm_speed), 0)"


def prepare_generation(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `attribution_pairs` and `decode_steps` once per connection (after the step
    facts): each is queried several times, and both hold windows or aggregates."""
    prepare(con)
    con.execute(ATTRIBUTION_SQL)
    con.execute(DECODE_SQL)
