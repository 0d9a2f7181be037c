"""The Experiments page and the Overview's figure gallery: the study's experiments on a trace.

The experiments runner (`tracelab.experiments.runner`) computes, plots and renders every
experiment; this module runs it once per trace in a background job — on its own read-only
connection, so the dashboard stays responsive meanwhile — and keeps the runs in memory. Each
experiment is shown with the report's own HTML (`report.experiment_html`: question,
definitions, the result in words, tables, interactive figures), so the page and the HTML report
never disagree. matplotlib is not thread-safe: one run at a time in the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tracelab.experiments.base import Experiment
from tracelab.experiments.registry import all_experiments, select
from tracelab.experiments.runner import ExperimentRun, run_experiments
from tracelab.metrics.steps import prepare
from tracelab.report import category_title, experiment_html
from tracelab.tracedb import open_db
from tracelab.web.jobs import Job, Jobs
from tracelab.web.traces import TraceStore

_PLOT_LOCK = threading.Lock()


@dataclass
class ExperimentRuns:
    """The runs of one trace (filled as experiments finish) and the job producing them."""

    job_id: str
    runs: dict[str, ExperimentRun] = field(default_factory=dict)


class ExperimentService:
    """Starts at most one experiments job per trace and serves what it produced."""

    def __init__(self, jobs: Jobs, only: list[str] | None = None) -> None:
        self.jobs = jobs
        #: Experiment ids, names or categories to run (`registry.select`); None: all of them.
        self.only = only
        self._by_trace: dict[str, ExperimentRuns] = {}
        self._lock = threading.Lock()

    def ensure(self, store: TraceStore) -> ExperimentRuns:
        """The trace's runs, starting the job on first call."""
        with self._lock:
            existing = self._by_trace.get(store.id)
            if existing is not None:
                job = self.jobs.get(existing.job_id)
                if job is None or job.state != "error":
                    return existing
            holder = ExperimentRuns(job_id="")
            job = self.jobs.start(
                "experiments",
                f"Running the study's experiments on {store.label}",
                lambda j: self._run(store, holder, j, self.chosen()),
            )
            holder.job_id = job.id
            self._by_trace[store.id] = holder
            return holder

    def chosen(self) -> list[Experiment]:
        return select(self.only) if self.only else all_experiments()

    @staticmethod
    def _run(
        store: TraceStore, holder: ExperimentRuns, job: Job, experiments: list[Experiment]
    ) -> dict[str, Any]:
        job.update(stage="waiting", done=0, total=len(experiments))
        with _PLOT_LOCK:
            con = open_db(store.db)
            try:
                job.update(stage="preparing the metric tables")
                prepare(con, store.prices)
                job.update(stage="running")

                def done(run: ExperimentRun) -> None:
                    holder.runs[run.experiment.id] = run
                    job.update(done=len(holder.runs), message=run.experiment.id)

                runs = run_experiments(con, experiments, out=None, figures=True, on_done=done)
            finally:
                con.close()
        failed = [r.experiment.id for r in runs if not r.ok]
        return {"experiments": len(runs), "failed": failed}

    def listing(self, store: TraceStore) -> dict[str, Any]:
        """Every experiment (registered order) with its status and figure names."""
        holder = self.ensure(store)
        job = self.jobs.get(holder.job_id)
        items = []
        for exp in self.chosen():
            run = holder.runs.get(exp.id)
            items.append(
                {
                    "id": exp.id,
                    "category": exp.category,
                    "category_title": category_title(exp.category),
                    "title": exp.title,
                    "study_item": exp.study_item,
                    "question": exp.question,
                    "status": "pending" if run is None else ("ok" if run.ok else "failed"),
                    "error": None if run is None else run.error,
                    "figures": []
                    if run is None
                    else [
                        {"name": f.name, "title": f.title}
                        for f in run.figures
                        if f.name in run.rendered
                    ],
                }
            )
        return {"job": job.to_json() if job else None, "experiments": items}

    def html(self, store: TraceStore, exp_id: str) -> str | None:
        """The experiment's section as the HTML report shows it (None until it has run)."""
        run = self.ensure(store).runs.get(exp_id)
        if run is None:
            return None
        body, _ = experiment_html(run, 0)
        return body.replace('id="chart-', f'id="chart-{_slug(exp_id)}-').replace(
            'data-spec="chart-', f'data-spec="chart-{_slug(exp_id)}-'
        )

    def figure_png(self, store: TraceStore, exp_id: str, name: str) -> bytes | None:
        run = self.ensure(store).runs.get(exp_id)
        if run is None or name not in run.rendered:
            return None
        return run.rendered[name][0]


def _slug(exp_id: str) -> str:
    return exp_id.replace("/", "-").replace("_", "-")
