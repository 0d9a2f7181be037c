"""`session/loop_counts` (Table 2): requests, user- and tool-initiated steps and tool calls per
session, request and step.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result
from tracelab.experiments.common import QUANTILES, share
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.experiments.session._shared import _block_tables, _lookup
from tracelab.metrics.session import (
    REQUEST_COUNTS,
    SESSION_COUNTS,
    Block,
    block_distributions,
    prepare_session,
)

LOOP_BLOCKS = [
    Block(
        "Per session",
        SESSION_COUNTS,
        {
            "Requests": "requests",
            "User-initiated steps": "user_steps",
            "Tool-initiated steps": "tool_steps",
            "Tool calls": "tool_calls",
        },
    ),
    Block(
        "Per request",
        REQUEST_COUNTS,
        {
            "User-initiated steps": "user_steps",
            "Tool-initiated steps": "tool_steps",
            "Tool calls": "tool_calls",
        },
    ),
    Block("Per step", "FROM step_facts", {"Tool calls": "coalesce(tool_call_count, 0)"}),
]


@experiment(
    "session/loop_counts",
    title="The autonomous loop: requests, steps and tool calls",
    question="How many requests, user- and tool-initiated steps and tool calls make up a "
    "session, a request and a step?",
    definitions="""
- **User-initiated step**: its first input event is a `user_message`; **tool-initiated**: a
  `tool_result` (a step with no input event is neither).
- **Request** (amendments §14.2): a step *opens* a request when it has a `user_message`
  timestamped at or before its earliest model output (whatever its first input event); the
  request is that step and the steps after it, up to the next opening step (`request_facts`).
  The steps before a session's first opening step belong to no request: they count in the
  per-session and per-step rows, not in the per-request ones.
- **Tool calls**: `tool_call_count` of the step, summed per request and session.
- Distributions are over sessions, requests and steps; the second table repeats them per
  provider.
""",
    study_item="Table 2",
)
def loop_counts(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, LOOP_BLOCKS, QUANTILES)
    tables = _block_tables(
        dists, "table2_loop_counts", "Table 2 — requests, steps and tool calls", "float", QUANTILES
    )
    return Result(tables, _loop_text(dists))


def _loop_text(dists: list[dict[str, Any]]) -> str:
    d = _lookup(dists)
    if not d or not d[("Per step", "Tool calls")]["n"]:
        return "The trace has no steps, so there is no loop to count."

    def avg(block: str, metric: str) -> str:
        return format_value(d[(block, metric)]["avg"], "float")

    sessions = d[("Per session", "Requests")]
    user = d[("Per session", "User-initiated steps")]["total"]
    tool = d[("Per session", "Tool-initiated steps")]["total"]
    return (
        f"A session has {avg('Per session', 'Requests')} requests on average (median "
        f"{format_value(sessions['p50'], 'float')}, p99 {format_value(sessions['p99'], 'float')}"
        f") over {format_value(sessions['n'], 'int')} sessions. A request takes "
        f"{avg('Per request', 'Tool-initiated steps')} tool-initiated steps and "
        f"{avg('Per request', 'Tool calls')} tool calls on average, and a step makes "
        f"{avg('Per step', 'Tool calls')} tool calls. Tool-initiated steps are "
        f"{format_value(share(tool, user + tool), 'pct')} of the user- and tool-initiated "
        "steps: the loop runs mostly on its own."
    )
