"""Uploads: stream the request body to disk under a size cap, then process it in a job.

Why a raw body instead of a multipart form: the bytes go straight from the socket to a file in
chunks, the cap is enforced while they arrive (the upload is cut off at the first byte over
it), and nothing is ever held whole in memory. The page sends the file with
`XMLHttpRequest.send(file)`, whose upload events give real progress.

What the upload *is* (raw logs, an archive, a normalized or sanitized trace, the public
dataset), archive safety and the conversion are `tracelab.ingest.process_upload`'s job; its
`UploadRejected` becomes the job's error message, shown to the user as is.

Why a manifest per upload folder: uploads live in the cache directory and must survive a
restart. A processed upload writes `upload.json` (atomically, last), which `load_uploads` reads
on start; a folder without one is an upload that never finished, removed once abandoned.
Every upload is listed on the Analyze page and can be deleted (`delete_upload`).

Why a quota with reservations: several uploads may stream at once. Each reserves its bytes
(its declared length, else what is left) before the first byte is written and keeps them while
it is processed, so concurrent uploads together never pass `UploadQuota.quota` bytes of the
uploads folder; the check counts what is on disk plus every open reservation.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from tracelab.io import atomic_write_bytes
from tracelab.paths import cache_dir, private_dir
from tracelab.web.jobs import Job, JobFailed, Jobs
from tracelab.web.traces import TraceRegistry, TraceStore

#: Default cap on an upload's size (the study's whole trace compresses well below this).
MAX_UPLOAD_BYTES = 4 * 1024**3
#: Default cap on everything in the uploads folder (uploads and what they were turned into).
UPLOAD_QUOTA_BYTES = 20 * 1024**3
#: A folder without a manifest whose newest file is older than this is an abandoned upload.
ABANDONED_S = 3600.0
MANIFEST = "upload.json"
#: Upload ids (`TraceRegistry.new_id("u")`): the only folder names this module touches.
UPLOAD_ID = re.compile(r"^u-[0-9a-f]{8}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLarge(Exception):
    pass


class QuotaExceeded(Exception):
    """The uploads folder has no room for this upload (the message says how much it has)."""


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


def folder_bytes(root: Path) -> int:
    """Bytes of the regular files under `root` (0 when it does not exist)."""
    total = 0
    for base, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


class Reservation:
    """Bytes held in an `UploadQuota` until `release` (idempotent)."""

    def __init__(self, quota: UploadQuota, size: int) -> None:
        self._quota, self.size = quota, size

    def release(self) -> None:
        self._quota._release(self)


class UploadQuota:
    """A cap on the uploads folder shared by concurrent uploads (see the module doc)."""

    def __init__(self, quota: int = UPLOAD_QUOTA_BYTES) -> None:
        self.quota = quota
        self._lock = threading.Lock()
        self._open: set[int] = set()
        self._reserved = 0

    def used(self) -> int:
        return folder_bytes(uploads_dir())

    def reserved(self) -> int:
        return self._reserved

    def free(self) -> int:
        return max(0, self.quota - self.used() - self._reserved)

    def reserve(self, size: int | None, limit: int) -> Reservation:
        """Hold `size` bytes (None: an unknown length, held up to `limit` or what is left);
        `QuotaExceeded` when they do not fit."""
        with self._lock:
            free = max(0, self.quota - self.used() - self._reserved)
            want = min(limit, free) if size is None else size
            if want > free or (size is None and want <= 0):
                raise QuotaExceeded(
                    f"not enough room for uploads: {free:,} of the {self.quota:,}-byte quota "
                    "left; delete uploads you no longer need on the Analyze page"
                )
            held = Reservation(self, want)
            self._open.add(id(held))
            self._reserved += want
            return held

    def _release(self, held: Reservation) -> None:
        with self._lock:
            if id(held) in self._open:
                self._open.discard(id(held))
                self._reserved -= held.size


def new_workdir(upload_id: str) -> Path:
    return private_dir(uploads_dir() / upload_id)


def discard(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


def _inside(work: Path, rel: str | None) -> Path | None:
    """`work / rel` if it is a file inside `work` (a manifest never points elsewhere)."""
    if not rel:
        return None
    path = (work / rel).resolve()
    return path if path.is_relative_to(work.resolve()) and path.is_file() else None


def _newest_mtime(work: Path) -> float:
    newest = 0.0
    for base, _dirs, files in os.walk(work):
        for name in [".", *files]:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(base, name)).st_mtime)
    return newest


def write_manifest(work: Path, store: TraceStore, facts: dict[str, Any]) -> None:
    """`upload.json`: what `load_uploads` needs to serve the upload again after a restart."""

    def rel(path: Path | None) -> str | None:
        return Path(path).resolve().relative_to(work.resolve()).as_posix() if path else None

    manifest = {
        "id": store.id,
        "label": store.label,
        "created": store.created,
        "upload_bytes": store.upload_bytes,
        "db": rel(store.db),
        "source": rel(store.source),
        "downloads": {k: rel(p) for k, p in store.downloads.items()},
        **facts,
    }
    atomic_write_bytes(work / MANIFEST, orjson.dumps(manifest), mode=0o600)


def read_manifest(work: Path) -> TraceStore | None:
    """The upload in folder `work` as a store, or None (no manifest, unreadable, no database)."""
    try:
        data = orjson.loads((work / MANIFEST).read_bytes())
        db = _inside(work, data["db"])
        if db is None or data.get("id") != work.name:
            return None
        downloads = {
            str(kind): path
            for kind, rel in (data.get("downloads") or {}).items()
            if (path := _inside(work, rel)) is not None
        }
        return TraceStore(
            id=work.name,
            label=str(data.get("label") or "upload"),
            db=db,
            downloads=downloads,
            source=_inside(work, data.get("source")),
            origin="upload",
            created=float(data["created"]) if data.get("created") is not None else None,
            upload_bytes=int(data["upload_bytes"]) if data.get("upload_bytes") else None,
        )
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None


def load_uploads(traces: TraceRegistry, now: float | None = None) -> tuple[int, int]:
    """Serve every processed upload of the uploads folder again (at start-up) and remove the
    folders of uploads that never finished and were abandoned; (loaded, removed)."""
    root = uploads_dir()
    loaded = removed = 0
    if not root.is_dir():
        return loaded, removed
    now = time.time() if now is None else now
    for work in sorted(root.iterdir()):
        if not work.is_dir() or work.is_symlink() or not UPLOAD_ID.match(work.name):
            continue
        store = read_manifest(work)
        if store is not None:
            traces.add(store, warm=False, may_default=False)
            loaded += 1
        elif now - _newest_mtime(work) > ABANDONED_S:
            discard(work)
            removed += 1
    return loaded, removed


def delete_upload(traces: TraceRegistry, upload_id: str) -> bool:
    """Forget an uploaded trace and delete its folder; False when there is no such upload."""
    store = traces.get(upload_id)
    if store is None or store.origin != "upload" or not UPLOAD_ID.match(upload_id):
        return False
    traces.remove(upload_id)
    discard(uploads_dir() / upload_id)
    return True


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


#: At most this many problem lines travel to the page (the count says how many there were).
SHOWN_PROBLEMS = 20


def problems_summary(skipped_lines: int, problems: list[str]) -> str | None:
    """One line for the page: how many lines were skipped and how many problems were noted
    (not "files": one file may have many bad lines); None when everything was read."""
    if not skipped_lines and not problems:
        return None
    parts = []
    if skipped_lines:
        parts.append(f"{skipped_lines:,} unreadable line(s) skipped")
    if problems:
        shown = f", the first {SHOWN_PROBLEMS} shown" if len(problems) > SHOWN_PROBLEMS else ""
        parts.append(f"{len(problems):,} problem(s) noted{shown}")
    return "; ".join(parts) + " (every good row kept)"


def start_processing(
    jobs: Jobs,
    traces: TraceRegistry,
    upload_id: str,
    path: Path,
    work: Path,
    label: str,
    reservation: Reservation | None = None,
) -> Job:
    """Process the stored upload in a job; on success the result is a new trace. The quota
    `reservation` is released when the job ends, whatever the outcome."""
    upload_bytes = path.stat().st_size

    def run(job: Job) -> dict[str, Any]:
        try:
            return process(job)
        finally:
            if reservation is not None:
                reservation.release()

    def process(job: Job) -> dict[str, Any]:
        from tracelab.ingest import UploadRejected, process_upload, sniff

        job.update(stage=STAGE_TEXT["detect"])
        try:
            kind = sniff(path).kind
            job.update(message=f"detected: {kind.label}")
            result = process_upload(path, work / "out", _progress(job), original_name=label)
        except UploadRejected as exc:
            discard(work)
            raise JobFailed(str(exc)) from None
        except BaseException:
            discard(work)
            raise
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        downloads = {
            k: Path(p)
            for k, p in (("normalized", result.normalized), ("sanitized", result.sanitized))
            if p is not None and Path(p).is_file()
        }
        store = TraceStore(
            id=upload_id,
            label=label,
            db=Path(result.db),
            downloads=downloads,
            # The database is built from the sanitized trace (pseudonymized ids), so raw
            # content can only be looked up there — and it has none, by design.
            source=Path(result.sanitized),
            origin="upload",
            created=time.time(),
            upload_bytes=upload_bytes,
        )
        facts = {
            "kind": result.kind.label,
            "files": result.files,
            "sessions": result.sessions,
            "steps": result.steps,
            "tool_calls": result.tool_calls,
        }
        write_manifest(work, store, facts)
        traces.add(store)
        problems = list(result.problems)
        return {
            "trace_id": store.id,
            **facts,
            "downloads": sorted(downloads),
            "skipped_lines": result.skipped_lines,
            "problem_count": len(problems),
            "problems": problems[:SHOWN_PROBLEMS],
            "problems_summary": problems_summary(result.skipped_lines, problems),
        }

    return jobs.start("upload", f"Processing {label}", run)
