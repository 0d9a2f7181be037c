"""Run experiments over a trace database: compute, plot, render, and (optionally) write.

One failing experiment does not stop the others: its error is recorded in its `ExperimentRun`
and the run goes on. Timings are kept per phase so the benchmark can report them. With a
`FigurePool` (`drawing`), figures are drawn in worker processes while this process computes
the next experiments; the outputs are byte for byte those of drawing here.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tracelab import __version__
from tracelab.experiments.base import Experiment, Figure, Result
from tracelab.experiments.drawing import Drawn, FigurePool, draw
from tracelab.experiments.store import FORMAT, RUN_FILE, stamp, write_json
from tracelab.experiments.writers import write_experiment
from tracelab.io import atomic_write_bytes
from tracelab.metrics.steps import prepare


@dataclass
class ExperimentRun:
    """The outcome of one experiment: its result, figures (rendered), timings or its error."""

    experiment: Experiment
    result: Result | None = None
    figures: list[Figure] = field(default_factory=list)
    rendered: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    error: str | None = None
    error_traceback: str | None = None
    compute_s: float = 0.0
    plot_s: float = 0.0
    write_s: float = 0.0
    folder: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_experiments(
    con: duckdb.DuckDBPyConnection,
    experiments: list[Experiment],
    out: Path | None = None,
    figures: bool = True,
    on_done: Callable[[ExperimentRun], None] | None = None,
    pool: FigurePool | None = None,
    while_drawing: Callable[[], None] | None = None,
) -> list[ExperimentRun]:
    """Run `experiments` in order; write each folder under `out` when given.

    `pool` draws the figures in worker processes; `while_drawing` is called once every
    experiment is computed, while the workers may still draw (other work for this process).
    """
    prepare(con)
    run_stamp = stamp(con)
    runs: list[ExperimentRun] = []
    pending: list[tuple[ExperimentRun, Future[Drawn]]] = []

    def finish(run: ExperimentRun, drawn: Drawn | None) -> None:
        if drawn is not None:
            run.figures, run.rendered, run.plot_s = drawn.figures, drawn.rendered, drawn.seconds
            run.error, run.error_traceback = drawn.error, drawn.error_traceback
        if out is not None and run.ok:
            started = time.perf_counter()
            try:
                run.folder = write_experiment(
                    out, run.experiment, run.result, run.figures, run.rendered, run_stamp
                )
            except Exception as exc:  # e.g. a full disk: the other experiments still run
                run.error = f"{type(exc).__name__}: {exc}"
                run.error_traceback = traceback.format_exc()
            run.write_s = time.perf_counter() - started
        if on_done is not None:
            on_done(run)

    def collect(block: bool) -> None:
        while pending and (block or pending[0][1].done()):
            run, future = pending.pop(0)
            try:
                drawn = future.result()
            except Exception:  # the worker died or the result did not pickle: draw here
                drawn = draw(run.experiment, run.result)
            finish(run, drawn)

    for exp in experiments:
        run = ExperimentRun(exp)
        runs.append(run)
        try:
            started = time.perf_counter()
            run.result = exp.compute(con)
            run.compute_s = time.perf_counter() - started
        except Exception as exc:  # one experiment's bug must not cost the user the others
            run.error = f"{type(exc).__name__}: {exc}"
            run.error_traceback = traceback.format_exc()
            finish(run, None)
            continue
        if not figures or exp.plot is None:
            finish(run, None)
            continue
        future = pool.submit(exp, run.result) if pool is not None else None
        if future is None:
            finish(run, draw(exp, run.result))
        else:
            pending.append((run, future))
        collect(block=False)
    if while_drawing is not None:
        while_drawing()
    collect(block=True)
    if out is not None:
        write_index(out, runs, run_stamp)
    return runs


def write_index(out: Path, runs: list[ExperimentRun], run_stamp: dict[str, Any]) -> None:
    """`out/index.md` (links, one line per experiment) and `out/run.json` (format, stamp,
    timings, errors: what `tracelab report --from` reads first)."""
    trace = run_stamp.get("trace") or {}
    lines = [f"# TraceLab analyses (tracelab {__version__})", ""]
    if trace:
        lines += [f"Trace: {trace.get('source_file', '?')} ({trace.get('rows', '?')} steps)", ""]
    lines += ["| experiment | study item | question | status |", "|:---|:---|:---|:---|"]
    for run in runs:
        exp = run.experiment
        link = f"[{exp.id}]({exp.category}/{exp.name}/README.md)"
        status = "ok" if run.ok else f"failed: {run.error}"
        lines.append(f"| {link} | {exp.study_item} | {exp.question} | {status} |")
    atomic_write_bytes(out / "index.md", ("\n".join(lines) + "\n").encode())
    doc = {
        "format": FORMAT,
        "tracelab_version": __version__,
        "stamp": run_stamp,
        "trace": trace,
        "experiments": [
            {
                "id": r.experiment.id,
                "ok": r.ok,
                "error": r.error,
                "figures": len(r.rendered),
                "compute_s": round(r.compute_s, 4),
                "plot_s": round(r.plot_s, 4),
                "write_s": round(r.write_s, 4),
            }
            for r in runs
        ],
    }
    write_json(out / RUN_FILE, doc)
