"""A scripted OpenAI-compatible chat endpoint on loopback: the test double of a model server.

It replays recorded turns (a dict, or a function of the request's messages returning one) as
the server-sent events a streaming `/chat/completions` sends (`backends._sse_body`), so the
code under test runs its real HTTP backend path. A turn may hold its stream part-way
(`"hold": threading.Event`, `"hold_after": n` events) until the test releases it: a test can
then look at what the client shows *while* the answer streams. Every request's body and
headers are recorded.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import orjson

from tracelab.ask.backends import Turn, _sse_body


class ScriptedServer:
    def __init__(self, turns: list[Turn]) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""

    def reply(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        body = orjson.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        self.requests.append(body)
        self.headers.append(dict(handler.headers))
        if not self.turns:
            handler.send_response(500)
            handler.end_headers()
            handler.wfile.write(b'{"error": {"message": "script exhausted"}}')
            return
        turn = self.turns.pop(0)
        if callable(turn):
            turn = turn(body["messages"])
        frames = [f + b"\n\n" for f in _sse_body(turn).split(b"\n\n") if f]
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()  # no length: the stream ends when the connection closes
        for i, frame in enumerate(frames):
            if turn.get("hold") is not None and i == turn.get("hold_after", 0):
                turn["hold"].wait(60)
            handler.wfile.write(frame)
            handler.wfile.flush()


@contextlib.contextmanager
def serving(turns: list[Turn]) -> Iterator[ScriptedServer]:
    """The endpoint on a free loopback port; `.url` is its base URL (…/v1)."""
    scripted = ScriptedServer(turns)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            scripted.reply(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()
