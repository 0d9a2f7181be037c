"""The warm-up's order on a small machine: the dashboard's parts from the narrow fact tables
first, then background work (every page's tables) at the lowest priority, held until a page
is drawn; genai-prices is loaded in a thread only when no band is cached yet."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from .conftest import auth

TEMP_TABLES = "SELECT table_name FROM duckdb_tables() WHERE temporary"


def _tables(store) -> set[str]:
    with store.connection(()) as con:
        return {name for (name,) in con.execute(TEMP_TABLES).fetchall()}


def test_background_work_runs_alone_at_the_lowest_priority(small_trace) -> None:
    from tracelab.web.traces import TraceStore

    store = TraceStore(id="t", label="t", db=small_trace.db)
    with store.connection(()) as con:
        before = con.execute("SELECT current_setting('threads')").fetchone()[0]
    seen = {}

    def work() -> None:
        me = threading.get_native_id()
        seen["thread"] = me
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, me)
        with store.connection(()) as con:
            seen["threads"] = con.execute("SELECT current_setting('threads')").fetchone()[0]

    store.in_background(work)
    assert seen["thread"] != threading.get_native_id()  # not the caller's thread
    if sys.platform.startswith("linux"):
        assert seen["nice"] == 19
    assert seen["threads"] == 1
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 19  # caller untouched
    with store.connection(()) as con:  # the setting is restored
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == before

    def fails() -> None:
        raise RuntimeError("background failed")

    with pytest.raises(RuntimeError, match="background failed"):
        store.in_background(fails)
    with store.connection(()) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == before


def test_warm_computes_the_dashboard_without_step_facts_then_waits_for_a_drawn_page(
    small_trace, tmp_path, monkeypatch
) -> None:
    from tracelab.web import dashboard
    from tracelab.web.traces import TraceStore

    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(tmp_path))  # nothing from an earlier run
    store = TraceStore(id="t", label="t", db=small_trace.db)
    zone = dashboard.browser_zone()
    warm = threading.Thread(target=dashboard.warm, args=(store,), kwargs={"page_wait_s": 60})
    warm.start()
    parts = [dashboard._part_key(part, zone) for part in dashboard.PARTS]
    for _ in range(2000):
        if all(store._disk_path(key).is_file() for key in parts):
            break
        threading.Event().wait(0.01)
    assert all(store._disk_path(key).is_file() for key in parts)
    threading.Event().wait(0.2)  # a background stage that did not wait would have begun
    built = _tables(store)
    assert {"step_costs", "tool_facts", "human_waits", "step_events"} <= built
    assert not built & {"step_facts", "request_facts"}  # no part needs them
    assert warm.is_alive()  # waiting for a page to be drawn
    store.drawn.set()
    warm.join(60)
    assert not warm.is_alive()
    assert {"step_facts", "tool_facts"} <= _tables(store)
    assert store.cached("overview", lambda con: None) is not None  # computed by the warm-up


def test_a_page_tells_the_server_it_is_drawn(client) -> None:
    store = client.app.state.tracelab.traces.get("main")
    assert not store.drawn.is_set()
    assert client.post("/api/t/main/drawn").status_code == 403  # a change: token needed
    r = client.post("/api/t/main/drawn", headers=auth())
    assert r.status_code == 200
    assert store.drawn.is_set()
    assert client.post("/api/t/nope/drawn", headers=auth()).status_code == 404


PRELOAD = """
import sys
from tracelab.pricing import preload
from tracelab.pricing.genai import GenaiPrices
if sys.argv[1] == "resolve":  # a machine that priced this model before
    source = GenaiPrices()
    assert source.bands("claude", "claude-sonnet-4-6")
    source.save()
else:
    preload()
    print("genai_prices" in sys.modules)
"""


def test_preload_loads_genai_prices_only_when_no_band_is_cached(tmp_path) -> None:
    env = {**os.environ, "TRACELAB_CACHE_DIR": str(tmp_path)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", PRELOAD, *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert run("preload") == "True"  # nothing cached yet: the price database is loaded
    run("resolve")
    assert run("preload") == "False"  # bands cached: nothing to load
