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
    whole dashboard computed for that zone, and the `steps` part is computed from
    `step_costs` alone, with no event table (the page draws it while the `tools` part is
    computed)."""
    from tracelab.metrics.steps import prepare
    from tracelab.tracedb import open_db
    from tracelab.web.traces import TraceStore

    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(tmp_path))  # nothing from an earlier run
    store = TraceStore(id="t", label="t", db=small_trace.db)
    dashboard.part_json(store, "steps", "UTC")
    with store.connection(()) as con:
        sql = "SELECT table_name FROM duckdb_tables() WHERE temporary"
        built = {n for (n,) in con.execute(sql).fetchall()}
    assert "step_costs" in built
    assert not built & {"step_facts", "step_events", "tool_facts", "human_waits"}
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


def test_a_request_waits_for_its_key_not_for_the_next_computation(small_trace) -> None:
    """The warm-up computes the dashboard's parts one after the other on one connection; the
    page's request for the first part returns when that part is done, while the second part
    still holds the connection (its lock is not fair: waiting for it could take the whole
    second computation)."""
    import threading

    from tracelab.web.traces import TraceStore

    store = TraceStore(id="t", label="t", db=small_trace.db)
    store.warm()  # the fact tables: not what this test times
    first_may_end, second_started, second_may_end = (threading.Event() for _ in range(3))
    answered = threading.Event()
    got = []

    def warm_up() -> None:
        store.cached("first", lambda con: first_may_end.wait(10) and "one")
        store.cached("second", lambda con: second_started.set() or second_may_end.wait(10))

    def request() -> None:
        got.append(store.cached("first", lambda con: "computed twice"))
        answered.set()

    warm = threading.Thread(target=warm_up)
    warm.start()
    while ("first", store._stamp()) not in store._pending:  # the warm-up is computing it
        threading.Event().wait(0.005)
    asker = threading.Thread(target=request)
    asker.start()
    first_may_end.set()
    assert second_started.wait(10)
    assert answered.wait(5), "the request waited for the second computation"
    assert got == ["one"]
    second_may_end.set()
    warm.join(10)
    asker.join(10)
