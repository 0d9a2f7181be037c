"""`tracelab serve`'s warm-up (open the database, prepare the fact tables, compute the
dashboard and the overview) imports neither Arrow nor numpy: importing them costs ~0.2 s of
the warm-up thread's time before its first query, on the path of the first Dashboard."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

HEAVY = ("pyarrow", "numpy", "pandas")

WARM_UP = f"""
HEAVY = {HEAVY!r}
import sys
from pathlib import Path
from tracelab.web.dashboard import warm
from tracelab.web.traces import main_store
store = main_store(Path(sys.argv[1]), None, detect=True)
warm(store)
data = store.cached("overview", lambda con: None)  # filled by warm: no query here
print(__import__("json").dumps({{"steps": sum(r["steps"] for r in data["headline"]
                                             if r["provider"] == "total"),
                                "heavy": sorted(m for m in sys.modules
                                                if m.split(".")[0] in HEAVY)}}))
"""


def test_serve_warm_up_imports_nothing_heavy(small_trace, tmp_path) -> None:
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", WARM_UP, str(small_trace.db)],
        env=env,
        capture_output=True,
        check=True,
    )
    out = orjson.loads(proc.stdout)
    assert out["steps"] > 0  # the warm-up ran: the overview holds the trace's steps
    assert out["heavy"] == [], out["heavy"]
