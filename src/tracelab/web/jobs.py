"""Background work with progress the page can poll: collect, demo, upload processing, analyses.

Why threads, not processes: the work is DuckDB queries and file I/O (both release the GIL) or
already spawns its own worker processes (collect, synth). A `Job` records a stage, a done/total
pair and a message; the page polls `/api/jobs/{id}` and renders it. A job that raises ends in
state "error" with the exception's message, so bad input never takes the server down.
"""

from __future__ import annotations

import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JobFailed(Exception):
    """Raised inside a job for an expected failure: its message is shown to the user as is."""


@dataclass
class Job:
    """One unit of background work and what the page shows of it."""

    id: str
    kind: str
    title: str
    state: str = "queued"  # queued → running → done | error
    stage: str = ""
    done: float = 0
    total: float | None = None
    message: str = ""
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def update(
        self,
        stage: str | None = None,
        done: float | None = None,
        total: float | None = None,
        message: str | None = None,
    ) -> None:
        """Record progress (plain attribute writes: readers may see a slightly stale mix)."""
        if stage is not None:
            self.stage = stage
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "error": self.error,
            "result": self.result,
            "seconds": round((self.finished or time.time()) - self.started, 2),
        }


class Jobs:
    """The jobs of this server process, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, title: str, work: Callable[[Job], dict[str, Any] | None]) -> Job:
        """Run `work(job)` in a daemon thread; its returned dict becomes `job.result`."""
        job = Job(id=f"{kind}-{secrets.token_hex(6)}", kind=kind, title=title)
        with self._lock:
            self._jobs[job.id] = job
        thread = threading.Thread(target=self._run, args=(job, work), daemon=True, name=job.id)
        thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any] | None]) -> None:
        job.state = "running"
        try:
            job.result = work(job) or {}
            job.state = "done"
        except JobFailed as exc:
            job.error = str(exc)
            job.state = "error"
        except Exception as exc:  # a bug or bad input must end the job, not the server
            job.error = f"{type(exc).__name__}: {exc}"
            job.result = {"traceback": traceback.format_exc(limit=5)}
            job.state = "error"
        finally:
            job.finished = time.time()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())
