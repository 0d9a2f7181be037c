"""What one server process holds: its traces, jobs, experiment runs, token and limits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tracelab.sources.discover import Home
from tracelab.web import startup
from tracelab.web.ask import AskService
from tracelab.web.experiments import ExperimentService
from tracelab.web.jobs import Job, Jobs
from tracelab.web.traces import TraceRegistry
from tracelab.web.uploads import MAX_UPLOAD_BYTES, UploadQuota


@dataclass
class AppState:
    token: str
    traces: TraceRegistry = field(default_factory=TraceRegistry)
    jobs: Jobs = field(default_factory=Jobs)
    upload_limit: int = MAX_UPLOAD_BYTES
    quota: UploadQuota = field(default_factory=UploadQuota)
    startup_job: str | None = None
    collect_home: Home | None = None
    experiment_ids: list[str] | None = None
    experiments: ExperimentService = field(init=False)
    #: The Ask page's sandboxes and conversations (its backend defaults: `serve --ask-…`).
    ask: AskService = field(default_factory=AskService)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.experiments = ExperimentService(self.jobs, self.experiment_ids)

    def _single(self, kind: str, start) -> Job:
        """At most one collect/demo job runs at a time: a second click returns the first."""
        with self._lock:
            current = self.jobs.get(self.startup_job) if self.startup_job else None
            if current is not None and current.kind == kind and current.state == "running":
                return current
            job = start()
            self.startup_job = job.id
            return job

    def start_collect(self) -> Job:
        return self._single(
            "collect", lambda: startup.start_collect(self.jobs, self.traces, self.collect_home)
        )

    def start_demo(self) -> Job:
        return self._single("demo", lambda: startup.start_demo(self.jobs, self.traces))
