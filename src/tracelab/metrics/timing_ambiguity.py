"""How well could *any* function of the token counts do? The ambiguity floors of amendments §1.

Rows with the same features but different durations bound every fit from below. Two kinds of
sets, per fit group of `timing_segments`:

- **exact**: identical (prefix, append, segment tokens), untrimmed, ≥ `EXACT_MIN_ROWS` rows;
- **local**: in groups with ≥ `LOCAL_MIN_GROUP` rows after the p99 trim, trimmed rows bucketed
  by `floor(log2 x / 0.25)` of each token count (x = 0 is bucket −1), ≥ `LOCAL_MIN_ROWS` rows.

Each set's best constant: the median (averaging the middle pair) for absolute error; the
weighted median with weights 1/d for APE and 1/(d + 1000 ms) for the smooth error (the first
sorted duration whose cumulative weight reaches half the set's). Floors are row-weighted means of
the losses with those constants; local sets also give the row-weighted mean of p10/median and
p90/median (their spread). All in SQL.
"""

from __future__ import annotations

import duckdb

from tracelab.metrics.timing_fit import SMOOTH_MS

EXACT_MIN_ROWS = 2
LOCAL_MIN_GROUP = 1000
LOCAL_MIN_ROWS = 8
LOCAL_BIN_WIDTH = 0.25
FLOOR_COLUMNS = ("sets", "rows", "mae_ms", "mape", "smooth", "p10_ratio", "p90_ratio")


def _bin(col: str) -> str:
    return (
        f"CASE WHEN {col} <= 0 THEN -1 "
        f"ELSE CAST(floor(log2({col}) / {LOCAL_BIN_WIDTH}) AS INTEGER) END"
    )


EXACT_ROWS = """
SELECT fit_group, prefix AS k1, append AS k2, segment_tokens AS k3, duration_ms AS d
FROM timing_segments
"""

LOCAL_ROWS = f"""
SELECT fit_group, {_bin("prefix")} AS k1, {_bin("append")} AS k2, {_bin("segment_tokens")} AS k3,
       duration_ms AS d
FROM timing_segments
WHERE in_trim AND fit_group IN (
    SELECT fit_group FROM timing_segments WHERE in_trim GROUP BY 1
    HAVING count(*) >= {LOCAL_MIN_GROUP}
)
"""


def floors_sql(rows_sql: str, min_rows: int) -> str:
    """SQL: per fit group, the floors of the sets (fit_group, k1, k2, k3) of `rows_sql`.

    The sets' sizes are counted first and only the rows of sets with ≥ `min_rows` go on to
    the quantiles and the cumulative weights: most exact sets are single rows, and a quantile
    state per set of one costs seconds at 600k segments.
    """
    key = "fit_group, k1, k2, k3"
    return f"""
    WITH every AS ({rows_sql}),
    big AS (SELECT {key} FROM every GROUP BY ALL HAVING count(*) >= {min_rows}),
    r AS (SELECT * FROM every SEMI JOIN big USING ({key})),
    sets AS (
        SELECT {key}, count(*) AS n, quantile_cont(d, 0.5) AS med,
               quantile_cont(d, 0.1) AS p10, quantile_cont(d, 0.9) AS p90,
               sum(1 / d) AS w1, sum(1 / (d + {SMOOTH_MS})) AS w2
        FROM r GROUP BY ALL HAVING count(*) >= {min_rows}
    ),
    cum AS (
        SELECT r.*, s.w1, s.w2,
               sum(1 / r.d) OVER w AS c1, sum(1 / (r.d + {SMOOTH_MS})) OVER w AS c2
        FROM r JOIN sets s USING ({key})
        WINDOW w AS (PARTITION BY {key} ORDER BY r.d ROWS UNBOUNDED PRECEDING)
    ),
    consts AS (
        SELECT {key}, min(d) FILTER (WHERE c1 >= w1 / 2) AS wm1,
               min(d) FILTER (WHERE c2 >= w2 / 2) AS wm2
        FROM cum GROUP BY ALL
    )
    SELECT fit_group, count(DISTINCT (k1, k2, k3)) AS sets, count(*) AS rows,
           avg(abs(d - s.med)) AS mae_ms, avg(abs(d - wm1) / d) AS mape,
           avg(abs(d - wm2) / (d + {SMOOTH_MS})) AS smooth,
           avg(s.p10 / s.med) AS p10_ratio, avg(s.p90 / s.med) AS p90_ratio
    FROM cum JOIN consts USING ({key}) JOIN sets s USING ({key})
    GROUP BY fit_group ORDER BY fit_group
    """


def exact_floors(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Rows `(fit_group, *FLOOR_COLUMNS)` of the exact-duplicate sets (timing_segments ready)."""
    return con.execute(floors_sql(EXACT_ROWS, EXACT_MIN_ROWS)).fetchall()


def local_floors(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Rows `(fit_group, *FLOOR_COLUMNS)` of the local-bucket sets (timing_segments ready)."""
    return con.execute(floors_sql(LOCAL_ROWS, LOCAL_MIN_ROWS)).fetchall()
