"""Safety of a local server: only our Host names, and a same-origin token for every change.

Why a Host check: a web page the user visits could make its own domain resolve to 127.0.0.1
(DNS rebinding) and then read this server's responses as same-origin. Such requests carry that
domain in `Host`, so anything but the bound address (and the loopback names for it) is refused
with 421 Misdirected Request.

Why a token: a page on another origin can still *send* a POST to 127.0.0.1 (a "simple" form
post needs no CORS preflight). Every state-changing request must carry the per-process random
token embedded in our pages, in the `X-TraceLab-Token` header, which another origin cannot read
or set without a preflight we never grant; it is compared in constant time. A request with a
foreign `Origin` header is refused too.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_HEADER = "x-tracelab-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]") or host.startswith("127.")


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host header values we answer: the bound host and loopback names, with the port.

    Bound to all interfaces (0.0.0.0 / ::), the machine's own name is accepted too.
    """
    names = set(LOOPBACK_NAMES)
    bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if host not in ("0.0.0.0", "::"):
        names.add(bound)
    else:
        names.add(socket.gethostname())
    names.update(extra)
    out = {f"{n}:{port}".lower() for n in names}
    if port == 80:
        out |= {n.lower() for n in names}
    return frozenset(out)


class GuardMiddleware:
    """ASGI middleware: Host allow-list on every request, token + Origin on state changes."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], token: str) -> None:
        self.app = app
        self.hosts = hosts
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await _refuse(421, f"unexpected Host header {host!r}", scope, receive, send)
            return
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin.lower().split("://", 1)[-1] not in self.hosts:
                await _refuse(403, "cross-origin request refused", scope, receive, send)
                return
            sent = headers.get(TOKEN_HEADER, "").encode()
            if not sent or not hmac.compare_digest(sent, self.token):
                await _refuse(403, "missing or wrong X-TraceLab-Token", scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
