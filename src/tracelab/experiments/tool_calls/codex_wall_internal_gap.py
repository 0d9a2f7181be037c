"""`tool_calls/codex_wall_internal_gap` (amendments §13; Table 10 / §6.3 extras): where Codex
tool calls' wall time exceeds the runner's own (internal) time, and by how much.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result
from tracelab.experiments.fmt import count, format_value, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import _table
from tracelab.metrics import wall_gap as m

COVERAGE = {
    "calls": ("calls", "int"),
    "wall timed": ("wall_calls", "int"),
    "internal timed": ("internal_calls", "int"),
    "both": ("both_calls", "int"),
    "wall only": ("wall_only_calls", "int"),
    "Σ wall": ("wall_ms", "ms"),
    "Σ internal": ("internal_ms", "ms"),
}
QUANTS = {"mean gap": ("avg", "ms"), "p50": ("p50", "ms"), "p90": ("p90", "ms")}
QUANTS["p99"] = ("p99", "ms")
NO_AUDIT = (
    "The approval audit (sandbox_permissions of each call in the raw Codex logs) is not "
    "computed: {reason}."
)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names)


@experiment(
    "tool_calls/codex_wall_internal_gap",
    title="Codex tool calls: wall time beyond the runner's internal time",
    question="How much of the Codex tool calls' wall time lies outside the time the tool runner "
    "reports itself — in which tools, how large, and how much of it is waiting on people?",
    definitions=f"""
- Codex calls only. A call is **valid** when wall and internal latency are both non-null, wall
  > 0 and internal ≥ 0; its **gap** = max(wall − internal, 0) (ms). (Table 10's residual keeps
  the sign and accepts wall = 0; the reference's gap analysis clips and needs wall > 0.)
  Quantiles are linear.
- **Coverage** per tool over all calls: calls, calls with a wall / internal / both / wall only,
  Σ wall and Σ internal.
- **Per tool** over valid calls: Σ wall / internal / gap, gap % of wall, mean and p50/p90/p99
  gap, counts of gap > 1 s, 10 s, 1 m, 10 m, 1 h.
- **Gap buckets** over valid calls, upper-inclusive (≤1 s, ≤10 s, ≤1 m, ≤10 m, ≤1 h, >1 h), in
  the categories execution_like ({_names(m.EXECUTION_LIKE)}), `write_stdin` and
  other_both_timed; calls, Σ gap and share of the category's Σ gap.
- **By category**: direct_human ({_names(m.DIRECT_HUMAN)}), execution_like, other (everything
  else, `write_stdin` included): the coverage sums, valid calls, Σ gap, and gap % of the Σ wall
  of **all** the category's wall-timed calls (the reference's denominator).
- **Direct-human wall time**: {_names(m.DIRECT_HUMAN_WALL)} with a wall latency: calls, Σ, mean,
  p50/p90/p99, counts > 1 m and > 1 h.
- **Top gaps**: the {m.TOP_EXAMPLES} valid calls with the largest gap (the reference breaks no
  ties; here file order, then tool index).
- The reference's **approval audit** joins calls to the raw Codex `function_call` records by
  (session, call id) for their `sandbox_permissions`; it needs the raw logs, which a sanitized
  or public trace does not point to, and is not computed here (the result says why).
""",
    study_item="Table 10, §6.3",
)
def codex_wall_internal_gap(con: duckdb.DuckDBPyConnection) -> Result:
    coverage = m.coverage(con)
    per_tool = m.per_tool_gaps(con)
    categories = m.by_category(con)
    over = {f"gap > {label}": (f"gap_over_{label}", "int") for label, _ in m.GAP_OVER}
    top = [
        r | {"emitted_at": _iso(r["emitted_at"]), "result_at": _iso(r["result_at"])}
        for r in m.top_gaps(con)
    ]
    tables = [
        _table(
            "codex_gap_coverage",
            "Timing coverage per Codex tool (all calls)",
            coverage,
            {"tool": ("tool", "text"), **COVERAGE},
        ),
        _table(
            "codex_gap_by_tool",
            "Wall − internal gap per Codex tool (valid calls)",
            per_tool,
            {
                "tool": ("tool", "text"),
                "valid calls": ("calls", "int"),
                "Σ wall": ("wall_ms", "ms"),
                "Σ internal": ("internal_ms", "ms"),
                "Σ gap": ("gap_ms", "ms"),
                "gap % of wall": ("gap_share", "pct"),
                **QUANTS,
                **over,
            },
        ),
        _table(
            "codex_gap_buckets",
            "Gap buckets per category (valid calls)",
            m.gap_buckets(con),
            {
                "category": ("category", "text"),
                "gap bucket": ("bucket", "text"),
                "calls": ("calls", "int"),
                "Σ gap": ("gap_ms", "ms"),
                "share of category gap": ("gap_share", "pct"),
            },
        ),
        _table(
            "codex_gap_by_category",
            "Coverage and gap per category",
            categories,
            {
                "category": ("category", "text"),
                **COVERAGE,
                "valid calls": ("valid_calls", "int"),
                "Σ gap": ("gap_ms", "ms"),
                "gap % of wall": ("gap_share", "pct"),
            },
        ),
        _table(
            "codex_direct_human_wall",
            "Wall time of the direct-human tools",
            m.direct_human_wall(con),
            {
                "tool": ("tool", "text"),
                "calls": ("calls", "int"),
                "Σ wall": ("wall_ms", "ms"),
                "mean": ("avg", "ms"),
                "p50": ("p50", "ms"),
                "p90": ("p90", "ms"),
                "p99": ("p99", "ms"),
                "> 1 m": ("over_1m", "int"),
                "> 1 h": ("over_1h", "int"),
            },
        ),
        _table(
            "codex_gap_top_examples",
            f"The {m.TOP_EXAMPLES} valid calls with the largest gap",
            top,
            {
                "session": ("session_id", "text"),
                "round_pk": ("round_pk", "int"),
                "tool index": ("tool_index", "int"),
                "tool": ("tool", "text"),
                "call id": ("tool_call_id", "text"),
                "emitted at": ("emitted_at", "text"),
                "result at": ("result_at", "text"),
                "wall": ("wall_ms", "ms"),
                "internal": ("internal_ms", "ms"),
                "gap": ("gap_ms", "ms"),
                "input chars": ("input_chars", "int"),
                "result chars": ("result_chars", "int"),
                "error": ("is_error", "text"),
                "model": ("model", "text"),
            },
        ),
    ]
    reason = (
        "computing it from the raw Codex logs named by this trace is not implemented yet"
        if m.raw_paths_available(con)
        else "this trace does not name its raw Codex logs (only a private trace does)"
    )
    return Result(tables, _text(coverage, categories) + " " + NO_AUDIT.format(reason=reason))


def _iso(ts: Any) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _text(coverage: list[dict[str, Any]], categories: list[dict[str, Any]]) -> str:
    calls = sum(r["calls"] for r in coverage)
    if not calls:
        return "The trace has no Codex tool calls, so there is no wall − internal gap."
    valid = sum(r["valid_calls"] for r in categories)
    gap = sum(r["gap_ms"] for r in categories)
    parts = ", ".join(
        f"{r['category']} {format_value(r['gap_ms'], 'ms')} ({pct(r['gap_share'])} of its wall)"
        for r in categories
    )
    return (
        f"{count(valid)} of {count(calls)} Codex tool calls are valid (both timings, wall > 0); "
        f"their wall time exceeds the runner's internal time by {format_value(gap, 'ms')} "
        f"in total: {parts}."
    )
