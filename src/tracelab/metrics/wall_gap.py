"""Codex wall − internal latency gap (amendments §13; the reference's `codex_wall_internal_gap`,
the extras of Table 10 / §6.3).

Codex calls only (`tool_facts`, provider 'codex'), tool names as stored. A call is **valid** when
wall and internal latency are both non-null, wall > 0 and internal ≥ 0; its
`gap = max(wall − internal, 0)` (ms). Quantiles are linear (`quantile_cont`). Unlike Table 10's
residual (`metrics.tools.overhead`: signed, wall ≥ 0), the gap is clipped at 0 and needs a
positive wall.

Categories: **execution_like** = `EXECUTION_LIKE`; for the gap buckets `write_stdin` is its own
category and the remaining valid calls are `other_both_timed`; for the per-category sums
`direct_human` = {request_user_input} and **other** is everything else (write_stdin included).

The **approval audit** classes the valid execution_like and write_stdin calls by the
`sandbox_permissions` of their raw `function_call` record. The raw logs are read by
`sources.codex_permissions` (only the class comes back); here the classes become the TEMP table
`raw_call_classes` (session_file, call id, class), joined to the calls by the raw log their step
was read from and the call id, and summed in SQL like every other gap.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.metrics.sql import dist_sql, records
from tracelab.metrics.steps import prepare
from tracelab.metrics.tools import TOOL
from tracelab.sources.codex_permissions import RAW_MISSING

EXECUTION_LIKE = ("exec_command", "shell_command", "shell", "apply_patch")
DIRECT_HUMAN = ("request_user_input",)
#: Tools whose wall time is (mostly) a person's or another agent's time.
DIRECT_HUMAN_WALL = ("request_user_input", "wait_agent", "send_input", "update_plan")
#: Upper-inclusive gap buckets (label, upper bound ms; None: above the last).
GAP_BUCKETS = (
    ("≤1 s", 1_000),
    ("≤10 s", 10_000),
    ("≤1 m", 60_000),
    ("≤10 m", 600_000),
    ("≤1 h", 3_600_000),
    (">1 h", None),
)
#: Thresholds of the per-tool "gap > x" counts (label, ms).
GAP_OVER = (("1s", 1_000), ("10s", 10_000), ("1m", 60_000), ("10m", 600_000), ("1h", 3_600_000))
TOP_EXAMPLES = 50
ALL = "all"
#: The approval audit's calls (valid ones), its examples and their gap threshold (ms; also
#: the threshold of its "gap > 1 m" counts).
AUDIT_TOOLS = (*EXECUTION_LIKE, "write_stdin")
AUDIT_EXAMPLES = 200
AUDIT_EXAMPLE_GAP_MS = 60_000


def _in(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


CODEX_CALLS = f"""
SELECT *, {TOOL} AS tool,
       tool_wall_latency_ms AS wall, tool_internal_latency_ms AS internal,
       tool_wall_latency_ms IS NOT NULL AND tool_internal_latency_ms IS NOT NULL
           AND tool_wall_latency_ms > 0 AND tool_internal_latency_ms >= 0 AS valid,
       greatest(tool_wall_latency_ms - tool_internal_latency_ms, 0) AS gap
FROM tool_facts WHERE provider = 'codex'
"""

_COVERAGE = """
count(*) AS calls, count(wall) AS wall_calls, count(internal) AS internal_calls,
count(*) FILTER (WHERE wall IS NOT NULL AND internal IS NOT NULL) AS both_calls,
count(*) FILTER (WHERE wall IS NOT NULL AND internal IS NULL) AS wall_only_calls,
coalesce(sum(wall), 0) AS wall_ms, coalesce(sum(internal), 0) AS internal_ms
"""

_GAP_OVER = ", ".join(
    f"count(*) FILTER (WHERE gap > {ms}) AS gap_over_{label}" for label, ms in GAP_OVER
)


def _bucket_case(value: str) -> str:
    """SQL of a call's gap bucket (upper-inclusive, `GAP_BUCKETS`), as `value` formats it with
    the bucket's `label` and position `i`."""
    last = len(GAP_BUCKETS) - 1
    whens = " ".join(
        f"WHEN gap <= {ms} THEN {value.format(label=label, i=i)}"
        for i, (label, ms) in enumerate(GAP_BUCKETS)
        if ms is not None
    )
    return f"CASE {whens} ELSE {value.format(label=GAP_BUCKETS[last][0], i=last)} END"


