"""`tool_calls/codex_wall_internal_gap` (amendments §13; Table 10 / §6.3 extras): where Codex
tool calls' wall time exceeds the runner's own (internal) time, and by how much.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.fmt import count, format_value, pct
from tracelab.experiments.registry import experiment
from tracelab.experiments.tool_calls._shared import _table
from tracelab.metrics import wall_gap as m
from tracelab.sources import codex_permissions as cp

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
AUDIT_SUMS = {
    "calls": ("calls", "int"),
    "Σ wall": ("wall_ms", "ms"),
    "Σ internal": ("internal_ms", "ms"),
    "Σ gap": ("gap_ms", "ms"),
    "gap > 1 m": ("gap_over_1m", "int"),
}

#: The columns every example table (top gaps, approval audit) starts with: which call it is …
EXAMPLE_CALL = {
    "session": ("session_id", "text"),
    "round_pk": ("round_pk", "int"),
    "tool index": ("tool_index", "int"),
    "tool": ("tool", "text"),
    "call id": ("tool_call_id", "text"),
}
#: … and its times (`_example_rows` writes the two instants as ISO text).
EXAMPLE_TIMES = {
    "emitted at": ("emitted_at", "text"),
    "result at": ("result_at", "text"),
    "wall": ("wall_ms", "ms"),
    "internal": ("internal_ms", "ms"),
    "gap": ("gap_ms", "ms"),
}
EXAMPLE_TAIL = {"error": ("is_error", "text"), "model": ("model", "text")}


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
- **Approval audit** (private traces whose raw Codex logs are at hand): the valid
  execution_like and `write_stdin` calls, each joined to the `function_call` record of its
  call id in the raw log its step was read from (`session_file`); the class comes from
  `arguments.sandbox_permissions`: `{cp.REQUIRE_ESCALATED}` (the model asked to leave the
  sandbox: the call waited for approval), `sandbox_<value>` for any other value,
  `{cp.NO_ESCALATION_ARG}` (no such argument, or arguments that are no JSON object), and
  `{cp.RAW_MISSING}` (no `function_call` record with that id — e.g. a `custom_tool_call`
  `apply_patch` — or the log can no longer be read; the result counts unreadable logs). Per
  (tool, class) and per (tool, class, gap bucket): calls, Σ wall / internal / gap, calls with
  gap > 1 m; the {m.AUDIT_EXAMPLES} audited calls with the largest gap over
  {m.AUDIT_EXAMPLE_GAP_MS // 1000} s. The reference keys the raw records by (session id,
  call id) over every log; the step's own log names the same record. A sanitized or public
  trace names no raw log, so there the audit is skipped and the result says why. Only the
  class is read out of the logs, never an argument.
""",
    study_item="Table 10, §6.3",
)
def codex_wall_internal_gap(con: duckdb.DuckDBPyConnection) -> Result:
    coverage = m.coverage(con)
    per_tool = m.per_tool_gaps(con)
    categories = m.by_category(con)
    over = {f"gap > {label}": (f"gap_over_{label}", "int") for label, _ in m.GAP_OVER}
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
            _example_rows(m.top_gaps(con)),
            {
                **EXAMPLE_CALL,
                **EXAMPLE_TIMES,
                "input chars": ("input_chars", "int"),
                "result chars": ("result_chars", "int"),
                **EXAMPLE_TAIL,
            },
        ),
    ]
    audit_tables, audit_text = _approval_audit(con)
    return Result(tables + audit_tables, _text(coverage, categories) + " " + audit_text)


def _approval_audit(con: duckdb.DuckDBPyConnection) -> tuple[list[Table], str]:
    """The audit's tables and its sentence; no tables (and the reason) when it cannot run."""
    files, calls, unnamed = m.audit_files(con)
    if not calls:
        reason = "the trace has no valid Codex execution_like or write_stdin call"
    elif not files:
        reason = (
            "this trace does not name its raw Codex logs (a sanitized or public trace never "
            "does; analyze the private trace `tracelab collect` wrote)"
        )
    else:
        raw = cp.read_logs(files)
        if len(raw.unreadable) == raw.files:
            reason = (
                f"none of the {_logs(raw.files)} this trace names can be read here (moved or "
                "deleted since it was collected?)"
            )
        else:
            m.register_raw_classes(con, raw.session_files, raw.call_ids, raw.classes)
            by_class = m.approval_by_class(con)
            return _audit_tables(con, by_class), _audit_text(by_class, raw, unnamed)
    return [], NO_AUDIT.format(reason=reason)


def _logs(n: int) -> str:
    return f"{count(n)} raw Codex log{'' if n == 1 else 's'}"


def _audit_tables(con: duckdb.DuckDBPyConnection, by_class: list[dict[str, Any]]) -> list[Table]:
    tool_class = {"tool": ("tool", "text"), "class": ("class", "text")}
    return [
        _table(
            "codex_approval_by_class",
            "Approval audit: audited calls per tool and approval class",
            by_class,
            {**tool_class, **AUDIT_SUMS},
        ),
        _table(
            "codex_approval_by_bucket",
            "Approval audit: per tool, approval class and gap bucket",
            m.approval_by_class(con, by_bucket=True),
            {**tool_class, "gap bucket": ("bucket", "text"), **AUDIT_SUMS},
        ),
        _table(
            "codex_approval_examples",
            f"Approval audit: the {m.AUDIT_EXAMPLES} audited calls with the largest gap over "
            f"{m.AUDIT_EXAMPLE_GAP_MS // 1000} s",
            _example_rows(m.approval_examples(con)),
            {**EXAMPLE_CALL, "class": ("class", "text"), **EXAMPLE_TIMES, **EXAMPLE_TAIL},
        ),
    ]


def _audit_text(by_class: list[dict[str, Any]], raw: cp.RawLogs, unnamed: int) -> str:
    per_class: dict[str, list[float]] = {}
    for r in by_class:
        sums = per_class.setdefault(r["class"], [0, 0])
        sums[0] += r["calls"]
        sums[1] += r["gap_ms"]
    parts = ", ".join(
        f"{cls} {count(n)} ({format_value(gap, 'ms')} of gap)"
        for cls, (n, gap) in sorted(per_class.items(), key=lambda kv: (-kv[1][0], kv[0]))
    )
    text = (
        f"Approval audit of {count(sum(n for n, _ in per_class.values()))} valid "
        "execution_like / write_stdin calls "
        f"against {_logs(raw.files)}: {parts}."
    )
    if raw.unreadable:
        text += (
            f" {count(len(raw.unreadable))} of the logs could not be read (moved or deleted "
            f"since the trace was collected?); their calls are {cp.RAW_MISSING}."
        )
    if unnamed:
        text += f" {count(unnamed)} calls of steps without a raw log path are not audited."
    return text


def _example_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Example rows with their emitted / result instants as ISO text (UTC as `Z`)."""
    return [r | {k: _iso(r[k]) for k in ("emitted_at", "result_at")} for r in rows]


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
