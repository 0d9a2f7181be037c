"""Resumable chunked uploads, kept on disk so a restart loses nothing the client was told.

An upload is a folder `uploads/<id>/`: `meta.json` (declared size and sha256, consent, who;
written once at start), `data` (the bytes received so far) and `status.json` (receiving →
queued → processing → accepted / rejected). A chunk is accepted only at the offset where the
data ends — out-of-order and overlapping chunks are refused with the current offset, which is
also what a client asks for to resume after a dropped connection. A chunk cut off half-way
leaves a correct prefix (the bytes at those offsets are the client's), so resuming from the
file's size is always right; the sha256 checked at the end catches anything else.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from tracelab.pool.faults import crash_point
from tracelab.pool.storage import durable_write, utc_now

UPLOAD_ID_RE = re.compile(r"up_[0-9a-f]{32}")
RECEIVING, QUEUED, PROCESSING, ACCEPTED, REJECTED = (
    "receiving",
    "queued",
    "processing",
    "accepted",
    "rejected",
)
FINAL_STATES = (ACCEPTED, REJECTED)


class UploadError(Exception):
    """A request about an upload that cannot be honoured; `status` is the HTTP status."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


class Uploads:
    """The upload folders of one pool."""

    def __init__(self, root: Path, *, max_active: int = 16, max_age_s: float = 86_400) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_active = max_active
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._receiving: set[str] | None = None  # read from disk once, then kept up to date

    def _dir(self, upload_id: str) -> Path:
        if not UPLOAD_ID_RE.fullmatch(upload_id or ""):
            raise UploadError(404, "no such upload")
        return self.root / upload_id

    def _read(self, upload_id: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
        folder = self._dir(upload_id)
        try:
            meta = orjson.loads((folder / "meta.json").read_bytes())
            status = orjson.loads((folder / "status.json").read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            raise UploadError(404, "no such upload (unknown, expired or never started)") from None
        return folder, meta, status

    def _ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if UPLOAD_ID_RE.fullmatch(p.name))

    def _scan_receiving(self) -> set[str]:
        found = set()
        for upload_id in self._ids():
            with contextlib.suppress(UploadError):
                if self._read(upload_id)[2]["state"] == RECEIVING:
                    found.add(upload_id)
        return found

    def active_count(self) -> int:
        """Uploads still receiving chunks (the folders are scanned once; `set_status` keeps
        the count, so starting an upload does not read every upload's status)."""
        with self._lock:
            if self._receiving is None:
                self._receiving = self._scan_receiving()
            return len(self._receiving)

    def start(self, *, size: int, sha256: str, consent: dict, contributor: str) -> dict[str, Any]:
        if self.active_count() >= self.max_active:
            raise UploadError(
                429, f"the pool is receiving {self.max_active} uploads already; retry shortly"
            )
        upload_id = "up_" + secrets.token_hex(16)
        folder = self.root / upload_id
        folder.mkdir(mode=0o700)
        (folder / "data").touch(mode=0o600)
        meta = {
            "upload_id": upload_id,
            "size": size,
            "sha256": sha256,
            "consent": consent,
            "contributor": contributor,
            "created": utc_now(),
        }
        durable_write(folder / "meta.json", orjson.dumps(meta), 0o600)
        self.set_status(upload_id, RECEIVING)
        return self.describe(upload_id)

    def set_status(self, upload_id: str, state: str, **extra: Any) -> None:
        status = {"state": state, "updated": utc_now(), **extra}
        durable_write(self._dir(upload_id) / "status.json", orjson.dumps(status), 0o600)
        with self._lock:
            if self._receiving is not None:
                if state == RECEIVING:
                    self._receiving.add(upload_id)
                else:
                    self._receiving.discard(upload_id)

    def describe(self, upload_id: str, contributor: str | None = None) -> dict[str, Any]:
        """The status a client polls: offset received, state, message, receipt."""
        folder, meta, status = self._read(upload_id)
        if contributor is not None and meta["contributor"] != contributor:
            raise UploadError(404, "no such upload")
        received = (folder / "data").stat().st_size if status["state"] == RECEIVING else None
        return {
            "upload_id": upload_id,
            "size": meta["size"],
            "received": meta["size"] if received is None else received,
            **status,
        }

    def meta(self, upload_id: str) -> dict[str, Any]:
        return self._read(upload_id)[1]

    def data_path(self, upload_id: str) -> Path:
        return self._dir(upload_id) / "data"

    async def append(
        self,
        upload_id: str,
        offset: int,
        length: int | None,
        body: AsyncIterator[bytes],
        contributor: str,
        max_chunk: int,
    ) -> int:
        """Write one chunk at `offset` (which must be the current end); return the new end."""
        folder, meta, status = self._read(upload_id)
        if meta["contributor"] != contributor:
            raise UploadError(404, "no such upload")
        if status["state"] != RECEIVING:
            raise UploadError(409, f"the upload is {status['state']}; it takes no more chunks")
        data = folder / "data"
        received = data.stat().st_size
        if offset != received:
            why = "overlaps the bytes received" if offset < received else "leaves a gap"
            raise UploadError(
                409,
                f"chunk at offset {offset} {why}: the server has {received} bytes; "
                f"send the chunk at offset {received}",
                received=received,
            )
        if length is not None and offset + length > meta["size"]:
            raise UploadError(413, f"the chunk goes past the declared size of {meta['size']} bytes")
        written = 0
        with open(data, "ab") as out:
            try:
                async for piece in body:
                    written += len(piece)
                    if written > max_chunk or offset + written > meta["size"]:
                        out.truncate(received)
                        raise UploadError(
                            413, "the chunk is larger than announced or than the chunk cap"
                        )
                    out.write(piece)
            finally:
                out.flush()
        crash_point("append.after_write")
        return received + written

    def finish(self, upload_id: str, contributor: str) -> dict[str, Any]:
        """All bytes are here: queue the upload for ingest (idempotent)."""
        info = self.describe(upload_id, contributor)
        if info["state"] != RECEIVING:
            return info
        if info["received"] != info["size"]:
            raise UploadError(
                409,
                f"finish before all chunks: received {info['received']} of {info['size']} bytes",
                received=info["received"],
            )
        crash_point("finish.before_queue")
        self.set_status(upload_id, QUEUED)
        return self.describe(upload_id)

    def pending(self) -> list[str]:
        """Uploads that were finished but not yet ingested (a restart queues them again)."""
        out = []
        for upload_id in self._ids():
            with contextlib.suppress(UploadError):
                if self._read(upload_id)[2]["state"] in (QUEUED, PROCESSING):
                    out.append(upload_id)
        return out

    def discard_data(self, upload_id: str) -> None:
        """The bytes are no longer needed once an upload is accepted or rejected."""
        with contextlib.suppress(FileNotFoundError, UploadError):
            self.data_path(upload_id).unlink()
            self.data_path(upload_id).touch(mode=0o600)

    def expire(self, now: float | None = None) -> int:
        """Remove uploads idle for longer than `max_age_s`, and folders without metadata."""
        now = time.time() if now is None else now
        removed = 0
        for path in self.root.iterdir():
            stale = not (path / "status.json").exists() and not (path / "meta.json").exists()
            with contextlib.suppress(OSError):
                newest = max(p.stat().st_mtime for p in [path, *path.iterdir()])
                stale = stale or now - newest > self.max_age_s
            if stale or not UPLOAD_ID_RE.fullmatch(path.name):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
                removed += 1
        with self._lock:
            self._receiving = None  # scanned again on next use
        return removed
