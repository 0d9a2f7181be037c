"""The list of experiments: each category module registers its experiments on import.

Order of `CATEGORIES` is the order of the study (and of the report's table of contents).
"""

from __future__ import annotations

import importlib

from tracelab.experiments.base import Compute, Experiment

CATEGORIES = (
    "trace_facts",
    "session",
    "llm_generation",
    "tool_calls",
    "prefix_cache",
    "human_in_the_loop",
)

_REGISTRY: dict[str, Experiment] = {}


def experiment(id: str, *, title: str, question: str, definitions: str, study_item: str):
    """Decorator: register `compute` as experiment `id`; returns the `Experiment`."""

    def register(compute: Compute) -> Experiment:
        category = id.split("/", 1)[0]
        if category not in CATEGORIES or "/" not in id:
            raise ValueError(
                f"experiment id {id!r} must be <category>/<name>, category in "
                f"{', '.join(CATEGORIES)}"
            )
        if id in _REGISTRY:
            raise ValueError(f"experiment {id!r} registered twice")
        exp = Experiment(
            id=id,
            title=title,
            question=question,
            definitions=definitions.strip(),
            study_item=study_item,
            compute=compute,
        )
        _REGISTRY[id] = exp
        return exp

    return register


def all_experiments() -> list[Experiment]:
    """Every registered experiment, in category order then registration order."""
    for category in CATEGORIES:
        importlib.import_module(f"tracelab.experiments.{category}")
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(_REGISTRY.values(), key=lambda e: order[e.category])


class UnknownExperimentError(KeyError):
    pass


def select(only: list[str] | None) -> list[Experiment]:
    """Experiments matching `only` (ids, names or whole categories); all when empty."""
    experiments = all_experiments()
    if not only:
        return experiments
    chosen: list[Experiment] = []
    for key in only:
        key = key.strip().strip("/")
        matches = [e for e in experiments if key in (e.id, e.name, e.category)]
        if not matches:
            raise UnknownExperimentError(f"no experiment {key!r}; see `tracelab analyze --list`")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
