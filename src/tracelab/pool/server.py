"""Run the pool service with uvicorn (`tracelab pool serve`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tracelab.pool.access import AccessPolicy
from tracelab.pool.validate import Limits


def serve_pool(
    pool_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8770,
    policy: AccessPolicy | None = None,
    limits: Limits | None = None,
    max_uploads: int = 16,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted. The pool is locked, recovered and its pending uploads are
    queued when the app starts (see `app.PoolContext.start`)."""
    import uvicorn

    from tracelab.pool.app import create_app

    policy = policy or AccessPolicy()
    app = create_app(pool_dir, policy=policy, limits=limits, max_uploads=max_uploads)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    mode = "open (no token needed, per-address limits)" if policy.open_mode else "token only"
    say(f"TraceLab pool {pool_dir} serving at http://{shown}:{port}/  [{mode}]  (Ctrl-C to stop)")
    server.run()
