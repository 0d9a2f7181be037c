"""The session list of issue 15: subagent sessions under their parent (their cost rolled into
it, a share column, still openable), the project filter, the session-id column's data."""

from __future__ import annotations

import pytest

from tracelab.metrics.steps import prepare
from tracelab.tracedb import open_db


def _own_costs(db) -> tuple[dict[str, float], dict[str, str]]:
    """Per session: Σ cost_total of its steps; and each subagent's parent (when in the trace).
    Computed from step_facts and rounds directly, not through the web module's SQL."""
    with open_db(db) as con:
        prepare(con)
        own = dict(
            con.execute(
                "SELECT session_id, coalesce(sum(cost_total), 0) FROM step_facts GROUP BY 1"
            ).fetchall()
        )
        parents = dict(
            con.execute(
                "SELECT DISTINCT session_id, parent_session_id FROM rounds "
                "WHERE parent_session_id IN (SELECT session_id FROM rounds)"
            ).fetchall()
        )
    return own, parents


def test_a_subagents_cost_is_in_its_parents_row(client, small_trace) -> None:
    own, parents = _own_costs(small_trace.db)
    assert parents, "the synthetic trace has subagent sessions"
    listed = {
        s["session_id"]: s for s in client.get("/api/t/main/sessions?limit=200").json()["sessions"]
    }
    assert not set(parents) & set(listed)  # subagents are not rows of their own by default
    for parent in set(parents.values()):
        kids = [k for k, p in parents.items() if p == parent]
        row = listed[parent]
        sub = sum(own[k] for k in kids)
        assert row["subagent_sessions"] == len(kids)
        assert row["own_cost"] == pytest.approx(own[parent])
        assert row["subagent_cost"] == pytest.approx(sub)
        assert row["cost"] == pytest.approx(own[parent] + sub)
        assert row["subagent_share"] == pytest.approx(sub / (own[parent] + sub))
    # the list's costs add up to the trace's: nothing counted twice, nothing lost
    assert sum(s["cost"] or 0 for s in listed.values()) == pytest.approx(sum(own.values()))
    lone = next(s for s in listed.values() if s["subagent_sessions"] == 0)
    assert lone["subagent_cost"] is None and lone["subagent_share"] == (0 if lone["cost"] else None)


def test_subagent_sessions_stay_openable_and_listable(client, small_trace) -> None:
    _own, parents = _own_costs(small_trace.db)
    kid, parent = sorted(parents.items())[0]
    page = client.get("/api/t/main/session", params={"id": kid}).json()
    assert page["session"]["nested"] is True
    assert page["session"]["parent_session_id"] == parent
    up = client.get("/api/t/main/session", params={"id": parent}).json()
    assert kid in [s["session_id"] for s in up["subagents"]]
    every = client.get("/api/t/main/sessions", params={"subagents": "true", "limit": 200}).json()
    assert kid in [s["session_id"] for s in every["sessions"]]
    by_share = client.get("/api/t/main/sessions", params={"sort": "subagents"}).json()
    shares = [s["subagent_share"] for s in by_share["sessions"] if s["subagent_share"] is not None]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0


def test_project_filter_and_facets(client, small_trace) -> None:
    with open_db(small_trace.db) as con:
        # top-level sessions per project, counted by hand from rounds
        counts = dict(
            con.execute(
                "SELECT project, count(DISTINCT session_id) FROM rounds WHERE project IS NOT NULL "
                "AND (parent_session_id IS NULL "
                "     OR parent_session_id NOT IN (SELECT session_id FROM rounds)) GROUP BY 1"
            ).fetchall()
        )
    facets = client.get("/api/t/main/facets").json()
    assert set(facets["projects"]) == set(counts)
    project = max(counts, key=lambda p: (counts[p], p))
    r = client.get("/api/t/main/sessions", params={"project": project}).json()
    assert r["total"] == counts[project]
    assert {s["project"] for s in r["sessions"]} == {project}
    assert client.get("/api/t/main/sessions", params={"project": "/nowhere"}).json()["total"] == 0
    # Codex sessions have a project too (their working directory, like Claude's)
    listing = client.get("/api/t/main/sessions", params={"limit": 200}).json()["sessions"]
    assert {s["provider"] for s in listing} == {"claude", "codex"}
    assert all(s["project"] for s in listing)
