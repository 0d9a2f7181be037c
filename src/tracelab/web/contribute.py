"""The Contribute page's API: donate the served trace to a contribution pool, from the browser.

The same steps as `tracelab contribute` (`pool.client`), each in a background job the page
polls: *preview* sanitizes the trace on this machine with the user's pseudonym key (a trace
that already passes the strict audit is used as is) and describes exactly the file that would
be sent — rows, sessions, date range, models, fields, a sample row; *upload* needs the
consent to the dataset's licence, then streams that file to the pool URL the user entered in
chunks (resuming from the pool's offset after a dropped connection), waits for the pool's
verdict and saves the receipt (owner-only, it holds the withdrawal token). A private trace is
never sent: only the prepared file is, and it exists only once sanitizing and the audit passed.

Both are POSTs, so the guard requires the app's token, like uploads.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from tracelab.paths import cache_dir, private_dir
from tracelab.pool.client import CHUNK_BYTES, LICENCE, Prepared
from tracelab.web.jobs import Job, JobFailed
from tracelab.web.state import AppState
from tracelab.web.traces import TraceStore

#: Bytes per upload request (tests make it small to see several chunks and a resume).
chunk_bytes = CHUNK_BYTES
#: How long the upload waits for an unreachable or restarting pool before it gives up.
PATIENCE_S = 120.0


class PreviewRequest(BaseModel):
    trace: str


class UploadRequest(BaseModel):
    prepared: str
    url: str
    token: str | None = None
    consent: bool = False


@dataclass
class _Prepared:
    prepared: Prepared
    workdir: Path
    trace: str


class Contributions:
    """The prepared files of this server process, by id (each in its own 0700 folder)."""

    def __init__(self) -> None:
        self._items: dict[str, _Prepared] = {}
        self._lock = threading.Lock()

    def add(self, item: _Prepared) -> str:
        prep_id = secrets.token_hex(8)
        with self._lock:
            self._items[prep_id] = item
        return prep_id

    def get(self, prep_id: str) -> _Prepared | None:
        return self._items.get(prep_id)

    def forget(self, prep_id: str) -> None:
        with self._lock:
            item = self._items.pop(prep_id, None)
        if item is not None:
            shutil.rmtree(item.workdir, ignore_errors=True)


def trace_file(store: TraceStore) -> Path | None:
    """The trace file behind a served trace (None: served from a database alone)."""
    for path in (store.source, store.downloads.get("normalized"), store.downloads.get("sanitized")):
        if path is not None and Path(path).is_file():
            return Path(path)
    return None


def pool_url(url: str) -> str:
    """The pool's base URL, checked (http or https, a host, no credentials or query)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPException(422, "the pool URL must be an http:// or https:// address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise HTTPException(422, "the pool URL must not hold credentials, a query or a fragment")
    return url.rstrip("/")


def _preview(job: Job, items: Contributions, trace: str, source: Path) -> dict[str, Any]:
    from tracelab.keys import SanitizeKeyError, load_or_create_key
    from tracelab.pool.client import prepare
    from tracelab.sanitize import SanitizeError

    job.update(stage="sanitizing and auditing on this machine")
    try:
        key = load_or_create_key(None)
    except SanitizeKeyError as exc:
        raise JobFailed(str(exc)) from None
    root = private_dir(cache_dir() / "contribute")
    workdir = Path(tempfile.mkdtemp(prefix="prep-", dir=root))
    try:
        prepared = prepare(source, workdir, key)
    except SanitizeError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise JobFailed(f"the trace cannot be sanitized safely: {exc}") from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    prep_id = items.add(_Prepared(prepared, workdir, trace))
    preview = prepared.preview()
    preview.pop("file", None)  # a local path: the page has no use for it
    return {"prepared": prep_id, "licence": LICENCE, "preview": preview}


def _upload(job: Job, items: Contributions, prep_id: str, url: str, token: str | None) -> dict:
    from tracelab.pool.client import ContributeError, PoolClient, save_receipt

    item = items.get(prep_id)
    if item is None:
        raise JobFailed("this preview is gone; prepare the contribution again")
    size = item.prepared.size
    job.update(stage="uploading", done=0, total=size)

    def progress(received: int, total: int) -> None:
        job.update(stage="uploading", done=received, total=total)

    try:
        with PoolClient(url, token, patience_s=PATIENCE_S, chunk_bytes=chunk_bytes) as client:
            receipt = client.contribute(item.prepared, progress=progress)
    except ContributeError as exc:
        raise JobFailed(str(exc)) from None
    job.update(stage="accepted by the pool", done=size, total=size)
    saved = None
    if receipt.get("contribution_id") and receipt.get("withdrawal_token"):
        saved = str(save_receipt(receipt, url))
    items.forget(prep_id)
    return {"receipt": receipt, "receipt_file": saved, "pool": url}


def router(state: AppState) -> APIRouter:
    api = APIRouter(prefix="/api/contribute")
    items = Contributions()

    @api.get("")
    def info() -> dict[str, Any]:
        return {
            "licence": LICENCE,
            "traces": [
                {"id": s.id, "label": s.label, "contributable": trace_file(s) is not None}
                for s in state.traces.all()
            ],
        }

    @api.post("/preview", status_code=202)
    def preview(body: PreviewRequest) -> dict[str, Any]:
        store = state.traces.get(body.trace)
        if store is None:
            raise HTTPException(404, f"no trace {body.trace[:80]!r}")
        source = trace_file(store)
        if source is None:
            raise HTTPException(
                409, "this trace was served from a database alone: there is no trace file to send"
            )
        job = state.jobs.start(
            "contribute-preview",
            f"Preparing {store.label}",
            lambda job: _preview(job, items, store.id, source),
        )
        return {"job": job.to_json()}

    @api.post("/upload", status_code=202)
    def upload(body: UploadRequest) -> dict[str, Any]:
        if not body.consent:
            raise HTTPException(422, f"consent to the {LICENCE} licence is required to contribute")
        if items.get(body.prepared) is None:
            raise HTTPException(404, "no such prepared contribution; prepare it again")
        url = pool_url(body.url)
        token = (body.token or "").strip() or None
        job = state.jobs.start(
            "contribute",
            f"Contributing to {url}",
            lambda job: _upload(job, items, body.prepared, url, token),
        )
        return {"job": job.to_json()}

    return api
