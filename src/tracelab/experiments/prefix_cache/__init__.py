"""Experiments of category `prefix_cache` (study §7): Tables 11–13, Figs. 11–12.

The numbers come from `tracelab.metrics.cache` (one SQL definition per metric); this package
lays them out as the study's tables, states them in words and draws the figures from the tables.
`timeout_miss_pattern` is the one exception: a schematic drawn from a seeded synthetic series.

One module per experiment (its compute step, figures and private helpers); `_shared` holds
what several of them use.
"""

# Importing a module registers its experiment, so the order below is the study's order
# (of `tracelab analyze --list` and the report): keep it, don't sort it.
# isort: off
from tracelab.experiments.prefix_cache import hit_rate
from tracelab.experiments.prefix_cache import fresh_tokens
from tracelab.experiments.prefix_cache import cache_replay
from tracelab.experiments.prefix_cache import hit_vs_gap
from tracelab.experiments.prefix_cache import eviction_sweep
from tracelab.experiments.prefix_cache import human_thinking_cost
from tracelab.experiments.prefix_cache import kv_cache_active_ratio
from tracelab.experiments.prefix_cache import timeout_miss_pattern
# isort: on

__all__ = [
    "cache_replay",
    "eviction_sweep",
    "fresh_tokens",
    "hit_rate",
    "hit_vs_gap",
    "human_thinking_cost",
    "kv_cache_active_ratio",
    "timeout_miss_pattern",
]
