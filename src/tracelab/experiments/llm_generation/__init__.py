"""Experiments of category `llm_generation` (study §5): token sizes, output attribution, timing.

Tables 8–9 and Figs. 1–6 plus the generation-time CDF. Every metric comes from
`tracelab.metrics.generation` (bins, attribution classes, decode speeds) over the step facts;
figures draw only from the returned tables.

One module per experiment (its compute step, figures and private helpers); `_shared` holds
what several of them use.
"""

# Importing a module registers its experiment, so the order below is the study's order
# (of `tracelab analyze --list` and the report): keep it, don't sort it.
# isort: off
from tracelab.experiments.llm_generation import token_distribution
from tracelab.experiments.llm_generation import append_by_prefix
from tracelab.experiments.llm_generation import prefix_append_scatter
from tracelab.experiments.llm_generation import append_share
from tracelab.experiments.llm_generation import output_attribution
from tracelab.experiments.llm_generation import output_schematic
from tracelab.experiments.llm_generation import decode_speed
from tracelab.experiments.llm_generation import generation_time_cdf
from tracelab.experiments.llm_generation import adjusted_prefix_append
from tracelab.experiments.llm_generation import token_spindles
from tracelab.experiments.llm_generation import timing_fit
from tracelab.experiments.llm_generation import append_vs_prefix_latency
# isort: on

__all__ = [
    "adjusted_prefix_append",
    "append_by_prefix",
    "append_share",
    "append_vs_prefix_latency",
    "decode_speed",
    "generation_time_cdf",
    "output_attribution",
    "output_schematic",
    "prefix_append_scatter",
    "timing_fit",
    "token_distribution",
    "token_spindles",
]
