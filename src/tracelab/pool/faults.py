"""A test hook: `TRACELAB_POOL_CRASH=<point>[:<n>]` makes the process SIGKILL itself the n-th
time (default: first) it reaches `<point>`, so fault tests can stop the server at exact steps of
an upload, a commit or a release and check what a restart finds.

Without the variable `crash_point` is one dictionary lookup; it never fires in normal use.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "TRACELAB_POOL_CRASH"
_hits: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) if the environment asks for this point."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        count = _hits[name]
    if count == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
