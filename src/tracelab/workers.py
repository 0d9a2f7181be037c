"""Worker process pools, started safely and fast.

Why not always `fork`: by the time a pool starts, the parent may run DuckDB, Arrow or numpy
threads (the analyses, the test suite, a long-lived server); a child forked from such a
process can inherit native locks held mid-operation and crash (seen: a segfault in a worker's
garbage collection). A `forkserver` forks workers from a clean, single-threaded server process
instead, but starting it (and importing the worker modules there) costs 0.3–0.5 s, a sixth of
a cold `collect`. So a pool forks directly when every thread of the process is a Python thread
(the common case for a CLI command: nothing native has started yet), and uses the fork server
otherwise. Where neither exists (Windows), `spawn` is used.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: Modules the fork server imports once, so every worker starts with them loaded.
PRELOAD = ("tracelab.sources.reader", "tracelab.synth.generator")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells, else every CPU)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: Native threads that survive a fork by design (their library's atfork handlers): pyarrow's
#: jemalloc background purger. (OpenBLAS, numpy's, is too but is named like any thread; the
#: CLI caps it at one thread, none beside the main one.)
FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd"})


def _only_python_threads() -> bool:
    """True when the OS knows no thread that Python's `threading` does not (Linux: the
    process's tasks), fork-safe ones aside; a native pool (DuckDB, Arrow) makes it False."""
    try:
        names = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/comm") as fh:
                names.append(fh.read().strip())
    except OSError:
        return False
    others = sum(name not in FORK_SAFE_THREADS for name in names)
    return others <= threading.active_count()


def pool_context(preload: Sequence[str] = PRELOAD) -> multiprocessing.context.BaseContext:
    """The start method for a pool created now: `fork` when safe, else a fork server that
    preloads `preload` (the first pool of the process starts the server with its list)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and _only_python_threads():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def process_pool(
    workers: int,
    preload: Sequence[str] = PRELOAD,
    context: multiprocessing.context.BaseContext | None = None,
    **kwargs: Any,
) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` of `workers` processes, started as `pool_context` decides (or
    with `context`, when the caller needed to know the start method beforehand)."""
    return ProcessPoolExecutor(workers, mp_context=context or pool_context(preload), **kwargs)
