"""How a SYNTHETIC trace is recognized, in a module light enough for `tracelab serve`'s start.

The synthetic writers put every session's working directory under `SYNTHETIC_ROOT`, and the
demos (`tracelab demo`, the web app's demo) write their fake home as `SYNTHETIC_HOME` next to
the trace they collect from it. `web.provenance` checks both, so a demo trace served with
`-i` / `--db` carries the SYNTHETIC banner like the web app's own demo.
"""

from __future__ import annotations

SYNTHETIC_ROOT = "/home/synthetic/projects"
SYNTHETIC_HOME = "synthetic-home"
