"""`tracelab serve`: a local web app over a trace — nothing leaves the machine.

A FastAPI app (`app.create_app`) serves one HTML shell per page and JSON endpoints that the
page's vanilla JS draws with Plotly (its JS served from the installed `plotly` package, so the
app works offline). Every number comes from `tracelab.metrics` over the trace's DuckDB; the
aggregates a page needs are computed once per trace and cached in memory.

Modules, one job each: `traces` (an open trace database, its lock and cache; the registry of
traces the app knows), `jobs` (background work with progress), `security` (Host check and
same-origin token), `dashboard` / `sessions` / `compare` / `experiments` (the JSON each page
reads), `uploads` (stream an upload to disk, hand it to `tracelab.ingest`), `startup` (what to
serve when no trace is given), `api` / `pages` (routes), `server` (uvicorn, the browser).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    # Lazy: importing tracelab.web must not import FastAPI (the CLI's start-up stays fast).
    if name == "create_app":
        from tracelab.web.app import create_app

        return create_app
    if name == "serve":
        from tracelab.web.server import serve

        return serve
    raise AttributeError(name)
