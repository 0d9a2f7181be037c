"""Browser tests: the real server (uvicorn) driven by Playwright in Debian's chromium.

Load the overview, upload an archive of synthetic agent logs, see the dashboard draw its
charts, open a session and its step inspector — with no console errors — and take
screenshots into the test's output directory: each test's tmp_path, and a copy in
`test-output/screenshots/` at the repository root (gitignored), a fixed place where a CI run's
screenshots can be collected. Skipped only when /usr/bin/chromium is missing (`.ci/run`
installs it, so CI runs them).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelab.web.chromium import ARGS, CHROMIUM

from .conftest import EXPERIMENTS, TOKEN

#: Where every screenshot is also copied, so a CI run's screenshots are found in one place.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

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


@contextlib.contextmanager
def _serving(db: Path, source: Path | None, prices=None) -> Iterator[str]:
    """uvicorn serving trace database `db` on a free loopback port, in a thread."""
    import uvicorn

    from tracelab.web.app import create_app

    port = _free_port()
    app = create_app(
        db,
        source=source,
        port=port,
        token=TOKEN,
        experiment_ids=EXPERIMENTS,
        warm=True,  # as `tracelab serve`: each trace's pages are prepared in the background
        prices=prices,
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        app.state.tracelab.traces.close()


@pytest.fixture
def server(small_trace) -> Iterator[str]:
    """The small synthetic trace, served."""
    with _serving(small_trace.db, small_trace.trace) as url:
        yield url


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

    # Dashboard of the uploaded trace: every chart drawn by Plotly; then the page tells the
    # server it is drawn (the server's background work waited for it).
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/drawn")) as told:
        page.click("#open-dashboard")
        page.wait_for_selector("#content[data-rendered='1']")
    assert told.value.response().status == 200
    plots = page.locator("#content .js-plotly-plot")
    assert plots.count() == 12
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
    # The experiment clicked below must have finished (on a loaded machine the first "ok"
    # can be another one, and clicking a running experiment logs its 404 "not run yet").
    page.wait_for_selector(
        "#exp-list a[data-id='session/context_growth'].status-ok", timeout=300_000
    )
    page.wait_for_selector("#exp-body .experiment")
    # clicked once it has run (a pending one answers 404 until the run reaches it)
    page.wait_for_selector("#exp-list a.status-ok[data-id='session/context_growth']")
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


# --- issue 15: what a user hit --------------------------------------------------------------

#: The charts a one-step trace without tool calls has no data for (derived by hand: no tool
#: call, and its only user message has no event before it, so no human wait).
EMPTY_ON_ONE_STEP = (
    "chart-tool-cdf",
    "chart-latency-by-tool",
    "chart-tool-counts",
    "chart-wait-cdf",
)


def test_empty_charts_say_no_data(one_step_db: Path, page, tmp_path) -> None:
    with _serving(one_step_db, None) as url:
        page.goto(url + "/dashboard")
        page.wait_for_selector("#content[data-rendered='1']")
        for chart in EMPTY_ON_ONE_STEP:
            box = page.locator(f"#{chart}")
            assert box.locator("[data-nodata]").count() == 1, chart
            assert box.locator(".main-svg").count() == 0, chart  # no blank axes
        drawn = page.eval_on_selector_all(
            "#content .card > div[id^=chart-]",
            "els => els.filter(e => e.querySelector('.main-svg')).map(e => e.id)",
        )
        assert set(drawn) == {
            "chart-calendar",
            "chart-heatmap",
            "chart-cost",
            "chart-cost-project",
            "chart-scatter",
            "chart-output",
            "chart-gen-cdf",
            "chart-hit-bins",
        }
        _shot(page, tmp_path, "10-dashboard-one-step")
        assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.fixture
def partly_priced_server(small_trace, partial_prices) -> Iterator[str]:
    """The small trace under a price table that leaves some Codex models unpriced."""
    with _serving(small_trace.db, small_trace.trace, partial_prices) as url:
        yield url


def test_dashboard_palette_tool_bars_calendar_and_unpriced(
    partly_priced_server: str, page, tmp_path
) -> None:
    import httpx

    from tracelab.palette import PROVIDER_COLORS

    server = partly_priced_server
    board = httpx.get(server + "/api/t/main/dashboard").json()
    unpriced = [r["model"] for r in board["cost_by_model"] if r["total"] is None]
    page.goto(server + "/dashboard")
    page.wait_for_selector("#content[data-rendered='1']")
    assert page.locator("#synthetic-banner").is_visible()  # the served trace is synthetic
    # one palette: Codex's bars have the figures' Codex colour
    colors = page.evaluate(
        "Object.fromEntries(document.getElementById('chart-tool-counts').data"
        ".map(t => [t.name, t.marker.color]))"
    )
    assert colors == {p: PROVIDER_COLORS[p] for p in ("claude", "codex")}
    # the tool calls: horizontal bars with the tool names on the axis, a real plot area
    tc = page.evaluate(
        "(() => { const d = document.getElementById('chart-tool-counts');"
        " return {o: d.data.map(t => t.orientation), y: d.data[0].y,"
        " h: d._fullLayout._size.h}; })()"
    )
    assert set(tc["o"]) == {"h"}
    tools = {r["tool"] for r in board["tool_counts"] if r["provider"] == "claude"}
    assert set(tc["y"]) == tools
    assert tc["h"] >= 16 * len(tools)  # room for every bar, not 70 px under rotated names
    # the calendar shows cost on request
    page.select_option("#calendar-metric", "cost")
    page.wait_for_selector("#chart-calendar[data-metric='cost']")
    title = page.evaluate("document.getElementById('chart-calendar').data[0].colorbar.title.text")
    assert title == "USD"
    # an unpriced model is listed as such
    assert unpriced
    note = page.inner_text("#unpriced-models")
    assert all(m in note for m in unpriced)
    labels = page.evaluate("document.getElementById('chart-cost').data[0].y")
    assert all(f"{m} (unpriced)" in labels for m in unpriced)
    _shot(page, tmp_path, "11-dashboard-cost-calendar")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_sessions_columns_filters_and_tool_result_size(server: str, page, tmp_path) -> None:
    import httpx

    page.goto(server + "/sessions")
    page.wait_for_selector("#session-table tbody tr")
    heads = page.locator("#session-table th").all_inner_texts()
    assert heads[0] == "session" and "subagents" in heads and "project" in heads
    top = page.locator("#session-table tbody tr").count()
    assert page.locator("#f-project option").count() >= 2
    page.check("#f-subagents")
    page.wait_for_function(f"document.querySelectorAll('#session-table tbody tr').length > {top}")
    assert page.locator("#session-table .sid", has_text="↳").count() >= 1
    _shot(page, tmp_path, "12-sessions-with-subagents")

    # a tool-initiated step's tool_result events show their size (the API has result_chars)
    sessions = httpx.get(server + "/api/t/main/sessions", params={"sort": "tools"}).json()
    sid = sessions["sessions"][0]["session_id"]
    steps = httpx.get(server + "/api/t/main/session", params={"id": sid}).json()["steps"]
    pk = next(s["round_pk"] for s in steps if s["is_tool"])
    events = httpx.get(server + f"/api/t/main/steps/{pk}").json()["events"]
    sizes = [e["result_chars"] for e in events if e["event_type"] == "tool_result"]
    page.goto(server + f"/session?id={sid}&step={pk}")
    page.wait_for_selector("#events-table tbody tr")
    rows = page.locator("#events-table tbody tr").all_inner_texts()
    shown = [r.split("\t")[-1].strip() for r in rows if r.startswith("tool_result")]
    assert shown == [f"{n:,}" for n in sizes]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_uploads_are_listed_named_and_deletable(server: str, page, home_zip: Path, tmp_path):
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server + "/analyze")
    page.set_input_files("#file-input", str(home_zip))
    page.wait_for_selector("#upload-done, #upload-error", timeout=180_000)
    assert page.locator("#upload-error").count() == 0, page.inner_text("#upload-status")
    page.wait_for_selector("#uploads-table tbody tr")
    assert page.locator("#uploads-table tbody tr").count() == 1
    page.reload()
    page.wait_for_selector("#uploads-table tbody tr")
    option = page.locator("#trace-select option", has_text=home_zip.name).inner_text()
    size = home_zip.stat().st_size
    assert f"{size / 1000:.1f} KB" in option or f"{size / 1e6:.1f} MB" in option, option
    assert option.count("·") == 2  # name · upload time · size
    _shot(page, tmp_path, "13-analyze-uploads")
    page.click("#uploads-table button.danger")
    page.wait_for_selector("#uploads-table", state="detached")
    assert "None yet" in page.inner_text("#uploads")
    assert page.console_errors == []  # type: ignore[attr-defined]
