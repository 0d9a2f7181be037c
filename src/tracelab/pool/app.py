"""The pool service (`tracelab pool serve`): FastAPI routes over `storage`, `uploads`, `ingest`.

Endpoints (JSON; every error is `{"error": "<one line>"}` with a 4xx status):

    GET  /v1/health                      liveness and pool size
    GET  /v1/stats                       `stats.pool_stats`
    POST /v1/uploads                     start: size, sha256, consent → upload id (or, for
                                         bytes already in the pool, the receipt at once)
    PUT  /v1/uploads/{id}?offset=N       append one chunk at the current end
    GET  /v1/uploads/{id}                offset received, state, message, receipt (= job status)
    POST /v1/uploads/{id}/finish         all bytes sent: queue the ingest job (202)
    GET  /v1/jobs/{id}                   the same status as GET /v1/uploads/{id}
    POST /v1/withdraw                    contribution id + withdrawal token

Why it is shaped this way: the server trusts nothing a client sends. Body sizes are checked
against the route's cap from `Content-Length` before a byte is read (413), and counted while
streaming; requests are rate-limited per address before routing and per token after; every
request's outcome goes to the audit log. Ingest (validation, dedup, commit) runs in background
workers, one per CPU, which check uploads in parallel and commit them one at a time
(`ingest`); the job status is on disk, so a client polling across a server restart gets its
answer.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracelab import __version__
from tracelab.pool.access import AccessPolicy, AuditLog, RateLimiter, Tokens, address_identity
from tracelab.pool.ingest import ingest_upload
from tracelab.pool.stats import pool_stats
from tracelab.pool.storage import Pool
from tracelab.pool.uploads import ACCEPTED, PROCESSING, REJECTED, UploadError, Uploads
from tracelab.pool.validate import Limits
from tracelab.privacy import ISO_TIMESTAMP_RE
from tracelab.rejection import UploadRejected, human_bytes
from tracelab.workers import usable_cpus

LICENCE = "CC-BY-4.0"
JSON_BODY_CAP = 64 << 10
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger("tracelab.pool")


class Refused(Exception):
    """A request the pool answers with an error status and one line."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class PoolGuard:
    """Early body caps (413), the per-address rate limit (429) and the audit log."""

    def __init__(self, app: ASGIApp, ctx: PoolContext) -> None:
        self.app = app
        self.ctx = ctx

    def _cap(self, method: str, path: str) -> int:
        if method == "PUT" and path.startswith("/v1/uploads/"):
            return self.ctx.limits.max_chunk_bytes
        return JSON_BODY_CAP if method in ("POST", "PUT", "PATCH") else 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = self.ctx
        addr = (scope.get("client") or ("-", 0))[0]
        method, path = scope["method"], scope["path"]
        state = scope.setdefault("state", {})
        state["addr"] = addr
        status_box = [0]
        length = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                length = int(value) if value.isdigit() else -1
        cap = self._cap(method, path)
        response = None
        if length is not None and length < 0:
            response = _error(400, "bad Content-Length")
        elif length is not None and length > cap:
            response = _error(413, f"request body larger than {human_bytes(cap)} (the cap)")
        else:
            wait = ctx.limiter.take(
                f"addr:{addr}", ctx.policy.address_rate, ctx.policy.address_burst
            )
            if wait:
                response = _error(
                    429, "too many requests from this address", {"Retry-After": _secs(wait)}
                )

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            if response is not None:
                state["outcome"] = orjson.loads(response.body)["error"]
                await response(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            ctx.audit.write(
                addr=addr,
                who=state.get("who"),
                method=method,
                path=path,
                status=status_box[0],
                bytes=length,
                outcome=state.get("outcome"),
            )


def _secs(wait: float) -> str:
    return str(max(1, int(wait + 0.999)))


def _import_ingest_libraries() -> None:
    """Load Arrow and DuckDB while the server starts, not when the first upload waits."""
    import duckdb  # noqa: F401
    import pyarrow.compute
    import pyarrow.json
    import pyarrow.parquet  # noqa: F401

    from tracelab.schema import PUBLIC_ARROW_SCHEMA  # noqa: F401


def default_ingest_workers() -> int:
    """One ingest worker per CPU this process may use (the work is in zlib, Arrow and DuckDB,
    which release the GIL), at most 8: each holds a few blocks and a DuckDB connection."""
    return max(1, min(8, usable_cpus()))


class PoolContext:
    """Everything the routes share: the pool, its uploads, access control, the worker."""

    def __init__(
        self,
        pool_dir: Path,
        policy: AccessPolicy,
        limits: Limits,
        max_uploads: int,
        ingest_workers: int | None = None,
    ):
        self.pool = Pool(pool_dir)
        self.ingest_workers = ingest_workers or default_ingest_workers()
        self.policy = policy
        self.limits = limits
        self.uploads = Uploads(self.pool.uploads_dir, max_active=max_uploads)
        self.tokens = Tokens(self.pool.root)
        self.limiter = RateLimiter()
        self.audit = AuditLog(self.pool.root / "audit.log")
        self.worker: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Own the pool, clean what a crash left, queue the uploads it had accepted."""
        self.pool.acquire()
        threading.Thread(target=_import_ingest_libraries, daemon=True).start()
        recovery = self.pool.recover()
        expired = self.uploads.expire()
        self.worker = ThreadPoolExecutor(
            max_workers=self.ingest_workers, thread_name_prefix="pool-ingest"
        )
        pending = self.uploads.pending()
        for upload_id in pending:
            self.worker.submit(self.run_ingest, upload_id)
        self.audit.write(
            event="start",
            removed=recovery.removed_files,
            missing=recovery.missing_files,
            expired_uploads=expired,
            requeued=len(pending),
        )

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=True, cancel_futures=True)
        self.pool.release_lock()
        self.audit.close()

    def run_ingest(self, upload_id: str) -> None:
        """The ingest job: its outcome is the upload's status (one line when rejected)."""
        uploads = self.uploads
        try:
            meta = uploads.meta(upload_id)
        except UploadError:
            return
        uploads.set_status(upload_id, PROCESSING)
        receipt = None
        try:
            receipt = ingest_upload(
                self.pool,
                uploads.data_path(upload_id),
                declared_sha256=meta["sha256"],
                contributor=meta["contributor"],
                consent=meta["consent"],
                upload_id=upload_id,
                limits=self.limits,
            )
        except UploadRejected as exc:
            outcome, message = REJECTED, str(exc)
        except Exception:  # a bug or a full disk: the pool is unchanged, the client told so
            log.exception("ingest of %s failed", upload_id)
            outcome = REJECTED
            message = "the pool could not process this upload (server error); it is unchanged"
        else:
            outcome, message = ACCEPTED, _accepted_message(receipt)
        # logged before the status is published, so a client that saw it finds the line
        self.audit.write(
            event="ingest",
            upload=upload_id,
            who=meta["contributor"],
            outcome=outcome,
            message=message,
        )
        extra = {"receipt": receipt} if outcome == ACCEPTED else {}
        uploads.set_status(upload_id, outcome, message=message, **extra)
        uploads.discard_data(upload_id)


def _accepted_message(receipt: dict[str, Any]) -> str:
    if receipt["duplicate_upload"]:
        return f"these bytes are already in the pool as {receipt['contribution_id']}"
    if receipt["contribution_id"] is None:
        return "every session of this upload is already in the pool; nothing was added"
    return (
        f"accepted as {receipt['contribution_id']}: {receipt['rows_accepted']} rows, "
        f"{receipt['sessions_new']} new sessions, {receipt['sessions_in_pool']} already in the pool"
    )


async def _read_json(request: Request) -> dict[str, Any]:
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > JSON_BODY_CAP:
            raise Refused(413, f"request body larger than {human_bytes(JSON_BODY_CAP)}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the request body must be a JSON object")
    return data


def _consent(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("accepted") is not True:
        raise Refused(400, f"consent to the dataset's licence ({LICENCE}) is required")
    if value.get("licence") != LICENCE:
        raise Refused(400, f"the pool's dataset is licensed {LICENCE}; consent names another")
    stamp = value.get("accepted_at")
    return {
        "licence": LICENCE,
        "accepted": True,
        # the client's clock, kept only when it is a timestamp (nothing free-form is stored)
        "accepted_at": stamp
        if isinstance(stamp, str) and ISO_TIMESTAMP_RE.fullmatch(stamp)
        else None,
        "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def create_app(
    pool_dir: Path,
    *,
    policy: AccessPolicy | None = None,
    limits: Limits | None = None,
    max_uploads: int = 16,
    ingest_workers: int | None = None,
) -> FastAPI:
    """The pool app; the pool is opened (and recovered) when the app starts. Uploads are
    ingested by `ingest_workers` threads (default: one per CPU)."""
    ctx = PoolContext(
        Path(pool_dir), policy or AccessPolicy(), limits or Limits(), max_uploads, ingest_workers
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        ctx.start()
        try:
            yield
        finally:
            ctx.stop()

    app = FastAPI(
        title="TraceLab pool",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.add_middleware(PoolGuard, ctx=ctx)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        request.state.outcome = str(exc)
        return _error(exc.status, str(exc), exc.headers)

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        request.state.outcome = str(exc)
        return _error(exc.status, str(exc), **exc.extra)

    def identify(request: Request) -> str:
        auth = request.headers.get("authorization")
        addr = request.state.addr
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            name = ctx.tokens.identify(token.strip()) if scheme.lower() == "bearer" else None
            if name is None:
                raise Refused(401, "unknown contributor token")
            who = f"token:{name}"
            wait = ctx.limiter.take(who, ctx.policy.token_rate, ctx.policy.token_burst)
            if wait:
                raise Refused(
                    429, "too many requests with this token", {"Retry-After": _secs(wait)}
                )
        elif ctx.policy.open_mode:
            who = address_identity(addr)
        else:
            raise Refused(
                401,
                "this pool needs a contributor token (ask its maintainer: "
                "`tracelab pool token add NAME`)",
            )
        request.state.who = who
        return who

    @app.get("/v1/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "open": ctx.policy.open_mode,
            "contributions": len(ctx.pool.contributions()),
            "licence": LICENCE,
            "max_chunk_bytes": ctx.limits.max_chunk_bytes,
            "max_upload_bytes": ctx.limits.max_compressed_bytes,
        }

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        return pool_stats(ctx.pool)

    @app.post("/v1/uploads", status_code=201)
    async def start_upload(request: Request) -> Any:
        who = identify(request)
        body = await _read_json(request)
        size, sha256 = body.get("size"), body.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise Refused(400, "size must be a positive integer (bytes of the upload)")
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
            raise Refused(400, "sha256 must be 64 lowercase hex digits")
        if size > ctx.limits.max_compressed_bytes:
            raise Refused(
                413,
                f"the upload is larger than {human_bytes(ctx.limits.max_compressed_bytes)} "
                "(the compressed-size cap)",
            )
        consent = _consent(body.get("consent"))
        existing = ctx.pool.by_content(sha256)
        if existing is not None:
            from tracelab.pool.ingest import receipt

            out = receipt(ctx.pool, existing, who, duplicate_upload=True)
            request.state.outcome = "duplicate upload"
            return JSONResponse(
                {"state": ACCEPTED, "message": _accepted_message(out), "receipt": out}
            )
        if ctx.policy.open_mode and who.startswith("open:"):
            per_hour = ctx.policy.open_uploads_per_hour
            wait = ctx.limiter.take(f"start:{who}", per_hour / 3600, per_hour)
            if wait:
                raise Refused(
                    429, "too many uploads from this address", {"Retry-After": _secs(wait)}
                )
        info = ctx.uploads.start(size=size, sha256=sha256, consent=consent, contributor=who)
        request.state.outcome = f"upload {info['upload_id']} started"
        return info

    @app.get("/v1/uploads/{upload_id}")
    async def upload_status(upload_id: str, request: Request) -> dict[str, Any]:
        return ctx.uploads.describe(upload_id, identify(request))

    @app.get("/v1/jobs/{upload_id}")
    async def job_status(upload_id: str, request: Request) -> dict[str, Any]:
        return ctx.uploads.describe(upload_id, identify(request))

    @app.put("/v1/uploads/{upload_id}")
    async def append_chunk(upload_id: str, offset: int, request: Request) -> Any:
        who = identify(request)
        header = request.headers.get("content-length")
        length = int(header) if header and header.isdigit() else None
        try:
            received = await ctx.uploads.append(
                upload_id, offset, length, request.stream(), who, ctx.limits.max_chunk_bytes
            )
        except ClientDisconnect:
            request.state.outcome = "client disconnected mid-chunk"
            return JSONResponse({"error": "client disconnected"}, status_code=400)
        return {"upload_id": upload_id, "received": received}

    @app.post("/v1/uploads/{upload_id}/finish", status_code=202)
    async def finish(upload_id: str, request: Request) -> dict[str, Any]:
        who = identify(request)
        before = ctx.uploads.describe(upload_id, who)["state"]
        info = ctx.uploads.finish(upload_id, who)
        if before == "receiving" and ctx.worker is not None:
            ctx.worker.submit(ctx.run_ingest, upload_id)
        request.state.outcome = f"upload {upload_id} {info['state']}"
        return info

    @app.post("/v1/withdraw")
    async def withdraw(request: Request) -> dict[str, Any]:
        body = await _read_json(request)
        cid, token = body.get("contribution_id"), body.get("withdrawal_token")
        addr = request.state.addr
        wait = ctx.limiter.take(f"withdraw:{addr}", 0.2, 10)  # guessing tokens stays slow
        if wait:
            raise Refused(429, "too many withdrawal attempts", {"Retry-After": _secs(wait)})
        if not isinstance(cid, str) or not isinstance(token, str):
            raise Refused(400, "contribution_id and withdrawal_token are required")
        entry = ctx.pool.get(cid)
        if entry is None or not ctx.pool.check_withdrawal_token(cid, token):
            raise Refused(403, "wrong withdrawal token for this contribution")
        updated = await run_in_threadpool(ctx.pool.withdraw, cid)
        request.state.outcome = f"withdrew {cid}"
        return {
            "contribution_id": cid,
            "status": updated["status"],
            "withdrawn_at": updated.get("withdrawn_at"),
        }

    return app
