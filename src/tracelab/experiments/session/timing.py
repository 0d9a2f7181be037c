"""`session/timing` (Table 7): the wall-clock time of sessions, requests, steps and single
latencies, split into human thinking, LLM generation and tool execution.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.experiments.session._shared import TAIL_QUANTILES, _block_tables, _lookup
from tracelab.metrics.session import (
    HUMAN_CAP_MS,
    POSITIVE_GENERATION,
    POSITIVE_TOOL_LATENCIES,
    POSITIVE_WAITS,
    Block,
    block_distributions,
    prepare_session,
)

_PARTS = ("Human thinking", "LLM generation", "Tool execution")
TIMING_BLOCKS = [
    Block(
        "Per session",
        "FROM session_timing",
        {
            "Total elapsed": "elapsed_ms",
            "Human thinking": "human_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS,
        "Total elapsed",
    ),
    Block(
        "Per session, human capped (1h)",
        "FROM session_timing",
        {
            "Total": "total_capped_ms",
            "Human thinking": "human_capped_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS,
        "Total",
    ),
    Block(
        "Per request",
        "FROM request_timing",
        {
            "Total (response time)": "response_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "tool_ms",
        },
        _PARTS[1:],
        "Total (response time)",
    ),
    Block(
        "Per step",
        "FROM step_timing",
        {"LLM generation": "gen_ms", "Tool execution": "tool_ms"},
        _PARTS[1:],
        "parts",
    ),
    Block(
        "Per individual latency",
        "",
        {
            "Human thinking": "wait_ms",
            "LLM generation": "gen_ms",
            "Tool execution": "effective_latency_ms",
        },
        sources={
            "Human thinking": POSITIVE_WAITS,
            "LLM generation": POSITIVE_GENERATION,
            "Tool execution": POSITIVE_TOOL_LATENCIES,
        },
    ),
]


@experiment(
    "session/timing",
    title="Where the wall-clock time goes: human, generation, tools",
    question="How is the wall-clock time of a session, a request and a step split between "
    "human thinking, LLM generation and tool execution?",
    definitions=f"""
- **Sessions** (amendments §14.1): a session belongs to the provider of its first step; a
  session whose **total elapsed** time — its last timing-event timestamp − its first — is not
  positive is left out of both session blocks.
- **Human thinking**: Σ of the session's strictly positive human input waits (previous event of
  any type in the session → the next `user_message`). **LLM generation**: Σ of positive
  observable generation times (latest input event before the first model output → last model
  output). **Tool execution**: Σ of positive effective tool latencies (internal if reported,
  else wall), per call. A session/request/step without any counts 0.
- **Human capped (1h)**: each human wait capped at {format_value(HUMAN_CAP_MS, "ms")}; the
  capped **Total** = capped human thinking + generation + tool execution (not the elapsed time
  minus what the cap removed).
- **Per request** (requests with a positive response time, amendments §14.2): a request opens at
  a step with a `user_message` timestamped at or before its earliest model output and runs to
  the next such step; response time = the latest such `user_message` of the opening step → the
  latest model output of the request's steps; generation and tool time are Σ over the
  request's steps and the tools they called.
- **Per step**: every step, its generation time (0 if not positive) and Σ of its tools' positive
  latencies.
- **Per individual latency**: each positive human wait, generation span and tool latency.
- **% time** is aggregate: Σ of the component over the units / Σ of the block's total —
  sessions: the elapsed time (so the uncapped shares need not sum to 100%: time no component
  observes, or components that overlap) and the capped total (they do); requests: the response
  time (tools may run while nothing else is observed); steps: generation + tool.
- Averages and percentiles (linear interpolation) are over the units.
""",
    study_item="Table 7",
)
def timing(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_session(con)
    dists = block_distributions(con, TIMING_BLOCKS, TAIL_QUANTILES)
    tables = _block_tables(
        dists,
        "table7_timing",
        "Table 7 — wall-clock time per session, request, step and latency",
        "ms",
        TAIL_QUANTILES,
        "% time",
    )
    return Result(tables, _timing_text(dists))


def _timing_text(dists: list[dict[str, Any]]) -> str:
    d = _lookup(dists)
    if not d or not d[("Per session", "LLM generation")]["n"]:
        return "The trace has no sessions, so there is no time to split."
    capped = "Per session, human capped (1h)"
    text = (
        "Human thinking takes "
        f"{format_value(d[('Per session', 'Human thinking')]['share'], 'pct')} of the session "
        f"time (generation {format_value(d[('Per session', 'LLM generation')]['share'], 'pct')}, "
        f"tools {format_value(d[('Per session', 'Tool execution')]['share'], 'pct')}); with each "
        f"wait capped at 1 h, {format_value(d[(capped, 'Human thinking')]['share'], 'pct')}."
    )
    req = d[("Per request", "Total (response time)")]
    if req["n"]:
        text += (
            f" A request takes {format_value(req['avg'], 'ms')} on average (median "
            f"{format_value(req['p50'], 'ms')}, p90 {format_value(req['p90'], 'ms')}); of "
            f"{format_value(req['total'], 'ms')} of response time, tools account for "
            f"{format_value(d[('Per request', 'Tool execution')]['share'], 'pct')} and "
            f"generation {format_value(d[('Per request', 'LLM generation')]['share'], 'pct')}."
        )
    waits = d[("Per individual latency", "Human thinking")]
    if waits["n"]:
        text += (
            f" Positive human waits have median {format_value(waits['p50'], 'ms')} and p90 "
            f"{format_value(waits['p90'], 'ms')}."
        )
    return text
