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
    whole dashboard computed for that zone."""
    from tracelab.metrics.steps import prepare
    from tracelab.tracedb import open_db
    from tracelab.web.traces import TraceStore

    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(tmp_path))  # nothing from an earlier run
    store = TraceStore(id="t", label="t", db=small_trace.db)
    first = dashboard.cached_json(store, "UTC")
    calls = []
    real = dashboard.zone_free
    try:
        dashboard.zone_free = lambda con: calls.append(1) or real(con)
        second = dashboard.cached_json(store, "America/New_York")
    finally:
        dashboard.zone_free = real
    assert calls == []  # the zone-free parts came from the store's cache
    con = open_db(small_trace.db)
    prepare(con)
    assert first == dashboard._dumps(dashboard.dashboard(con, "UTC"))
    assert second == dashboard._dumps(dashboard.dashboard(con, "America/New_York"))
