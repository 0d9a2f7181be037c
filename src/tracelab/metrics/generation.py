"""LLM-generation metrics (study §5): token bins, output attribution and decode speed, in SQL.

Every definition here is written once and used by the `llm_generation` experiments:

- **Bins.** `bucket_sql` turns a value into the index of its bin for a list of edges (bin *i*
  is `[edges[i-1], edges[i])`, bin 0 is `< edges[0]`, the last is `≥ edges[-1]`).
  `log2_bin_sql` is the `floor(log2(x + 1))` bin of the log–log density (bin *b* holds
  `x + 1 ∈ [2^b, 2^(b+1))`, so x = 0 is bin 0). `log10_bin_sql` gives
  `OUTPUT_BINS_PER_DECADE` bins per factor of ten for the output histogram (x ≥ 1).
- **Output attribution** (`attribution_pairs`, a TEMP view): consecutive steps of a session
  whose earlier step wrote `O_{i−1} ≥ ATTRIBUTION_MIN_OUTPUT` tokens; prefix gain
  `g = prefix_i − (prefix_{i−1} + append_{i−1})`. *cached* when `|g − O_{i−1}| ≤ τ·O_{i−1}`;
  *resend* when `|g| ≤ τ·O_{i−1}` and `append_i ≥ O_{i−1}`; else *neither*
  (τ = `ATTRIBUTION_TOLERANCE`; the two tests exclude each other for τ < 0.5).
- **Decode speed** (`decode_steps`, a TEMP view): normalized decode speed
  `output / gen_ms × 1000` (tokens/s) for steps with `gen_ms > 0` and `output > 0`;
  pure decode speed `(output − reasoning) / (last_visible_ts − reasoning_ts)` (tokens/s) for
  steps with reasoning tokens (> 0), visible tokens (> 0) and a positive span; residual TTFT
  `gen_ms − output / pure speed × 1000` (ms, may be negative), where generation time is positive.
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
#: Output attribution: relative tolerance τ on the prefix gain, as a share of O_{i−1}.
ATTRIBUTION_TOLERANCE = 0.10
ATTRIBUTION_CLASSES = ("cached", "resend", "neither")

#: Fig. 6: a context bin enters the binned-median curves only with at least this many steps.
MIN_BIN_STEPS = 10


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


ATTRIBUTION_SQL = f"""
CREATE OR REPLACE TEMP VIEW attribution_pairs AS
SELECT round_pk, provider, coalesce(model, '(unknown)') AS model, session_id, seq,
       prev_output, prefix - (prev_prefix + prev_append) AS gain, append,
       (prefix - (prev_prefix + prev_append)) / prev_output AS gain_ratio,
       append / prev_output AS append_ratio,
       CASE
           WHEN abs(prefix - (prev_prefix + prev_append) - prev_output)
                <= {ATTRIBUTION_TOLERANCE} * prev_output THEN 'cached'
           WHEN abs(prefix - (prev_prefix + prev_append)) <= {ATTRIBUTION_TOLERANCE} * prev_output
                AND append >= prev_output THEN 'resend'
           ELSE 'neither'
       END AS attribution
FROM step_facts
WHERE prev_output >= {ATTRIBUTION_MIN_OUTPUT}
"""

_SPAN_MS = ms_between("reasoning_ts", "last_visible_ts")
_PURE = (
    f"CASE WHEN reasoning > 0 AND output - reasoning > 0 AND {_SPAN_MS} > 0 "
    f"THEN (output - reasoning) / ({_SPAN_MS} / 1000.0) END"
)

DECODE_SQL = f"""
CREATE OR REPLACE TEMP VIEW decode_steps AS
SELECT round_pk, provider, coalesce(model, '(unknown)') AS model, context, output, reasoning,
       gen_ms, pure_speed,
       CASE WHEN gen_ms > 0 AND output > 0 THEN output / (gen_ms / 1000.0) END AS norm_speed,
       CASE WHEN gen_ms > 0 THEN gen_ms - output / pure_speed * 1000.0 END AS residual_ttft_ms
FROM (SELECT *, {_PURE} AS pure_speed FROM step_facts)
"""


#: Coefficient of variation of the normalized decode speed over a group of `decode_steps` rows.
SPEED_CV_SQL = "stddev_samp(norm_speed) / nullif(avg(norm_speed), 0)"


def prepare_generation(con: duckdb.DuckDBPyConnection) -> None:
    """Create the TEMP views `attribution_pairs` and `decode_steps` (needs the step facts)."""
    prepare(con)
    con.execute(ATTRIBUTION_SQL)
    con.execute(DECODE_SQL)
