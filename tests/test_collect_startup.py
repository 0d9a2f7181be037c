"""What a `tracelab collect` process loads: a no-op run and a cold JSONL run never import
Arrow, numpy or DuckDB (importing them costs a tenth of a second or more, more than a no-op
run's whole work). Checked on the real CLI in a subprocess with `python -X importtime`,
which lists every module the process (and its forked workers) imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tracelab.collect import _PARALLEL_MIN_BYTES
from tracelab.synth import generate_home

HEAVY = ("pyarrow", "numpy", "duckdb", "pandas")


def _collect(home: Path, out: Path, cache: Path, *extra: str) -> tuple[dict, set[str]]:
    """Run the CLI; return its --json report and the top-level packages it imported."""
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(cache)}
    args = ["collect", "--home", str(home), "-o", str(out), "--json", *extra]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracelab.cli", *args],
        env=env,
        capture_output=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return orjson.loads(proc.stdout), imported


def test_no_op_and_cold_jsonl_collect_import_nothing_heavy(tmp_path: Path) -> None:
    home, cache, out = tmp_path / "home", tmp_path / "cache", tmp_path / "trace.jsonl"
    # Enough bytes that the cold run parses in worker processes (they are checked too).
    generate_home(home, sessions=4, seed=3, target_bytes=_PARALLEL_MIN_BYTES + (1 << 20))

    cold, imported = _collect(home, tmp_path / "cold.jsonl", cache, "--no-cache", "--workers", "2")
    assert cold["rows"] > 0 and not cold["up_to_date"]
    assert "tracelab" in imported and "orjson" in imported  # the listing works
    assert not imported & set(HEAVY), imported & set(HEAVY)

    first, _ = _collect(home, out, cache)  # fills the cache and the no-op manifest
    assert not first["up_to_date"]
    again, imported = _collect(home, out, cache)
    assert again["up_to_date"] and again["rows"] == first["rows"] == cold["rows"]
    assert not imported & set(HEAVY), imported & set(HEAVY)
