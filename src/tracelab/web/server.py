"""Run the app with uvicorn on loopback and open the browser (`tracelab serve`)."""

from __future__ import annotations

import contextlib
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tracelab.web.security import is_loopback

if TYPE_CHECKING:
    from tracelab.pricing import PriceSource


def _quietly_warm(store, warm: Callable) -> None:
    """`warm(store)` in a thread: an error shows on the first request that needs it."""
    with contextlib.suppress(Exception):
        warm(store)


def serve(
    db: Path | None,
    source: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    label: str | None = None,
    say: Callable[[str], None] = print,
    prices: PriceSource | None = None,
) -> None:
    """Serve until interrupted; the browser opens once the socket is listening.

    The served trace's fact tables and dashboard start preparing in a thread before the web
    stack (FastAPI, uvicorn: most of the start-up) is imported, so they are ready sooner.
    """
    main = None
    if db is not None:
        from tracelab.web.dashboard import warm
        from tracelab.web.traces import main_store

        main = main_store(db, source, label=label, prices=prices)
        threading.Thread(target=_quietly_warm, args=(main, warm), daemon=True).start()

    import uvicorn

    from tracelab.web.app import create_app

    app = create_app(
        db, source=source, label=label, host=host, port=port, warm=True, main=main, prices=prices
    )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    if not is_loopback(host):
        say(
            f"WARNING: listening on {host}, not loopback only: anyone who can reach this "
            "machine on that address can read your trace. Use it only on a trusted network."
        )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    say(f"TraceLab is serving at {url}  (Ctrl-C to stop)")
    if open_browser:

        def opener() -> None:
            import time

            for _ in range(100):
                if server.started:
                    webbrowser.open(url)
                    return
                time.sleep(0.1)

        threading.Thread(target=opener, daemon=True).start()
    server.run()
