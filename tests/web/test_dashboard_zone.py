"""The zone the dashboard is precomputed for at start-up is the one a local browser asks for."""

from __future__ import annotations

import pytest

from tracelab.web import dashboard


@pytest.mark.parametrize(
    ("machine", "browser"),
    [("Etc/UTC", "UTC"), ("Etc/GMT", "UTC"), ("UTC", "UTC"), ("Europe/Berlin", "Europe/Berlin")],
)
def test_browser_zone_names_utc_as_a_browser_does(monkeypatch, machine, browser) -> None:
    # chromium on a machine whose /etc/localtime is Etc/UTC sends tz=UTC (ECMA-402 rule);
    # a zone that is no UTC alias is sent as is
    monkeypatch.setenv("TZ", machine)
    assert dashboard.local_zone() == machine
    assert dashboard.browser_zone() == browser


def test_a_second_zone_reuses_the_zone_free_parts(small_trace, tmp_path, monkeypatch) -> None:
    """The dashboard of another zone recomputes only its activity charts: same bytes as the
    whole dashboard computed for that zone, and the `steps` part is computed without
    `tool_facts` (the page draws it while the `tools` part is computed)."""
    from tracelab.metrics.steps import prepare
    from tracelab.tracedb import open_db
    from tracelab.web.traces import TraceStore

    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(tmp_path))  # nothing from an earlier run
    store = TraceStore(id="t", label="t", db=small_trace.db)
    dashboard.part_json(store, "steps", "UTC")
    with store.connection(()) as con:
        sql = "SELECT table_name FROM duckdb_tables() WHERE temporary"
        built = {n for (n,) in con.execute(sql).fetchall()}
    assert "step_facts" in built and "tool_facts" not in built
    first = dashboard.cached_json(store, "UTC")
    calls = []
    real = (dashboard.steps_part, dashboard.tools_part)
    try:
        dashboard.steps_part = lambda con: calls.append(1) or real[0](con)
        dashboard.tools_part = lambda con: calls.append(2) or real[1](con)
        second = dashboard.cached_json(store, "America/New_York")
    finally:
        dashboard.steps_part, dashboard.tools_part = real
    assert calls == []  # the zone-free parts came from the store's cache
    con = open_db(small_trace.db)
    prepare(con)
    assert first == dashboard._dumps(dashboard.dashboard(con, "UTC"))
    assert second == dashboard._dumps(dashboard.dashboard(con, "America/New_York"))
