"""Worker process pools, started safely.

Why not plain `fork`: by the time a pool starts, the parent may run DuckDB, Arrow or numpy
threads (the analyses, the test suite, a long-lived server); a child forked from a threaded
process can inherit locks held mid-operation and crash (seen: a segfault in a worker's garbage
collection). A `forkserver` forks workers from a clean, single-threaded server process instead,
and preloading the worker modules there keeps start-up as cheap as a fork. Where forkserver does
not exist (Windows), `spawn` is used.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: Modules the fork server imports once, so every worker starts with them loaded.
PRELOAD = ("tracelab.sources.reader", "tracelab.synth.generator")


def _context(preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def process_pool(
    workers: int, preload: Sequence[str] = PRELOAD, **kwargs: Any
) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` of `workers` processes started from a clean process.

    `preload`: the modules the workers need. The fork server is started once per process, by
    the first pool, with the first pool's list; a command that needs one kind of worker (only
    `synth`, only `collect`) saves importing the other's (pyarrow and numpy cost ~0.25 s)."""
    return ProcessPoolExecutor(workers, mp_context=_context(preload), **kwargs)
