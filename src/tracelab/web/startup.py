"""What `tracelab serve` shows when no trace is given: your own logs, else the demo.

With no `--db` / `-i`, the current user's `~/.claude` and `~/.codex` are collected in a
background job (the page shows its progress) into the cache directory, and the trace's database
is built through the same cache as `-i` uses. When the home holds no agent logs at all, the
page offers the SYNTHETIC demo trace instead (generated here, labelled synthetic everywhere).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tracelab.paths import cache_dir, private_dir
from tracelab.sources.discover import Home, current_home
from tracelab.synthmarks import SYNTHETIC_HOME
from tracelab.web.jobs import Job, JobFailed, Jobs
from tracelab.web.traces import MAIN, TraceRegistry, TraceStore

DEMO_SESSIONS = 40
DEMO_SEED = 7


def web_dir() -> Path:
    return cache_dir() / "web"


def start_collect(jobs: Jobs, traces: TraceRegistry, home: Home | None = None) -> Job:
    """Collect `home` (default: yours) into a trace and serve it; result `no_logs` if empty."""
    home = home or current_home()

    def run(job: Job) -> dict[str, Any]:
        from tracelab.collect import collect
        from tracelab.traceinput import resolve_trace

        out = web_dir() / "my-trace.jsonl.gz"
        private_dir(out.parent)
        job.update(stage=f"collecting {home.path}/.claude and .codex", done=0)

        def progress(done: int, total: int) -> None:
            job.update(done=done, total=total)

        report, _ = collect([home], out, progress=progress)
        if report.files == 0 and not report.skipped_files:
            return {"no_logs": True, "home": str(home.path)}
        job.update(stage="building the trace database", done=0, total=None)
        resolved = resolve_trace(None, out, progress=lambda n: job.update(done=n))
        traces.add(
            TraceStore(
                id=MAIN,
                label=f"your logs ({home.path})",
                db=resolved.db,
                source=out,
                downloads={"normalized": out},
                origin="collected",
            ),
            default=True,
        )
        return {"trace_id": MAIN, "files": report.files, "no_logs": False}

    return jobs.start("collect", "Collecting your agent logs", run)


def start_demo(
    jobs: Jobs, traces: TraceRegistry, sessions: int = DEMO_SESSIONS, seed: int = DEMO_SEED
) -> Job:
    """Generate a SYNTHETIC home, collect it and serve the trace as 'main'."""

    def run(job: Job) -> dict[str, Any]:
        from tracelab.collect import collect
        from tracelab.synth import generate_home
        from tracelab.traceinput import resolve_trace

        work = web_dir() / "demo"
        private_dir(work)
        home = work / SYNTHETIC_HOME
        job.update(stage="generating SYNTHETIC agent logs", done=0, total=sessions)
        generate_home(
            home,
            sessions=sessions,
            seed=seed,
            workers=1,
            progress=lambda d, t, _s: job.update(done=d, total=t),
        )
        trace = work / "demo-trace.jsonl.gz"
        job.update(stage="collecting them into a step trace", done=0, total=None)
        with tempfile.TemporaryDirectory(prefix="tracelab-web-demo-") as cache:
            report, _ = collect([Home(home, "synthetic")], trace, cache=Path(cache))
        if report.files == 0:
            raise JobFailed("the synthetic home held no session files")
        job.update(stage="building the trace database", done=0)
        resolved = resolve_trace(None, trace, progress=lambda n: job.update(done=n))
        traces.add(
            TraceStore(
                id=MAIN,
                label="SYNTHETIC demo trace",
                db=resolved.db,
                source=trace,
                downloads={"normalized": trace},
                origin="demo",
                synthetic=True,
            ),
            default=True,
        )
        return {"trace_id": MAIN, "sessions": sessions}

    return jobs.start("demo", "Preparing the SYNTHETIC demo trace", run)
