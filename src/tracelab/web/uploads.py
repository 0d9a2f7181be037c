"""Uploads: stream the request body to disk under a size cap, then process it in a job.

Why a raw body instead of a multipart form: the bytes go straight from the socket to a file in
chunks, the cap is enforced while they arrive (the upload is cut off at the first byte over
it), and nothing is ever held whole in memory. The page sends the file with
`XMLHttpRequest.send(file)`, whose upload events give real progress.

What the upload *is* (raw logs, an archive, a normalized or sanitized trace, the public
dataset), archive safety and the conversion are `tracelab.ingest.process_upload`'s job; its
`UploadRejected` becomes the job's error message, shown to the user as is.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tracelab.paths import cache_dir, private_dir
from tracelab.web.jobs import Job, JobFailed, Jobs
from tracelab.web.traces import TraceRegistry, TraceStore

#: Default cap on an upload's size (the study's whole trace compresses well below this).
MAX_UPLOAD_BYTES = 4 * 1024**3
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLarge(Exception):
    pass


class EmptyUpload(Exception):
    pass


def uploads_dir() -> Path:
    return cache_dir() / "web" / "uploads"


def safe_name(name: str | None) -> str:
    """A file name we can use on disk: the last path part, odd characters replaced."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._") or "upload"
    return base[-120:]


async def receive_to_disk(chunks: AsyncIterator[bytes], target: Path, limit: int) -> int:
    """Write the streamed body to `target`; raise `UploadTooLarge` past `limit` bytes."""
    private_dir(target.parent)
    size = 0
    with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge
            out.write(chunk)
    if size == 0:
        raise EmptyUpload
    return size


def new_workdir(upload_id: str) -> Path:
    return private_dir(uploads_dir() / upload_id)


def discard(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


#: What the page shows for each `tracelab.ingest.STAGES` stage.
STAGE_TEXT = {
    "detect": "detecting what was uploaded",
    "extract": "extracting the archive (with safety caps)",
    "collect": "normalizing the session logs",
    "sanitize": "sanitizing (allow-list, keyed pseudonyms)",
    "database": "building the trace database",
    "done": "done",
}


def _progress(job: Job):
    """`process_upload`'s `progress(stage, fraction)` as job progress (fraction may be None)."""

    def progress(stage: str, fraction: float | None) -> None:
        job.update(
            stage=STAGE_TEXT.get(stage, stage),
            done=fraction if fraction is not None else 0,
            total=1 if fraction is not None else None,
        )

    return progress


def start_processing(
    jobs: Jobs, traces: TraceRegistry, upload_id: str, path: Path, work: Path, label: str
) -> Job:
    """Process the stored upload in a job; on success the result is a new trace."""

    def run(job: Job) -> dict[str, Any]:
        from tracelab.ingest import UploadRejected, process_upload, sniff

        job.update(stage=STAGE_TEXT["detect"])
        try:
            kind = sniff(path).kind
            job.update(message=f"detected: {kind.label}")
            result = process_upload(path, work / "out", _progress(job), original_name=label)
        except UploadRejected as exc:
            discard(work)
            raise JobFailed(str(exc)) from None
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        downloads = {
            k: Path(p)
            for k, p in (("normalized", result.normalized), ("sanitized", result.sanitized))
            if p is not None and Path(p).is_file()
        }
        store = traces.add(
            TraceStore(
                id=upload_id,
                label=label,
                db=Path(result.db),
                downloads=downloads,
                # The database is built from the sanitized trace (pseudonymized ids), so raw
                # content can only be looked up there — and it has none, by design.
                source=Path(result.sanitized),
                origin="upload",
            )
        )
        return {
            "trace_id": store.id,
            "kind": result.kind.label,
            "downloads": sorted(downloads),
            "files": result.files,
            "sessions": result.sessions,
            "steps": result.steps,
            "tool_calls": result.tool_calls,
            "skipped_lines": result.skipped_lines,
            "problems": list(result.problems)[:20],
        }

    return jobs.start("upload", f"Processing {label}", run)
