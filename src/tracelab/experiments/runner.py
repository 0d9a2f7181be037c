"""Run experiments over a trace database: compute, plot, render, and (optionally) write.

One failing experiment does not stop the others: its error is recorded in its `ExperimentRun`
and the run goes on. Timings are kept per phase so the benchmark can report them.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson

from tracelab import __version__
from tracelab.experiments.base import Experiment, Figure, Result
from tracelab.experiments.writers import write_experiment
from tracelab.io import atomic_write_bytes
from tracelab.metrics.steps import prepare
from tracelab.tracedb import trace_meta


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
) -> list[ExperimentRun]:
    """Run `experiments` in order; write each folder under `out` when given."""
    from tracelab.figures.style import render

    prepare(con)
    trace = trace_meta(con)
    runs = []
    for exp in experiments:
        run = ExperimentRun(exp)
        try:
            started = time.perf_counter()
            run.result = exp.compute(con)
            run.compute_s = time.perf_counter() - started
            if figures and exp.plot is not None:
                started = time.perf_counter()
                run.figures = exp.plot(run.result)
                run.rendered = {f.name: render(f.figure) for f in run.figures}
                run.plot_s = time.perf_counter() - started
            if out is not None:
                started = time.perf_counter()
                run.folder = write_experiment(
                    out, exp, run.result, run.figures, run.rendered, trace
                )
                run.write_s = time.perf_counter() - started
        except Exception as exc:  # one experiment's bug must not cost the user the others
            run.error = f"{type(exc).__name__}: {exc}"
            run.error_traceback = traceback.format_exc()
        runs.append(run)
        if on_done is not None:
            on_done(run)
    if out is not None:
        write_index(out, runs, trace)
    return runs


def write_index(out: Path, runs: list[ExperimentRun], trace: dict[str, str]) -> None:
    """`out/index.md` (links, one line per experiment) and `out/run.json` (timings, errors)."""
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
        "tracelab_version": __version__,
        "trace": trace,
        "experiments": [
            {
                "id": r.experiment.id,
                "ok": r.ok,
                "error": r.error,
                "compute_s": round(r.compute_s, 4),
                "plot_s": round(r.plot_s, 4),
                "write_s": round(r.write_s, 4),
            }
            for r in runs
        ],
    }
    atomic_write_bytes(out / "run.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))
