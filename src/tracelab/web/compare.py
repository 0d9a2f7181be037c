"""The Compare page: two groups side by side on the headline facts, better value marked.

The facts and their labels are `tracelab.summary` (Table 1 and the introduction's numbers,
each from its one metric definition). Groups are the providers of one trace (Claude vs Codex),
any two models (`by="model"`: the same metric functions grouped per model, see
`summary.summary_facts`), or the totals of two traces. "Better" is marked only where a metric
has a direction; counts, volumes and shares of a workload (steps, tokens, cost, tool mix) have
none.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.summary import FACTS, GROUPINGS, TOTAL, summary_facts

#: +1: higher is better, -1: lower is better. Everything else is not judged.
DIRECTION: dict[str, int] = {
    "prefix_hit_rate": 1,
    "prefix_hit_rate_user": 1,
    "prefix_hit_rate_tool": 1,
    "request_time_avg_ms": -1,
    "request_time_p50_ms": -1,
    "request_time_p90_ms": -1,
    "decode_speed_p50": 1,
    "decode_speed_cv": -1,
    "pure_decode_speed_p50": 1,
    "residual_ttft_p50_ms": -1,
    "prefill_amplification": -1,
}

HEADLINE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "sessions", "int"),
    ("steps", "LLM steps", "int"),
    ("tool_calls", "tool calls", "int"),
    ("input_tokens", "input tokens", "tokens"),
    ("prefix_tokens", "prefix (cache read) tokens", "tokens"),
    ("append_tokens", "append (fresh) tokens", "tokens"),
    ("output_tokens", "output tokens", "tokens"),
    ("cost", "est. API price equivalent", "usd"),
    # the cost above leaves these steps out (a model without a price is never priced at zero)
    ("unpriced_steps", "steps without a price (not in the cost)", "int"),
)


def facts(con: duckdb.DuckDBPyConnection, by: str = "provider") -> dict[str, Any]:
    """`summary_facts` of a trace per provider or per model (cached by the caller: it runs a
    few dozen queries)."""
    return summary_facts(con, by)


def default_groups(data_a: dict, data_b: dict) -> tuple[str, str]:
    """What to compare when nothing is picked: the first two groups of the trace (Claude vs
    Codex, or its two busiest models); one group against the total when there is only one."""
    groups_a, groups_b = data_a["groups"], data_b["groups"]
    ga = groups_a[0] if groups_a else TOTAL
    gb = groups_b[1] if len(groups_b) > 2 else TOTAL
    return ga, gb


def better(key: str, a: Any, b: Any) -> str | None:
    """'a', 'b' or None (no direction, a tie, or a value missing)."""
    sign = DIRECTION.get(key)
    if sign is None or a is None or b is None or a == b:
        return None
    return "a" if (a - b) * sign > 0 else "b"


def rows(head_a: dict, facts_a: dict, head_b: dict, facts_b: dict) -> list[dict[str, Any]]:
    """The comparison table: metric, kind, both values, which is better (if it has a way)."""
    out = []
    for key, label, kind in HEADLINE_ROWS:
        a, b = head_a.get(key), head_b.get(key)
        out.append({"key": key, "label": label, "kind": kind, "a": a, "b": b, "better": None})
    for key, label, kind in FACTS:
        a, b = facts_a.get(key), facts_b.get(key)
        out.append(
            {
                "key": key,
                "label": label,
                "kind": kind,
                "a": a,
                "b": b,
                "better": better(key, a, b),
                "direction": DIRECTION.get(key),
            }
        )
    return out


def compare_groups(data_a: dict, group_a: str, data_b: dict, group_b: str) -> list[dict]:
    """Rows comparing group `group_a` of summary `data_a` with `group_b` of `data_b`."""
    return rows(
        data_a["headline"].get(group_a, {}),
        data_a["facts"].get(group_a, {}),
        data_b["headline"].get(group_b, {}),
        data_b["facts"].get(group_b, {}),
    )


__all__ = ["GROUPINGS", "TOTAL", "compare_groups", "default_groups", "facts"]
