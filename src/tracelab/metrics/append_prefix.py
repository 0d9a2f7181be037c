"""Append-heavy vs prefix-heavy latency (amendments §2), in SQL over the full timing segments.

Is a step that must prefill many appended tokens slower than one of the same size served mostly
from the prompt cache? Definitions (the reference's, constants below):

- Rows: **full** segments of `timing_segments` (input event → latest tool call) with total
  context ≥ `MIN_TOTAL` and duration ≥ `MIN_DURATION_MS`, trimmed per (provider, model, kind) to
  durations ≤ their linear p99.
- Class: *append-heavy* when append/total ≥ `APPEND_SHARE` and append ≥ `MIN_APPEND`; else
  *prefix-heavy* when append/total ≤ `PREFIX_SHARE` and prefix ≥ `MIN_PREFIX`; else neither.
- Bucket: (provider, model, kind, `floor(log2 total / 0.25)`, `floor(log2 out / 0.5)`) with
  out = the segment's output tokens (out = 0 is bucket −1); a bucket qualifies with at least
  `MIN_CLASS_ROWS` rows of each class.
- Per bucket: ratio = median append-heavy duration / median prefix-heavy duration; P = (#pairs
  with the append row slower + 0.5 · #ties) / #pairs over all (append, prefix) pairs (computed
  from mid-ranks, Mann–Whitney U); Cliff's δ = 2P − 1; normalized duration = duration / the
  bucket's prefix-heavy median; the threshold: over the distinct normalized values in
  ascending order, the first that maximizes balanced accuracy of "> threshold ⇒ append-heavy",
  kept only when it beats 0.5 (else none, 0.5).
- Global: pair-weighted P, the median of the bucket ratios, the threshold over the pooled
  normalized values; verdict (`verdict`).
"""

from __future__ import annotations

import duckdb

from tracelab.metrics.timing_segments import prepare_segments

MIN_TOTAL = 4096
MIN_DURATION_MS = 50
APPEND_SHARE = 0.25
MIN_APPEND = 1024
PREFIX_SHARE = 0.10
MIN_PREFIX = 4096
TOTAL_BIN_WIDTH = 0.25  # log2 units
OUT_BIN_WIDTH = 0.5
MIN_CLASS_ROWS = 5
CLEAR_P, CLEAR_BA, CLEAR_RATIO = 0.80, 0.75, 1.5
SLOWER_P = 0.60

BUCKET_KEY = "provider, model, kind, total_bin, out_bin"

ROWS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS ap_candidates AS
WITH base AS (
    SELECT round_pk, provider, model, kind, duration_ms, prefix, append, total,
           segment_tokens AS out_tokens, append / total AS append_share
    FROM timing_segments
    WHERE is_full AND total >= {MIN_TOTAL} AND duration_ms >= {MIN_DURATION_MS}
),
p99 AS (
    SELECT provider, model, kind, quantile_cont(duration_ms, 0.99) AS p99
    FROM base GROUP BY ALL
),
trimmed AS (
    SELECT base.*, p99.p99 FROM base JOIN p99
        ON base.provider IS NOT DISTINCT FROM p99.provider
       AND base.model IS NOT DISTINCT FROM p99.model AND base.kind IS NOT DISTINCT FROM p99.kind
    WHERE duration_ms <= p99.p99
)
SELECT *,
       CASE WHEN append_share >= {APPEND_SHARE} AND append >= {MIN_APPEND} THEN 'append'
            WHEN append_share <= {PREFIX_SHARE} AND prefix >= {MIN_PREFIX} THEN 'prefix'
       END AS cls,
       CAST(floor(log2(total) / {TOTAL_BIN_WIDTH}) AS INTEGER) AS total_bin,
       CASE WHEN out_tokens <= 0 THEN -1
            ELSE CAST(floor(log2(out_tokens) / {OUT_BIN_WIDTH}) AS INTEGER) END AS out_bin
FROM trimmed
"""

BUCKETS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS ap_buckets AS
WITH b AS (
    SELECT {BUCKET_KEY},
           count(*) FILTER (WHERE cls = 'append') AS append_rows,
           count(*) FILTER (WHERE cls = 'prefix') AS prefix_rows,
           quantile_cont(duration_ms, 0.5) FILTER (WHERE cls = 'append') AS median_append_ms,
           quantile_cont(duration_ms, 0.5) FILTER (WHERE cls = 'prefix') AS median_prefix_ms
    FROM ap_candidates WHERE cls IS NOT NULL GROUP BY ALL
)
SELECT *, append_rows * prefix_rows AS pairs, median_append_ms / median_prefix_ms AS ratio
FROM b WHERE append_rows >= {MIN_CLASS_ROWS} AND prefix_rows >= {MIN_CLASS_ROWS}
"""

