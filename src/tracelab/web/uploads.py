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

from tracelab.paths import cache_dir
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
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    size = 0
    with open(target, "wb") as out:
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
    work = uploads_dir() / upload_id
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(work, 0o700)
    return work


def discard(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


def _progress_adapter(job: Job):
    """`process_upload`'s progress callback, whatever its exact arguments: a text is the
    stage, numbers are done (and total)."""

    def progress(*args: Any, **kwargs: Any) -> None:
        texts = [a for a in args if isinstance(a, str)]
        numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
        stage = kwargs.get("stage") or (texts[0] if texts else None)
        done = kwargs.get("done", numbers[0] if numbers else None)
        total = kwargs.get("total", numbers[1] if len(numbers) > 1 else None)
        job.update(stage=stage, done=done, total=total, message=kwargs.get("message"))

    return progress


def _path_attr(result: Any, *names: str) -> Path | None:
    for name in names:
        value = getattr(result, name, None)
        if value is not None:
            return Path(value)
    return None


def start_processing(
    jobs: Jobs, traces: TraceRegistry, upload_id: str, path: Path, work: Path, label: str
) -> Job:
    """Process the stored upload in a job; on success the result is a new trace."""

    def run(job: Job) -> dict[str, Any]:
        from tracelab.ingest import process_upload
        from tracelab.ingest.errors import UploadRejected

        job.update(stage="detecting the upload's kind")
        try:
            result = process_upload(path, work / "out", _progress_adapter(job))
        except UploadRejected as exc:
            discard(work)
            raise JobFailed(str(exc)) from None
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        db = _path_attr(result, "db", "db_path", "duckdb", "database")
        if db is None:
            raise JobFailed("processing produced no trace database")
        normalized = _path_attr(result, "normalized", "normalized_path", "trace")
        sanitized = _path_attr(result, "sanitized", "sanitized_path", "public")
        downloads = {k: p for k, p in (("normalized", normalized), ("sanitized", sanitized)) if p}
        store = traces.add(
            TraceStore(
                id=upload_id,
                label=label,
                db=db,
                downloads=downloads,
                source=normalized,
                origin="upload",
            )
        )
        counts = {
            k: getattr(result, k)
            for k in ("kind", "steps", "sessions", "tool_calls", "files", "rows", "skipped")
            if isinstance(getattr(result, k, None), int | str)
        }
        return {"trace_id": store.id, "downloads": sorted(downloads), **counts}

    return jobs.start("upload", f"Processing {label}", run)
