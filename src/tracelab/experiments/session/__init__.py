"""Experiments of category `session`: the agentic loop, context growth and compaction, cost and
wall-clock time per session / request / step (Tables 2–5, 7) and one session's timeline (Fig. 10).

Definitions live in `tracelab.metrics.session` (SQL); this package turns them into tables, words
and figures.

One module per experiment (its compute step, figures and private helpers); `_shared` holds
what several of them use.
"""

# Importing a module registers its experiment, so the order below is the study's order
# (of `tracelab analyze --list` and the report): keep it, don't sort it.
# isort: off
from tracelab.experiments.session import loop_counts
from tracelab.experiments.session import context_growth
from tracelab.experiments.session import compaction
from tracelab.experiments.session import cost_distribution
from tracelab.experiments.session import timing
from tracelab.experiments.session import session_timeline
from tracelab.experiments.session import duration_cdfs
from tracelab.experiments.session import session_token_steps
# isort: on

__all__ = [
    "compaction",
    "context_growth",
    "cost_distribution",
    "duration_cdfs",
    "loop_counts",
    "session_timeline",
    "session_token_steps",
    "timing",
]
