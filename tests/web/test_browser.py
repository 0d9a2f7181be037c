"""Browser tests: the real server (uvicorn) driven by Playwright in Debian's chromium.

Load the overview, upload an archive of synthetic agent logs, see the dashboard draw its
charts, open a session and its step inspector — with no console errors — and take
screenshots into the test's output directory: each test's tmp_path, and a copy in
`test-output/screenshots/` at the repository root (gitignored), a fixed place where a CI run's
screenshots can be collected. Skipped only when /usr/bin/chromium is missing (`.ci/run`
installs it, so CI runs them).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXPERIMENTS, TOKEN

CHROMIUM = Path("/usr/bin/chromium")
#: Where every screenshot is also copied, so a CI run's screenshots are found in one place.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing (.ci/run installs Debian's chromium)",
)


@pytest.fixture(scope="module", autouse=True)
def _fresh_screenshots() -> None:
    """Start the run with an empty `SCREENSHOTS`, so none is left from an earlier run."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(small_trace) -> Iterator[str]:
    """uvicorn serving the small trace on a free loopback port, in a thread."""
    import uvicorn

    from tracelab.web.app import create_app

    port = _free_port()
    app = create_app(
        small_trace.db,
        source=small_trace.trace,
        port=port,
        token=TOKEN,
        experiment_ids=EXPERIMENTS,
        warm=True,  # as `tracelab serve`: each trace's pages are prepared in the background
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    app.state.tracelab.traces.close()


@pytest.fixture
def page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.console_errors = []  # type: ignore[attr-defined]
        pg.on(
            "console",
            lambda msg: msg.type == "error" and pg.console_errors.append(msg.text),  # type: ignore[attr-defined]
        )
        pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))  # type: ignore[attr-defined]
        pg.on(
            "response",
            lambda r: r.status >= 400 and pg.console_errors.append(f"{r.status} {r.url}"),  # type: ignore[attr-defined]
        )
        yield pg
        context.close()
        browser.close()


def _shot(page, out: Path, name: str) -> None:
    """Screenshot into `out` (the test's tmp_path) and a copy into `SCREENSHOTS`."""
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / path.name)
    print(f"screenshot: {path} (copy: {SCREENSHOTS / path.name})")


def test_overview_upload_dashboard_session(server: str, page, home_zip: Path, tmp_path) -> None:
    # Overview: KPIs from the served trace.
    page.goto(server + "/")
    page.wait_for_selector("#kpis .kpi")
    # 12 KPIs: the 10 of before plus the 5-minute and 1-hour cache writes
    assert page.locator("#kpis .kpi").count() == 12
    # every cost figure names its price source and how many steps it priced
    assert "priced exactly" in page.locator("#prices-note").inner_text()
    page.wait_for_selector("#provider-split .main-svg")
    _shot(page, tmp_path, "1-overview")

    # Analyze: upload a zip of raw agent logs; it is detected, processed, and opens.
    page.goto(server + "/analyze")
    page.set_input_files("#file-input", str(home_zip))
    page.wait_for_selector("#upload-done, #upload-error", timeout=180_000)
    assert page.locator("#upload-error").count() == 0, page.inner_text("#upload-status")
    assert "kind:" in page.inner_text("#upload-done")
    assert page.locator("a.dl").count() == 2
    _shot(page, tmp_path, "2-analyze-uploaded")

    # Dashboard of the uploaded trace: every chart drawn by Plotly.
    page.click("#open-dashboard")
    page.wait_for_selector("#content[data-rendered='1']")
    plots = page.locator("#content .js-plotly-plot")
    assert plots.count() == 11
    assert page.locator("#chart-heatmap .main-svg").count() >= 1
    assert page.locator("#highlights a").count() >= 4
    _shot(page, tmp_path, "3-dashboard")

    # Dark mode toggles and the charts stay.
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
    _shot(page, tmp_path, "4-dashboard-toggled-theme")

    # Sessions: the list, then a session with its timeline and the step inspector.
    page.click("nav a[data-page='sessions']")
    page.wait_for_selector("#session-results tbody tr")
    page.select_option("#f-sort", "steps")
    page.wait_for_function(
        "document.querySelector('#session-count') && "
        "new URLSearchParams(location.search).get('sort') === 'steps'"
    )
    page.wait_for_selector("#session-results tbody tr")
    _shot(page, tmp_path, "5-sessions")
    page.locator("#session-results tbody tr").first.click()
    page.wait_for_selector("#timeline .main-svg")
    first_bar = page.locator("#timeline .bars path").first
    first_bar.click(force=True)
    page.wait_for_selector("#inspector-title")
    page.click("#show-raw")
    page.wait_for_selector("#raw-box pre, #raw-box p")
    _shot(page, tmp_path, "6-session")

    assert page.console_errors == []  # type: ignore[attr-defined]


def test_experiments_and_compare_pages(server: str, page, tmp_path) -> None:
    page.goto(server + "/experiments")
    page.wait_for_selector("#exp-list a.status-ok", timeout=300_000)
    page.wait_for_selector("#exp-body .experiment")
    page.locator("#exp-list a[data-id='session/context_growth']").click()
    page.wait_for_selector("#exp-body .experiment h3")
    _shot(page, tmp_path, "7-experiments")

    page.goto(server + "/compare")
    page.wait_for_selector("#compare-table tbody tr")
    assert page.locator("#compare-table td.better").count() >= 1
    rows = page.locator("#compare-table tbody tr").count()
    _shot(page, tmp_path, "8-compare")

    # Any two models: compare by model, pick two of the trace's models (the second against
    # the first), and the table shows both, every row, the better values marked.
    page.select_option("#pick-by", "model")
    page.wait_for_selector("#compare-table[data-by='model']")
    models = [m for m in page.locator("#pick-ga option").all_inner_texts() if m != "total"]
    assert len(models) >= 2, models
    page.select_option("#pick-ga", models[1])
    page.wait_for_selector(f'#compare-table[data-a="{models[1]}"]')
    page.select_option("#pick-gb", models[0])
    page.wait_for_selector(f'#compare-table[data-a="{models[1]}"][data-b="{models[0]}"]')
    header = page.inner_text("#compare-table thead")
    assert models[0] in header and models[1] in header
    assert page.locator("#compare-table tbody tr").count() == rows
    assert page.locator("#compare-table td.better").count() >= 1
    assert "by=model" in page.url
    _shot(page, tmp_path, "9-compare-models")

    page.goto(server + "/")
    page.wait_for_selector("#gallery img")
    assert page.console_errors == []  # type: ignore[attr-defined]
