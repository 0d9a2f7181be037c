"""Experiments of category `tool_calls`: which tools run, how long they take, what they cost in
overhead (Fig. 7, 8, 9, Table 10) and how calls spread over tool categories.

Every number comes from `tracelab.metrics.tools` (SQL over `tool_facts`); the figures draw only
the tables the experiments compute.

One module per experiment (its compute step, figures and private helpers); `_shared` holds
what several of them use.
"""

# Importing a module registers its experiment, so the order below is the study's order
# (of `tracelab analyze --list` and the report): keep it, don't sort it.
# isort: off
from tracelab.experiments.tool_calls import tool_popularity
from tracelab.experiments.tool_calls import latency_share
from tracelab.experiments.tool_calls import tool_latency
from tracelab.experiments.tool_calls import tool_overhead
from tracelab.experiments.tool_calls import codex_wall_internal_gap
from tracelab.experiments.tool_calls import tool_categories
from tracelab.experiments.tool_calls import tool_time_by_kind
from tracelab.experiments.tool_calls import long_tool_calls
# isort: on

__all__ = [
    "codex_wall_internal_gap",
    "latency_share",
    "long_tool_calls",
    "tool_categories",
    "tool_latency",
    "tool_overhead",
    "tool_popularity",
    "tool_time_by_kind",
]