#: A call's gap bucket: its label, and its position in `GAP_BUCKETS` (for ordering).
BUCKET_SQL = _bucket_case("'{label}'")
BUCKET_POS_SQL = _bucket_case("{i}")
BUCKET_CATEGORY_SQL = (
    f"CASE WHEN tool IN {_in(EXECUTION_LIKE)} THEN 'execution_like' "
    "WHEN tool = 'write_stdin' THEN 'write_stdin' ELSE 'other_both_timed' END"
)
CATEGORY_SQL = (
    f"CASE WHEN tool IN {_in(DIRECT_HUMAN)} THEN 'direct_human' "
    f"WHEN tool IN {_in(EXECUTION_LIKE)} THEN 'execution_like' ELSE 'other' END"
)


def _q(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    prepare(con)
    return records(con, f"WITH c AS ({CODEX_CALLS}) {sql}")


def coverage(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per tool (all Codex calls): calls, calls with wall / internal / both / wall only, Σ wall,
    Σ internal (ms); by calls descending."""
    return _q(con, f"SELECT tool, {_COVERAGE} FROM c GROUP BY tool ORDER BY calls DESC, tool")


def per_tool_gaps(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per tool, valid calls: Σ wall / internal / gap, gap share of wall, mean and p50/p90/p99
    gap, counts of gap > 1 s … 1 h; by Σ gap descending."""
    return _q(
        con,
        f"""
        SELECT tool, count(*) AS calls, sum(wall) AS wall_ms, sum(internal) AS internal_ms,
               sum(gap) AS gap_ms, sum(gap) / sum(wall) AS gap_share,
               {dist_sql("gap", (0.5, 0.9, 0.99))}, {_GAP_OVER}
        FROM c WHERE valid GROUP BY tool ORDER BY gap_ms DESC, tool
        """,
    )


def gap_buckets(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per bucket category and gap bucket (every bucket listed), valid calls: calls, Σ gap, share
    of the category's Σ gap."""
    buckets = ", ".join(f"('{label}', {i})" for i, (label, _) in enumerate(GAP_BUCKETS))
    return _q(
        con,
        f"""
        , g AS (
            SELECT {BUCKET_CATEGORY_SQL} AS category, {BUCKET_SQL} AS bucket, count(*) AS calls,
                   sum(gap) AS gap_ms
            FROM c WHERE valid GROUP BY ALL
        ),
        cats AS (SELECT DISTINCT category FROM g),
        b AS (SELECT * FROM (VALUES {buckets}) b(bucket, pos))
        SELECT cats.category, b.bucket, coalesce(g.calls, 0) AS calls,
               coalesce(g.gap_ms, 0) AS gap_ms,
               coalesce(g.gap_ms, 0) / nullif(sum(g.gap_ms) OVER (PARTITION BY cats.category), 0)
                   AS gap_share
        FROM cats CROSS JOIN b LEFT JOIN g USING (category, bucket)
        ORDER BY cats.category, b.pos
        """,
    )


def by_category(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per category (direct_human, execution_like, other): the coverage sums, valid calls, Σ gap
    and gap % of Σ wall over **all** the category's wall-timed calls."""
    return _q(
        con,
        f"""
        SELECT {CATEGORY_SQL} AS category, {_COVERAGE},
               count(*) FILTER (WHERE valid) AS valid_calls,
               coalesce(sum(gap) FILTER (WHERE valid), 0) AS gap_ms,
               sum(gap) FILTER (WHERE valid) / nullif(sum(wall), 0) AS gap_share
        FROM c GROUP BY 1 ORDER BY 1
        """,
    )


def direct_human_wall(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per direct-human tool and 'all', calls with a wall latency: calls, Σ, mean, p50/p90/p99,
    counts > 1 m and > 1 h (ms)."""
    return _q(
        con,
        f"""
        SELECT coalesce(tool, '{ALL}') AS tool, count(*) AS calls, sum(wall) AS wall_ms,
               {dist_sql("wall", (0.5, 0.9, 0.99))},
               count(*) FILTER (WHERE wall > 60000) AS over_1m,
               count(*) FILTER (WHERE wall > 3600000) AS over_1h
        FROM c WHERE tool IN {_in(DIRECT_HUMAN_WALL)} AND wall IS NOT NULL
        GROUP BY ROLLUP (tool) ORDER BY grouping(tool), tool
        """,
    )


def top_gaps(con: duckdb.DuckDBPyConnection, n: int = TOP_EXAMPLES) -> list[dict[str, Any]]:
    """The `n` valid calls with the largest gap (ties: file order, then tool index)."""
    return _q(
        con,
        f"""
        SELECT session_id, round_pk, tool_index, tool, tool_call_id, emitted_at, result_at,
               wall AS wall_ms, internal AS internal_ms, gap AS gap_ms, input_chars,
               result_chars, is_error, model
        FROM c WHERE valid ORDER BY gap DESC, round_pk, tool_index LIMIT {int(n)}
        """,
    )


def audit_files(con: duckdb.DuckDBPyConnection) -> tuple[list[str], int, int]:
    """The approval audit's population — valid Codex execution_like / write_stdin calls —:
    the raw logs its steps were read from (`session_file`, a private trace's only), the number
    of its calls and of those whose step names no log."""
    prepare(con)
    per_file = con.execute(
        f"""
        WITH c AS ({CODEX_CALLS})
        SELECT r.session_file, count(*) FROM c JOIN rounds r USING (round_pk)
        WHERE c.valid AND c.tool IN {_in(AUDIT_TOOLS)}
        GROUP BY 1 ORDER BY 1 NULLS FIRST
        """
    ).fetchall()
    files = [f for f, _ in per_file if f is not None]
    unnamed = sum(n for f, n in per_file if f is None)
    return files, sum(n for _, n in per_file), unnamed


def register_raw_classes(
    con: duckdb.DuckDBPyConnection,
    session_files: list[str],
    call_ids: list[str],
    classes: list[str],
) -> None:
    """TEMP table `raw_call_classes` (session_file, tool_call_id, class): the class of each
    `function_call` record of the raw logs read (`sources.codex_permissions.read_logs`)."""
    import pyarrow as pa

    columns = {"session_file": session_files, "tool_call_id": call_ids, "class": classes}
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    con.register("_raw_call_classes_arrow", table)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE raw_call_classes AS SELECT * FROM _raw_call_classes_arrow"
        )
    finally:
        con.unregister("_raw_call_classes_arrow")


#: The audited calls with their class: the step's raw log's record for the call id, else
#: `raw_missing` (no `function_call` record: a custom tool call, or a log that is gone).
_AUDITED = f"""
WITH c AS ({CODEX_CALLS})
SELECT c.*, coalesce(k.class, '{RAW_MISSING}') AS class
FROM c JOIN rounds r USING (round_pk)
LEFT JOIN raw_call_classes k
    ON k.session_file = r.session_file AND k.tool_call_id = c.tool_call_id
WHERE c.valid AND c.tool IN {_in(AUDIT_TOOLS)} AND r.session_file IS NOT NULL
"""


def approval_by_class(
    con: duckdb.DuckDBPyConnection, by_bucket: bool = False
) -> list[dict[str, Any]]:
    """Per (tool, class[, gap bucket]) of the audited calls: calls, Σ wall / internal / gap, and
    calls with gap > 1 m; buckets in their order (only those with calls)."""
    bucket = f"{BUCKET_SQL} AS bucket, {BUCKET_POS_SQL} AS pos"
    keys = "tool, class, bucket, pos" if by_bucket else "tool, class"
    return records(
        con,
        f"""
        WITH a AS ({_AUDITED}), b AS (SELECT *, {bucket} FROM a)
        SELECT {keys.removesuffix(", pos")}, count(*) AS calls, sum(wall) AS wall_ms,
               sum(internal) AS internal_ms, sum(gap) AS gap_ms,
               count(*) FILTER (WHERE gap > {AUDIT_EXAMPLE_GAP_MS}) AS gap_over_1m
        FROM b GROUP BY {keys} ORDER BY {keys}
        """,
    )


def approval_examples(
    con: duckdb.DuckDBPyConnection, n: int = AUDIT_EXAMPLES
) -> list[dict[str, Any]]:
    """The `n` audited calls with the largest gap above `AUDIT_EXAMPLE_GAP_MS` (ties: file
    order, then tool index)."""
    return records(
        con,
        f"""
        WITH a AS ({_AUDITED})
        SELECT session_id, round_pk, tool_index, tool, tool_call_id, class, emitted_at,
               result_at, wall AS wall_ms, internal AS internal_ms, gap AS gap_ms, is_error,
               model
        FROM a WHERE gap > {AUDIT_EXAMPLE_GAP_MS}
        ORDER BY gap DESC, round_pk, tool_index LIMIT {int(n)}
        """,
    )
