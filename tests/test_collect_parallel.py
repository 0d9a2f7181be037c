"""Parallel parsing and the cache must not change a single byte of the output."""

from __future__ import annotations

from pathlib import Path

from tracelab.collect import _PARALLEL_MIN_BYTES, collect
from tracelab.sources.discover import home_for
from tracelab.synth import generate_home


def test_parallel_equals_serial_and_cached_equals_fresh(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generate_home(home, sessions=4, seed=11, target_bytes=_PARALLEL_MIN_BYTES + (1 << 20))
    homes = [home_for(home)]
    serial, parallel = tmp_path / "serial.jsonl", tmp_path / "parallel.jsonl"
    r1, _ = collect(homes, serial, cache=False, workers=1)
    r2, _ = collect(homes, parallel, cache=False, workers=2)
    assert r1.rows == r2.rows > 0
    assert serial.read_bytes() == parallel.read_bytes()

    # Half the files change (grow by one bookkeeping record); the other half replay from the
    # cache. Interleaved cached and parsed outcomes must keep discovery order (first-wins).
    cache, cached_out = tmp_path / "cache", tmp_path / "cached.jsonl"
    collect(homes, cached_out, cache=cache, workers=2)
    files = sorted(home.rglob("*.jsonl"))
    for path in files[::2]:
        with path.open("ab") as fh:
            fh.write(b'{"type": "summary", "summary": "x"}\n')
    r3, _ = collect(homes, cached_out, cache=cache, workers=2)
    fresh_out = tmp_path / "fresh.jsonl"
    collect(homes, fresh_out, cache=False, workers=2)
    assert r3.cached_files == len(files) - len(files[::2])
    assert 0 < r3.bytes_parsed < r1.bytes_parsed
    assert cached_out.read_bytes() == fresh_out.read_bytes()