#: The classified rows of qualifying buckets with their normalized duration and mid-rank: the
#: mean of a row's first rank and its last tied one (rows ≤ it), over one sort per bucket.
NORMALIZED_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS ap_rows AS
SELECT c.round_pk, {", ".join(f"c.{k}" for k in BUCKET_KEY.split(", "))}, c.cls,
       c.duration_ms, c.append_share, c.duration_ms / b.median_prefix_ms AS norm,
       (rank() OVER w + count(*) OVER (w RANGE UNBOUNDED PRECEDING)) / 2.0 AS midrank
FROM ap_candidates c JOIN ap_buckets b USING ({BUCKET_KEY})
WHERE c.cls IS NOT NULL
WINDOW w AS (PARTITION BY {BUCKET_KEY} ORDER BY c.duration_ms)
"""


def threshold_sql(partition: str) -> str:
    """SQL: per `partition` of `ap_rows` (a column list, or '' for the pool), the best threshold
    on `norm` and its balanced accuracy; one row per partition (threshold null: none beats 0.5).

    Integer numerators keep the comparisons exact: BA = (a_gt·np + p_le·na) / (2·na·np).
    Rows are counted per distinct value first, so the running sums are over distinct values
    (a window over every row with a whole-partition FILTER count took 14 s on the pool).
    """
    part = f"PARTITION BY {partition}" if partition else ""
    key = f"{partition}, " if partition else ""
    group = f"GROUP BY {partition}" if partition else ""
    return f"""
    WITH counts AS (
        SELECT {key}norm, count(*) FILTER (WHERE cls = 'append') AS a,
               count(*) FILTER (WHERE cls = 'prefix') AS p
        FROM ap_rows GROUP BY ALL
    ),
    cum AS (
        SELECT {key}norm,
               sum(a) OVER ({part} ORDER BY norm ROWS UNBOUNDED PRECEDING)::BIGINT AS a_le,
               sum(p) OVER ({part} ORDER BY norm ROWS UNBOUNDED PRECEDING)::BIGINT AS p_le,
               sum(a) OVER ({part})::BIGINT AS na, sum(p) OVER ({part})::BIGINT AS np
        FROM counts
    ),
    scored AS (SELECT {key}norm, na, np, (na - a_le) * np + p_le * na AS num FROM cum),
    best AS (
        SELECT {key}any_value(na) AS na, any_value(np) AS np,
               max(num) AS num, arg_max(norm, {{'n': num, 'v': -norm}}) AS thr
        FROM scored {group}
    )
    SELECT {key}CASE WHEN num > na * np THEN thr END AS threshold,
           CASE WHEN num > na * np THEN num / (2.0 * na * np) ELSE 0.5 END AS balanced_accuracy
    FROM best
    """


BUCKET_STATS_SQL = f"""
WITH u AS (
    SELECT {BUCKET_KEY},
           sum(midrank) FILTER (WHERE cls = 'append') AS rank_sum
    FROM ap_rows GROUP BY ALL
)
SELECT b.*, (u.rank_sum - b.append_rows * (b.append_rows + 1) / 2.0) AS u_append,
       (u.rank_sum - b.append_rows * (b.append_rows + 1) / 2.0) / b.pairs AS p_slower,
       2 * (u.rank_sum - b.append_rows * (b.append_rows + 1) / 2.0) / b.pairs - 1
           AS cliffs_delta,
       t.threshold, t.balanced_accuracy
FROM ap_buckets b JOIN u USING ({BUCKET_KEY}) JOIN ({threshold_sql(BUCKET_KEY)}) t
    USING ({BUCKET_KEY})
ORDER BY provider, model, kind, total_bin, out_bin
"""


def verdict(p: float | None, ba: float, ratio: float | None) -> str:
    """The reference's verdict on the pooled numbers."""
    if p is None or ratio is None:
        return "no qualifying bucket"
    if p >= CLEAR_P and ba >= CLEAR_BA and ratio >= CLEAR_RATIO:
        return "clear separation"
    if p > SLOWER_P:
        return "slower but not separable"
    return "rejected"


def prepare_append_prefix(con: duckdb.DuckDBPyConnection) -> None:
    """Materialize `ap_candidates`, `ap_buckets` and `ap_rows` once per connection."""
    prepare_segments(con)
    for sql in (ROWS_SQL, BUCKETS_SQL, NORMALIZED_SQL):
        con.execute(sql)
