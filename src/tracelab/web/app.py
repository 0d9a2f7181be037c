"""The app factory: state, routes, the Host/token guard, error handlers.

`create_app` takes an already-resolved trace database (the CLI resolves `--db` / `-i` with the
same cache as every other command) or none, in which case the current user's logs are
collected in the background (`collect_on_start`). Tests build the app with a small trace and a
known token and talk to it through httpx.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import duckdb
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from tracelab.ask.settings import BackendSettings
from tracelab.pricing import PriceSource
from tracelab.sources.discover import Home
from tracelab.web import api, ask, contribute, dashboard, pages
from tracelab.web.ask import AskService
from tracelab.web.security import GuardMiddleware, allowed_hosts, new_token
from tracelab.web.state import AppState
from tracelab.web.traces import TraceStore, main_store
from tracelab.web.uploads import MAX_UPLOAD_BYTES, UPLOAD_QUOTA_BYTES, UploadQuota, load_uploads

#: Default seconds a trace may go unused before its database connection is closed.
IDLE_CLOSE_S = 600.0


def create_app(
    db: Path | None = None,
    *,
    source: Path | None = None,
    label: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    upload_limit: int = MAX_UPLOAD_BYTES,
    upload_quota: int = UPLOAD_QUOTA_BYTES,
    idle_close_s: float | None = IDLE_CLOSE_S,
    prices: PriceSource | None = None,
    collect_on_start: bool = True,
    collect_home: Home | None = None,
    synthetic: bool = False,
    experiment_ids: list[str] | None = None,
    warm: bool = False,
    main: TraceStore | None = None,
    ask_defaults: BackendSettings | None = None,
) -> FastAPI:
    """The web app over trace database `db` (or, without one, over the user's collected logs).

    `main`: the served trace's store, made (and being warmed) by the caller instead of from
    `db` — `tracelab serve` starts preparing it before the web stack is even imported.

    `experiment_ids` limits the Experiments page to some experiments (ids, names or
    categories, as `tracelab analyze --only`); tests use it to stay fast.

    `upload_quota`: bytes the uploads folder may hold (uploads and their traces, together).
    `idle_close_s`: a trace unused this long closes its database connection (its memory is
    released; the next page opens it again); None keeps connections open.
    `ask_defaults`: the Ask page's backend (`serve --ask-base-url …`; None: the local model).
    """
    state = AppState(
        token=token or new_token(),
        upload_limit=upload_limit,
        quota=UploadQuota(upload_quota),
        experiment_ids=experiment_ids,
        ask=AskService(ask_defaults),
    )
    # Every trace of this server (served, collected, demo, uploaded) uses the same prices.
    state.traces.prices = prices
    state.collect_home = collect_home
    if warm:
        # Every trace's overview and dashboard are prepared in the background once it is
        # added (served, collected, demo, uploaded): the first visit finds them ready.
        state.traces.warm_up = _quietly(
            functools.partial(dashboard.warm, page_wait_s=dashboard.PAGE_WAIT_S)
        )
    if main is not None:
        state.traces.add(main, default=True, warm=False)  # its caller is warming it
    elif db is not None:
        state.traces.add(
            main_store(db, source, label=label, prices=prices, synthetic=synthetic), default=True
        )
    elif collect_on_start:
        state.start_collect()
    load_uploads(state.traces)  # earlier runs' uploads, listed and servable again
    if idle_close_s is not None and idle_close_s > 0:
        state.traces.start_reaper(idle_close_s)
        state.ask.start_reaper(idle_close_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.ask.close()
        state.traces.close()

    app = FastAPI(
        title="TraceLab", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.tracelab = state
    app.include_router(api.router(state))
    app.include_router(contribute.router(state))
    app.include_router(ask.router(state))
    app.include_router(pages.router(state))
    app.mount("/static", StaticFiles(directory=pages.static_dir()), name="static")
    app.add_middleware(GuardMiddleware, hosts=allowed_hosts(host, port), token=state.token)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> api.JSON:
        return api.error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> api.JSON:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return api.error(422, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(duckdb.Error)
    async def db_error(_: Request, exc: duckdb.Error) -> api.JSON:
        # The first line only: DuckDB appends the query text, which is no message for a user.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return api.error(500, f"trace database error: {first}")

    @app.exception_handler(Exception)
    async def any_error(_: Request, exc: Exception) -> api.JSON:
        return api.error(500, f"{type(exc).__name__}: {exc}")

    return app


def _quietly(fn: Callable[[TraceStore], None]) -> Callable[[TraceStore], None]:
    """`fn` for a background thread: its error shows on the first request that needs it."""

    def run(store: TraceStore) -> None:
        with contextlib.suppress(Exception):
            fn(store)

    return run
