"""The HTML pages: one server-rendered shell per page, the page's JS draws from the JSON API.

The shell carries the same-origin token (a `<meta>` the page's JS sends back as a header on
every state-changing request) and nothing from the trace: all trace data arrives as JSON and is
inserted with `textContent` or Plotly, never as HTML, except the experiments' sections, which
`tracelab.report` builds with every trace value escaped.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from tracelab import __version__
from tracelab.palette import palette
from tracelab.web.state import AppState

PAGES: dict[str, str] = {
    "overview": "Overview",
    "analyze": "Analyze",
    "dashboard": "Dashboard",
    "sessions": "Sessions",
    "session": "Session",
    "experiments": "Experiments",
    "compare": "Compare",
    "ask": "Ask",
    "contribute": "Contribute",
}
NAV = (
    "overview", "analyze", "dashboard", "sessions", "experiments", "compare", "ask", "contribute",
)  # fmt: skip


def static_dir() -> Path:
    return Path(str(resources.files("tracelab.web") / "static"))


def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def shell(page: str, token: str) -> str:
    template = (static_dir() / "shell.html").read_text("utf-8")
    nav = "".join(
        f'<a href="/{"" if p == "overview" else p}" data-page="{p}"'
        f"{' aria-current=page' if p == page else ''}>{PAGES[p]}</a>"
        for p in NAV
    )
    return (
        template.replace("{{title}}", html.escape(PAGES[page]))
        .replace("{{page}}", page)
        .replace("{{token}}", html.escape(token, quote=True))
        .replace("{{nav}}", nav)
        .replace("{{version}}", html.escape(__version__))
        .replace("{{palette}}", html.escape(json.dumps(palette()), quote=True))
    )


def router(state: AppState) -> APIRouter:
    pages = APIRouter()

    def page(name: str) -> HTMLResponse:
        return HTMLResponse(
            shell(name, state.token),
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": (
                    "default-src 'self'; img-src 'self' data: blob:; "
                    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-eval'; "
                    "connect-src 'self'; frame-ancestors 'none'"
                ),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @pages.get("/", response_class=HTMLResponse)
    def overview() -> HTMLResponse:
        return page("overview")

    @pages.get("/{name}", response_class=HTMLResponse)
    def named(name: str) -> HTMLResponse:
        if name not in PAGES or name == "overview":
            raise HTTPException(404, "no such page")
        return page(name)

    @pages.get("/favicon.ico")
    def favicon() -> FileResponse:
        return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")

    @pages.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(
            plotly_path(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return pages
