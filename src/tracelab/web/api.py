"""The JSON endpoints. Each is a thin call into `dashboard`, `sessions`, `compare`,
`experiments`, `uploads` or `startup`; heavy aggregates are cached per trace.

Handlers are plain `def`s: FastAPI runs them in its thread pool, and a trace's connection lock
serializes their DuckDB work. Any failure answers with a JSON `{"error": …}` and a status code;
no input reaches SQL except as a bound parameter or through an allow-list (sort keys, zones).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from tracelab.web import compare, dashboard, sessions
from tracelab.web.dashboard import encode, valid_tz
from tracelab.web.state import AppState
from tracelab.web.traces import TraceStore
from tracelab.web.uploads import (
    EmptyUpload,
    QuotaExceeded,
    UploadTooLarge,
    delete_upload,
    discard,
    folder_bytes,
    new_workdir,
    receive_to_disk,
    safe_name,
    start_processing,
    uploads_dir,
)


class JSON(Response):
    """orjson-encoded JSON (NaN becomes null; dates ISO-8601)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content)


def error(status: int, message: str) -> JSON:
    return JSON({"error": message}, status_code=status)


#: Bounds of numbers that reach SQL (larger values cannot name a row; DuckDB would overflow).
MAX_OFFSET = 10**12
MAX_ROUND_PK = 2**62


