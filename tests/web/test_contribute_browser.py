"""The Contribute page in Chromium: prepare, see the preview, consent, upload to a real pool
on loopback, see the receipt (the browser tests' server and page fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pool_support import running
from tracelab.io import read_rows
from tracelab.pool.access import Tokens
from tracelab.pool.storage import Pool

from .test_browser import CHROMIUM, _shot, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing")


def test_preview_consent_upload_receipt(server: str, page, small_trace, tmp_path: Path) -> None:  # noqa: F811
    rows = list(read_rows(small_trace.trace))
    sessions = len({(r["provider"], r["session_id"]) for r in rows})
    pool_dir = tmp_path / "pool"
    token = Tokens(Pool(pool_dir).root).add("browser")
    with running(pool_dir) as pool:
        page.goto(server + "/contribute")
        page.click("#contribute-prepare")
        page.wait_for_selector("#contribute-facts")
        # the preview says what the file holds: counted from the served trace by hand above
        assert page.inner_text('[data-fact="rows"]') == f"{len(rows):,}"
        assert page.inner_text('[data-fact="sessions"]') == f"{sessions:,}"
        assert "→" in page.inner_text('[data-fact="date range"]')
        fields = page.inner_text("#contribute-fields")
        assert "session_id" in fields and "cwd" not in fields
        assert '"provider"' in page.inner_text("#contribute-sample")
        _shot(page, tmp_path, "contribute-1-preview")
        # no consent, no upload
        page.fill("#pool-url", pool.url)
        page.fill("#pool-token", token)
        assert page.is_disabled("#contribute-send")
        page.check("#consent")
        assert page.is_enabled("#contribute-send")
        page.click("#contribute-send")
        page.wait_for_selector("#contribute-receipt")
        assert page.inner_text('[data-receipt="rows accepted"]') == f"{len(rows):,}"
        assert page.inner_text('[data-receipt="sessions new"]') == f"{sessions:,}"
        assert page.inner_text('[data-receipt="sessions already in the pool"]') == "0"
        assert len(page.inner_text('[data-receipt="withdrawal token"]')) > 20
        _shot(page, tmp_path, "contribute-2-receipt")
    assert page.console_errors == []  # type: ignore[attr-defined]
