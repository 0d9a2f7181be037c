"""Run the app with uvicorn on loopback and open the browser (`tracelab serve`)."""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tracelab.web.security import is_loopback

if TYPE_CHECKING:
    from tracelab.ask.settings import BackendSettings
    from tracelab.pricing import PriceSource


def _quietly_warm(store, warm: Callable) -> None:
    """`warm(store)`, in a thread: an error shows on the first request that needs it."""
    with contextlib.suppress(Exception):
        warm(store)


def _quietly_preload(prices: PriceSource | None) -> None:
    """`pricing.preload(prices)` in a thread (the warm-up's `step_costs` needs the prices; an
    error shows there instead)."""
    from tracelab.pricing import preload

    with contextlib.suppress(Exception):
        preload(prices)


class ListenError(OSError):
    """The address cannot be listened on (port taken, unknown host, no permission)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on (host, port), made before anything is printed or loaded,
    so a port in use is one clear error instead of "serving at" followed by uvicorn's errno."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, OverflowError) as exc:
        raise ListenError(f"cannot listen on {host} port {port}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} on {host} is already in use (another `tracelab serve`?); "
                "choose another with --port"
            ) from None
        raise ListenError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    return sock


def serve(
    db: Path | None,
    source: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    label: str | None = None,
    say: Callable[[str], None] = print,
    idle_close_s: float | None = None,
    prices: PriceSource | None = None,
    sock: socket.socket | None = None,
    ask: BackendSettings | None = None,
) -> None:
    """Serve until interrupted; the browser opens once the socket is listening.

    `sock` is a socket from `listen(host, port)` (made here if not given; `ListenError` then).

    The served trace's fact tables and dashboard start preparing in a thread before the web
    stack (FastAPI, uvicorn: most of the start-up) is imported, so they are ready sooner.
    `idle_close_s`: see `create_app` (None: its default). `ask`: the Ask page's backend.
    """
    if sock is None:
        sock = listen(host, port)
    main = None
    if db is not None:
        from tracelab.web.dashboard import PAGE_WAIT_S, warm
        from tracelab.web.provenance import apply
        from tracelab.web.traces import main_store

        main = main_store(db, source, label=label, prices=prices, detect=False)
        warm_main = functools.partial(warm, page_wait_s=PAGE_WAIT_S)
        threading.Thread(target=_quietly_warm, args=(main, warm_main), daemon=True).start()
        threading.Thread(target=_quietly_preload, args=(prices,), daemon=True).start()
        # What the trace is, read while the warm-up's queries run (they hold no GIL), so the
        # first page already knows whether it is SYNTHETIC.
        with contextlib.suppress(Exception):
            apply(main)

    import uvicorn

    from tracelab.web.app import create_app

    idle = {} if idle_close_s is None else {"idle_close_s": idle_close_s or None}
    app = create_app(
        db,
        source=source,
        label=label,
        host=host,
        port=port,
        warm=True,
        main=main,
        prices=prices,
        ask_defaults=ask,
        **idle,
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
    with sock:
        server.run(sockets=[sock])
