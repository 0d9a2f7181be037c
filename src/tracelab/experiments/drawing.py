"""Draw experiments' figures: in this process, or in worker processes while it computes.

Why workers: at the study's size drawing (matplotlib to PNG and SVG) takes about four times as
long as computing every table, and it needs only an experiment's `Result`. So the runner
computes in the main process (DuckDB) and hands each result to a pool of worker processes,
which plot, render, and send back the PNG/SVG bytes and the interactive chart as JSON text.
The workers import matplotlib and the experiments and draw a throw-away figure (fonts loaded)
as soon as they start, while the main process is still preparing the metric tables. Only
registered experiments go to a worker (it finds the experiment by id); any other, or a worker
that died, is drawn in this process — the bytes are the same either way.
"""

from __future__ import annotations

import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field

from tracelab.experiments.base import Experiment, Figure, Result


@dataclass
class Drawn:
    """What drawing one experiment gave: figures, their (PNG, SVG) bytes, or an error."""

    figures: list[Figure] = field(default_factory=list)
    rendered: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    error_traceback: str | None = None


def draw(exp: Experiment, result: Result) -> Drawn:
    """Plot and render `exp`'s figures here; errors are returned, not raised."""
    from tracelab.figures.style import render

    started = time.perf_counter()
    drawn = Drawn()
    try:
        drawn.figures = exp.plot(result) if exp.plot is not None else []
        drawn.rendered = {f.name: render(f.figure) for f in drawn.figures}
    except Exception as exc:  # one experiment's bug must not cost the user the others
        drawn.error = f"{type(exc).__name__}: {exc}"
        drawn.error_traceback = traceback.format_exc()
    drawn.seconds = time.perf_counter() - started
    return drawn


def _registered(exp_id: str) -> Experiment | None:
    from tracelab.experiments.registry import all_experiments

    return next((e for e in all_experiments() if e.id == exp_id), None)


def _draw_in_worker(exp_id: str, result: Result) -> Drawn:
    """Worker side: draw, then keep only what pickles cheaply (bytes and JSON text)."""
    exp = _registered(exp_id)
    if exp is None:
        return Drawn(error=f"KeyError: experiment {exp_id!r} is not registered")
    drawn = draw(exp, result)
    for fig in drawn.figures:
        fig.figure = None
        fig.interactive = fig.interactive_json()
    return drawn


def _warm() -> None:
    """Worker start-up: import everything a drawing needs and load the fonts once."""
    from tracelab.experiments.registry import all_experiments
    from tracelab.figures.style import new_figure, render

    all_experiments()
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1], label="warm-up")
    ax.set_title("warm-up")
    ax.legend()
    render(fig)
    import plotly.graph_objects  # noqa: F401  (imported for its start-up cost)


class FigurePool:
    """Worker processes that draw figures. Start it before the trace is opened: a process
    without native threads forks its workers directly (see `tracelab.workers`)."""

    def __init__(self, workers: int) -> None:
        from tracelab.workers import process_pool

        self.workers = workers
        self._pool = process_pool(workers, preload=("tracelab.experiments.drawing",))
        # one warm-up per worker starts them all now, not at the first figure
        self._warming = [self._pool.submit(_warm) for _ in range(workers)]

    def submit(self, exp: Experiment, result: Result) -> Future[Drawn] | None:
        """Draw `exp` in a worker; None when it must be drawn here (not a registered one)."""
        if _registered(exp.id) is not exp:
            return None
        try:
            return self._pool.submit(_draw_in_worker, exp.id, result)
        except RuntimeError:  # the pool broke (a worker died): draw here
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