def day(value: str | None, name: str) -> str | None:
    """A calendar day YYYY-MM-DD, checked here (422 with a plain message, never SQL's)."""
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise HTTPException(422, f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def router(state: AppState) -> APIRouter:
    api = APIRouter(prefix="/api", default_response_class=JSON)

    def store_of(trace_id: str) -> TraceStore:
        store = state.traces.get(trace_id)
        if store is None:
            raise HTTPException(404, f"no trace {trace_id!r}")
        return store

    @api.get("/status")
    def status() -> dict[str, Any]:
        startup = state.jobs.get(state.startup_job) if state.startup_job else None
        return {
            "default_trace": state.traces.default_id,
            "traces": [t.summary() for t in state.traces.all()],
            "startup_job": startup.to_json() if startup else None,
            "upload_limit": state.upload_limit,
        }

    @api.get("/uploads")
    def upload_list() -> dict[str, Any]:
        """The uploaded traces (this run's and earlier ones'), their size on disk, the quota."""
        uploads = [t for t in state.traces.all() if t.origin == "upload"]
        uploads.sort(key=lambda t: t.created or 0, reverse=True)
        return {
            "uploads": [
                {**t.summary(), "disk_bytes": folder_bytes(uploads_dir() / t.id)} for t in uploads
            ],
            "used": state.quota.used(),
            "reserved": state.quota.reserved(),
            "quota": state.quota.quota,
            "limit": state.upload_limit,
        }

    @api.delete("/uploads/{upload_id}")
    def upload_delete(upload_id: str) -> dict[str, Any]:
        if not delete_upload(state.traces, upload_id):
            raise HTTPException(404, f"no upload {upload_id!r}")
        state.ask.sweep({t.id for t in state.traces.all()})  # its Ask sandbox and copy too
        return {"deleted": upload_id}

    @api.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        found = state.jobs.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return found.to_json()

    @api.post("/demo", status_code=202)
    def demo() -> dict[str, Any]:
        job = state.start_demo()
        return {"job": job.to_json()}

    @api.post("/collect", status_code=202)
    def collect() -> dict[str, Any]:
        job = state.start_collect()
        return {"job": job.to_json()}

    @api.post("/uploads", status_code=202)
    async def upload(request: Request, name: str = Query("upload")) -> Any:
        too_large = f"upload too large: the limit is {state.upload_limit:,} bytes"
        header = request.headers.get("content-length")
        declared = int(header) if header and header.isdigit() else None
        if declared is not None and declared > state.upload_limit:
            return error(413, too_large)
        try:
            # Held before the first byte is written, until the upload has been processed.
            held = state.quota.reserve(declared, state.upload_limit)
        except QuotaExceeded as exc:
            return error(507, str(exc))
        upload_id = state.traces.new_id("u")
        label = safe_name(name)
        work = new_workdir(upload_id)
        target = work / "upload" / label
        try:
            size = await receive_to_disk(request.stream(), target, held.size)
        except BaseException as exc:  # nothing of a failed upload stays, nor its reservation
            discard(work)
            held.release()
            if isinstance(exc, EmptyUpload):
                return error(400, "empty upload: the file has no bytes")
            if not isinstance(exc, UploadTooLarge):
                raise
            if held.size >= state.upload_limit:
                return error(413, too_large)
            if declared is not None:
                return error(413, "the upload is larger than its Content-Length")
            return error(507, "not enough room for uploads: the upload outgrew the quota left")
        job = start_processing(
            state.jobs, state.traces, upload_id, target, work, label, reservation=held
        )
        return {"upload_id": upload_id, "bytes": size, "job": job.to_json()}

    @api.get("/t/{trace_id}/overview")
    def overview(trace_id: str) -> dict[str, Any]:
        store = store_of(trace_id)
        data = store.cached("overview", dashboard.overview)
        return {"trace": store.summary(), "meta": store.meta(), **data}

    @api.post("/t/{trace_id}/drawn")
    def drawn(trace_id: str) -> dict[str, Any]:
        """A page of this trace is drawn: the warm-up's background stage may start (see
        `dashboard.warm`)."""
        store_of(trace_id).drawn.set()
        return {"ok": True}

    @api.get("/t/{trace_id}/dashboard")
    def dashboard_data(
        trace_id: str,
        tz: str = "UTC",
        part: str | None = Query(None, pattern="^(" + "|".join(dashboard.PARTS) + ")$"),
    ) -> Any:
        """The whole dashboard, or one of its `part`s (the page asks for both at once and draws
        each as it arrives)."""
        store = store_of(trace_id)
        zone = valid_tz(tz)
        if part is None:
            body = dashboard.cached_json(store, zone)
        else:
            body = dashboard.part_json(store, part, zone)
        return Response(body, media_type="application/json")

    @api.get("/t/{trace_id}/sessions")
    def session_list(
        trace_id: str,
        provider: str | None = Query(None, max_length=200),
        model: str | None = Query(None, max_length=500),
        project: str | None = Query(None, max_length=2000),
        date_from: str | None = None,
        date_to: str | None = None,
        q: str | None = Query(None, max_length=200),
        sort: str = Query("recent", pattern="^(" + "|".join(sessions.SORTS) + ")$"),
        order: str = Query("desc", pattern="^(asc|desc)$"),
        limit: int = Query(50, ge=1, le=sessions.MAX_PAGE),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        subagents: bool = False,
    ) -> dict[str, Any]:
        """`subagents`: list subagent sessions too (their cost is in their parent's anyway)."""
        store = store_of(trace_id)
        with store.connection() as con:
            return sessions.list_sessions(
                con,
                provider=provider,
                model=model,
                project=project,
                date_from=day(date_from, "date_from"),
                date_to=day(date_to, "date_to"),
                q=q,
                sort=sort,
                desc=order == "desc",
                limit=limit,
                offset=offset,
                subagents=subagents,
            )

    @api.get("/t/{trace_id}/facets")
    def facets(trace_id: str) -> dict[str, Any]:
        return store_of(trace_id).cached("facets", sessions.facets)

    @api.get("/t/{trace_id}/session")
    def session(trace_id: str, id: str = Query(..., max_length=500)) -> dict[str, Any]:
        store = store_of(trace_id)
        with store.connection() as con:
            found = sessions.session_detail(con, id)
        if found is None:
            raise HTTPException(404, "no such session")
        return found

    @api.get("/t/{trace_id}/steps/{round_pk}")
    def step(trace_id: str, round_pk: int = PathParam(ge=0, le=MAX_ROUND_PK)) -> dict[str, Any]:
        store = store_of(trace_id)
        with store.connection() as con:
            found = sessions.step_detail(con, round_pk)
        if found is None:
            raise HTTPException(404, "no such step")
        return found

    @api.get("/t/{trace_id}/steps/{round_pk}/raw")
    def step_raw(trace_id: str, round_pk: int = PathParam(ge=0, le=MAX_ROUND_PK)) -> dict[str, Any]:
        store = store_of(trace_id)
        with store.connection() as con:
            return sessions.step_raw(con, store.source, round_pk)

    @api.get("/t/{trace_id}/experiments")
    def experiments(trace_id: str) -> dict[str, Any]:
        return state.experiments.listing(store_of(trace_id))

    @api.get("/t/{trace_id}/experiment")
    def experiment(trace_id: str, id: str) -> dict[str, Any]:
        html = state.experiments.html(store_of(trace_id), id)
        if html is None:
            raise HTTPException(404, "experiment not run yet (or unknown)")
        return {"id": id, "html": html}

    @api.get("/t/{trace_id}/figure.png")
    def figure(trace_id: str, exp: str, name: str) -> Response:
        png = state.experiments.figure_png(store_of(trace_id), exp, name)
        if png is None:
            raise HTTPException(404, "no such figure (yet)")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @api.get("/t/{trace_id}/download/{kind}")
    def download(trace_id: str, kind: str) -> FileResponse:
        store = store_of(trace_id)
        path = store.downloads.get(kind)
        if path is None or not Path(path).is_file():
            raise HTTPException(404, f"no {kind} download for this trace")
        stem = safe_name(store.label).split(".", 1)[0] or "trace"
        suffix = "".join(Path(path).suffixes[-2:]) or ".jsonl"
        return FileResponse(path, filename=f"{stem}.{kind}{suffix}")

    @api.get("/compare")
    def compare_view(
        a: str,
        b: str | None = None,
        ga: str | None = Query(None, max_length=500),
        gb: str | None = Query(None, max_length=500),
        by: str = Query("provider", pattern="^(" + "|".join(compare.GROUPINGS) + ")$"),
    ) -> dict[str, Any]:
        """`a`/`b`: trace ids (b defaults to a); `by`: group by provider or model;
        `ga`/`gb`: a provider (a model with by=model) or 'total'."""
        store_a = store_of(a)
        store_b = store_of(b or a)

        def facts(con: Any) -> dict[str, Any]:
            return compare.facts(con, by)

        data_a = store_a.cached(("facts", by), facts)
        data_b = store_b.cached(("facts", by), facts)
        default_a, default_b = compare.default_groups(data_a, data_b)
        ga, gb = ga or default_a, gb or default_b
        for data, group in ((data_a, ga), (data_b, gb)):
            if group not in data["groups"]:
                raise HTTPException(404, f"no {by} {group!r} in that trace")
        return {
            "by": by,
            "a": {"trace": store_a.summary(), "group": ga, "groups": data_a["groups"]},
            "b": {"trace": store_b.summary(), "group": gb, "groups": data_b["groups"]},
            "rows": compare.compare_groups(data_a, ga, data_b, gb),
        }

    return api
