"""Take the README's picture: the real web app's Dashboard on the demo trace, in headless chromium.

Why a script: the picture must show the app as it is, so it is taken, not drawn, and anyone can
take it again after the Dashboard changes. It runs `tracelab demo` in a scratch folder (fresh
config and cache), serves the demo's database with `tracelab serve` on a free loopback port,
opens the Dashboard in Debian's chromium through Playwright (the flags of
`tests/web/test_browser.py`), waits until every chart is drawn, screenshots the first 1280 × 1400
pixels and stores them as a palette PNG (small enough for the README).

    uv run python scripts/dashboard_screenshot.py [-o docs/images/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tracelab.web.chromium import ARGS, CHROMIUM

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 1400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: tracelab serve exited with status {server.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"error: {url} did not answer within {seconds:.0f} s")


def _shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(180_000)
        page.emulate_media(color_scheme="light")
        page.goto(url + "/dashboard")
        page.wait_for_selector("#content[data-rendered='1']")
        page.wait_for_selector("#chart-heatmap .main-svg")
        page.wait_for_timeout(1500)  # let Plotly finish its last layout pass
        page.screenshot(path=str(out), full_page=False)
        browser.close()


def _shrink(png: Path, out: Path) -> None:
    """A 256-colour palette PNG: the UI has few colours, and it is a fraction of the bytes."""
    from PIL import Image

    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    tmp = out.with_suffix(".tmp.png")
    small.save(tmp, optimize=True)
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs/images/dashboard.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracelab-shot-") as tmp:
        scratch = Path(tmp)
        env = dict(
            os.environ,
            TRACELAB_CONFIG_DIR=str(scratch / "config"),
            TRACELAB_CACHE_DIR=str(scratch / "cache"),
        )
        tracelab = ["uv", "run", "--project", str(REPO), "tracelab"]
        subprocess.run(
            [*tracelab, "demo"], cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL
        )
        port = _free_port()
        db = scratch / "tracelab-demo" / "trace.duckdb"
        server = subprocess.Popen(
            [*tracelab, "serve", "--db", str(db), "--port", str(port), "--no-browser"],
            cwd=scratch,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url + "/", server)
            raw = scratch / "raw.png"
            _shoot(url, raw)
        finally:
            server.terminate()
            server.wait(timeout=30)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        _shrink(raw, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB, {WIDTH}×{HEIGHT})")


if __name__ == "__main__":
    main()
