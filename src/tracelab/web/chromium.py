"""How TraceLab's browser tests, benchmarks and screenshots start Debian's chromium (headless).

One place for the flags: without the background-networking ones, chromium keeps trying hosts a
closed network refuses; `--no-sandbox` because CI runs as root.
"""

from __future__ import annotations

from pathlib import Path

#: Debian's package `chromium` (`.ci/run` installs it); Playwright drives it as is.
CHROMIUM = Path("/usr/bin/chromium")
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
