"""A trace not used for a while closes its DuckDB connection (its memory is released) and is
opened and prepared again on the next request, with the same answers (issue 15)."""

from __future__ import annotations

import time

from tracelab.web.traces import TraceStore


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_an_idle_store_closes_and_reopens(small_trace) -> None:
    store = TraceStore(id="t", label="t", db=small_trace.db)
    with store.connection() as con:
        steps = con.execute("SELECT count(*) FROM step_facts").fetchone()[0]
    assert store.is_open
    assert not store.close_if_idle(60.0)  # used just now
    assert store.close_if_idle(0.0)
    assert not store.is_open
    with store.connection() as con:  # opened and prepared again: the TEMP tables are back
        assert con.execute("SELECT count(*) FROM step_facts").fetchone()[0] == steps
    store.close()


def test_a_busy_store_is_never_closed(small_trace) -> None:
    store = TraceStore(id="t", label="t", db=small_trace.db)
    with store.connection():
        # another thread's idle check while this one holds the connection
        import threading

        result = []
        t = threading.Thread(target=lambda: result.append(store.close_if_idle(0.0)))
        t.start()
        t.join()
        assert result == [False] and store.is_open
    store.close()


def test_the_server_releases_idle_traces(make_client) -> None:
    client = make_client(idle_close_s=0.2)
    store = client.app.state.tracelab.traces.get("main")
    first = client.get("/api/t/main/sessions", params={"sort": "steps"}).json()
    assert store.is_open
    assert _wait(lambda: not store.is_open), "the idle trace kept its connection"
    again = client.get("/api/t/main/sessions", params={"sort": "steps"}).json()
    assert again == first  # re-opened, re-prepared (web_sessions too), same answer
    assert client.get("/api/t/main/overview").status_code == 200


def test_no_idle_close_when_disabled(make_client) -> None:
    client = make_client(idle_close_s=None)
    client.get("/api/t/main/sessions")
    store = client.app.state.tracelab.traces.get("main")
    time.sleep(0.3)
    assert store.is_open
