"""API tests of `tracelab serve`: every endpoint over a small synthetic trace, through httpx.

Numbers are checked against the metric functions on the same database (one definition of each
metric), and safety against requests a hostile page could make.
"""

from __future__ import annotations

import pytest

from tracelab.metrics.overview import cache_savings, headline
from tracelab.metrics.steps import FACT_TABLES, prepare
from tracelab.tracedb import open_db
from tracelab.web.dashboard import HIT_RATIO_BINS, SCATTER_POINTS

from .conftest import BASE, EXPERIMENTS, PORT, TOKEN, auth, wait_job

PAGES = ["/", "/analyze", "/dashboard", "/sessions", "/session", "/experiments", "/compare"]


# --- pages and static files ---------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_a_shell_with_the_token(client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f'<meta name="tracelab-token" content="{TOKEN}">' in r.text
    assert "/static/plotly.min.js" in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_unknown_page_is_404(client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]


def test_plotly_is_served_from_the_installed_package(client) -> None:
    from tracelab.web.pages import plotly_path

    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert r.content == plotly_path().read_bytes()
    assert b"plotly.js" in r.content[:400]


@pytest.mark.parametrize(
    "path", ["/static/app.js", "/static/app.css", "/static/theme.js", "/static/pages/session.js"]
)
def test_static_assets(client, path: str) -> None:
    assert client.get(path).status_code == 200


# --- safety -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1:9999", ""])
def test_foreign_host_header_is_refused(client, host: str) -> None:
    r = client.get("/api/status", headers={"host": host})
    assert r.status_code == 421
    assert "Host" in r.json()["error"]


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"])
def test_loopback_host_names_are_accepted(client, host: str) -> None:
    assert client.get("/api/status", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("path", ["/api/demo", "/api/collect", "/api/uploads?name=x.jsonl"])
def test_state_changes_need_the_token(client, path: str) -> None:
    assert client.post(path, content=b"x").status_code == 403
    r = client.post(path, content=b"x", headers={"X-TraceLab-Token": "wrong"})
    assert r.status_code == 403
    assert "token" in r.json()["error"].lower()


def test_cross_origin_post_is_refused_even_with_the_token(client) -> None:
    headers = {**auth(), "Origin": "http://evil.example"}
    r = client.post("/api/collect", headers=headers)
    assert r.status_code == 403


def test_same_origin_post_with_the_token_is_accepted(make_client, tmp_path) -> None:
    from tracelab.sources.discover import Home

    empty = tmp_path / "empty-home"
    empty.mkdir()
    client = make_client(collect_home=Home(empty, "nobody"))
    r = client.post("/api/collect", headers={**auth(), "Origin": BASE})
    assert r.status_code == 202
    job = wait_job(client, r.json()["job"]["id"])
    assert job["state"] == "done"
    assert job["result"]["no_logs"] is True


# --- overview, status, jobs ---------------------------------------------------------------


def test_status_lists_the_served_trace(client) -> None:
    status = client.get("/api/status").json()
    assert status["default_trace"] == "main"
    assert [t["id"] for t in status["traces"]] == ["main"]
    assert status["startup_job"] is None


def test_overview_kpis_are_the_metric_functions(client, small_trace) -> None:
    data = client.get("/api/t/main/overview").json()
    with open_db(small_trace.db) as con:
        expected = headline(con)
        savings = {r["provider"]: r["cache_savings"] for r in cache_savings(con)}
    got = {r["provider"]: r for r in data["headline"]}
    assert set(got) == {r["provider"] for r in expected}
    for row in expected:
        mine = got[row["provider"]]
        for key in ("sessions", "steps", "tool_calls", "input_tokens", "output_tokens"):
            assert mine[key] == row[key]
        assert mine["cost"] == pytest.approx(row["cost"])
        assert mine["prefix_hit_rate"] == pytest.approx(row["prefix_hit_rate"])
        assert mine["cache_savings"] == pytest.approx(savings[row["provider"]])
        for key in ("priced_exact", "priced_fallback", "unpriced_steps", "cache_write_1h_tokens"):
            assert mine[key] == row[key]
        assert (
            mine["priced_exact"] + mine["priced_fallback"] + mine["unpriced_steps"] == row["steps"]
        )
    # the price source and the coverage of the whole trace, for the note under the KPIs
    total = got["total"]
    assert data["prices"]["steps"] == total["steps"]
    assert data["prices"]["unpriced_steps"] == total["unpriced_steps"]
    assert data["prices"]["source"].startswith("genai-prices")
    assert data["providers"] == ["claude", "codex"]
    assert data["trace"]["downloads"] == ["normalized"]


def test_unknown_trace_and_job_are_404(client) -> None:
    assert client.get("/api/t/nope/overview").status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404


# --- dashboard ----------------------------------------------------------------------------


def test_dashboard_has_every_chart_and_consistent_totals(client, small_trace) -> None:
    d = client.get("/api/t/main/dashboard", params={"tz": "Asia/Tokyo"}).json()
    assert d["timezone"] == "Asia/Tokyo"
    for key in (
        "daily",
        "hour_weekday",
        "cost_by_model",
        "tool_latency_cdf",
        "latency_by_tool",
        "tool_counts",
        "scatter",
        "output_hist",
        "generation_cdf",
        "hit_ratio_bins",
        "human_wait_cdf",
        "highlights",
    ):
        assert d[key], key
    with open_db(small_trace.db) as con:
        steps, timed = con.execute("SELECT count(*), count(started_at) FROM rounds").fetchone()
    assert sum(r["steps"] for r in d["daily"]) == timed
    assert sum(c["steps"] for c in d["hour_weekday"]) == timed
    assert sum(r["steps"] for r in d["cost_by_model"]) == steps
    assert d["scatter"]["sampled"] == min(SCATTER_POINTS, d["scatter"]["population"])
    for curve in d["tool_latency_cdf"].values():
        assert curve["y"][0] == 0 and curve["y"][-1] == 1
        assert curve["x"] == sorted(curve["x"])
    keys = {h["key"] for h in d["highlights"]}
    assert {"most_steps", "priciest", "slowest_tool", "largest_context"} <= keys
    hit = d["hit_ratio_bins"]
    with open_db(small_trace.db) as con:
        with_input = con.execute(
            "SELECT count(*) FROM rounds"
            " WHERE coalesce(prefix_tokens, 0) + coalesce(newly_append_tokens, 0) > 0"
        ).fetchone()[0]
    assert hit["bins"] == HIT_RATIO_BINS
    assert {c["bin"] for c in hit["counts"]} <= set(range(HIT_RATIO_BINS))
    assert sum(c["steps"] for c in hit["counts"]) == with_input


def test_dashboard_parts_split_the_whole(client) -> None:
    """The page's two requests together are the whole dashboard, key for key; the zone reaches
    only the `steps` part; an unknown part is a 422."""
    whole = client.get("/api/t/main/dashboard", params={"tz": "Asia/Tokyo"}).json()
    steps = client.get("/api/t/main/dashboard", params={"tz": "Asia/Tokyo", "part": "steps"})
    tools = client.get("/api/t/main/dashboard", params={"tz": "Asia/Tokyo", "part": "tools"})
    assert steps.status_code == tools.status_code == 200
    steps, tools = steps.json(), tools.json()
    assert set(steps) & set(tools) == set()
    assert steps | tools == whole
    assert steps["timezone"] == "Asia/Tokyo" and "daily" in steps and "highlights" in steps
    other = client.get("/api/t/main/dashboard", params={"tz": "UTC", "part": "tools"}).json()
    assert other == tools
    bad = client.get("/api/t/main/dashboard", params={"part": "everything"})
    assert bad.status_code == 422


#: The models `partial_prices` has no price for, as SQL over `rounds` (read off its CSV).
UNPRICED_BY_HAND = "NOT (model LIKE 'claude-opus-4-%' OR model IN ('claude-sonnet-4-6', 'gpt-5.5'))"


def test_dashboard_costs_per_day_project_and_model(make_client, small_trace, partial_prices):
    client = make_client(prices=partial_prices)
    d = client.get("/api/t/main/dashboard").json()
    with open_db(small_trace.db) as con:
        prepare(con, partial_prices)
        total, timed = con.execute(
            "SELECT sum(cost_total), sum(cost_total) FILTER (WHERE started_at IS NOT NULL) "
            "FROM step_facts"
        ).fetchone()
        unpriced = dict(
            con.execute(
                f"SELECT model, count(*) FROM rounds WHERE {UNPRICED_BY_HAND} GROUP BY 1"
            ).fetchall()
        )
        # null (no project) is a project of its own in the chart
        projects = con.execute("SELECT count(*) FROM (SELECT DISTINCT project FROM rounds)")
        projects = projects.fetchone()[0]
    # the calendar's cost view: every timed step's cost, once
    assert sum(r["cost"] or 0 for r in d["daily"]) == pytest.approx(timed)
    # per project: every step's cost, each project once (all fit under TOP_PROJECTS here)
    per = d["cost_by_project"]
    assert per["other_projects"] == 0 and per["other"] == []
    assert len({r["project"] for r in per["projects"]}) == projects
    assert sum(r["cost"] or 0 for r in per["projects"]) == pytest.approx(total)
    # an unpriced model is listed, as unpriced, with its steps (the trace has one)
    assert len(unpriced) >= 2, "the small trace has Codex models the table does not price"
    rows = {r["model"]: r for r in d["cost_by_model"]}
    for model, steps in unpriced.items():
        assert rows[model]["unpriced_steps"] == steps
        assert rows[model]["total"] is None and rows[model]["priced"] is False


def test_cost_by_project_folds_the_tail(small_trace, monkeypatch) -> None:
    from tracelab.web import dashboard

    monkeypatch.setattr(dashboard, "TOP_PROJECTS", 2)
    with open_db(small_trace.db) as con:
        prepare(con, tables=(*FACT_TABLES, *dashboard.PART_TABLES["steps"]))
        per = dashboard.cost_by_project(con)  # over step_costs: the same costs as step_facts
        total = con.execute("SELECT sum(cost_total) FROM step_facts").fetchone()[0]
        # null (no project) is a project of its own in the chart
        projects = con.execute("SELECT count(*) FROM (SELECT DISTINCT project FROM rounds)")
        projects = projects.fetchone()[0]
    assert len({r["project"] for r in per["projects"]}) == 2
    assert per["other_projects"] == projects - 2
    shown = sum(r["cost"] or 0 for r in per["projects"])
    assert shown + sum(r["cost"] or 0 for r in per["other"]) == pytest.approx(total)
    ranked = [r["cost"] for r in per["projects"]]
    assert max(ranked) >= max(r["cost"] or 0 for r in per["other"])


def test_dashboard_local_time_shifts_the_hours(client) -> None:
    utc = client.get("/api/t/main/dashboard", params={"tz": "UTC"}).json()["hour_weekday"]
    tokyo = client.get("/api/t/main/dashboard", params={"tz": "Asia/Tokyo"}).json()
    by_utc = {(c["weekday"], c["hour"]): c["steps"] for c in utc}
    by_tokyo = {(c["weekday"], c["hour"]): c["steps"] for c in tokyo["hour_weekday"]}
    shifted = {}
    for (day, hour), n in by_utc.items():  # Tokyo is UTC+9, no DST
        h = hour + 9
        d = day + (h >= 24)
        shifted[(d - 7 if d > 7 else d, h % 24)] = n
    assert by_tokyo == shifted


def test_dashboard_bad_timezone_falls_back_to_utc(client) -> None:
    d = client.get("/api/t/main/dashboard", params={"tz": "Mars/Olympus'; DROP"}).json()
    assert d["timezone"] == "UTC"


def test_dashboard_is_cached_in_memory_and_on_disk(client, make_client) -> None:
    first = client.get("/api/t/main/dashboard").content
    assert client.get("/api/t/main/dashboard").content == first
    again = make_client()  # a new server on the same, unchanged database
    assert again.get("/api/t/main/dashboard").content == first
    store = again.app.state.tracelab.traces.get("main")
    assert store._con is None  # answered from disk: no fact tables prepared


def test_dashboard_disk_cache_follows_the_database_file(client, make_client, small_trace, tmp_path):
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(small_trace.db, copy)
    one = make_client(db=copy)
    first = one.get("/api/t/main/dashboard").json()
    one.app.state.tracelab.traces.close()  # DuckDB: no read-only reader while we write
    with open_db(copy, read_only=False) as con:  # change the file: one session fewer
        sid = con.execute("SELECT session_id FROM rounds LIMIT 1").fetchone()[0]
        con.execute("DELETE FROM rounds WHERE session_id = ?", [sid])
    second = make_client(db=copy).get("/api/t/main/dashboard").json()
    assert sum(r["steps"] for r in second["cost_by_model"]) < sum(
        r["steps"] for r in first["cost_by_model"]
    )


# --- sessions -----------------------------------------------------------------------------


def test_session_list_sorts_filters_and_pages(client, small_trace) -> None:
    # Listed: sessions whose parent session is not in the trace (subagents are under theirs).
    top = "(parent_session_id IS NULL OR parent_session_id NOT IN (SELECT session_id FROM rounds))"
    with open_db(small_trace.db) as con:
        sessions = con.execute(f"SELECT count(DISTINCT session_id) FROM rounds WHERE {top}")
        sessions = sessions.fetchone()[0]
        codex = con.execute(
            f"SELECT count(DISTINCT session_id) FROM rounds WHERE provider = 'codex' AND {top}"
        ).fetchone()[0]
        everything = con.execute("SELECT count(DISTINCT session_id) FROM rounds").fetchone()[0]
    r = client.get("/api/t/main/sessions", params={"sort": "steps"}).json()
    assert r["total"] == sessions < everything
    assert client.get("/api/t/main/sessions?subagents=true").json()["total"] == everything
    steps = [s["steps"] for s in r["sessions"]]
    assert steps == sorted(steps, reverse=True)
    asc = client.get("/api/t/main/sessions", params={"sort": "cost", "order": "asc"}).json()
    costs = [s["cost"] for s in asc["sessions"] if s["cost"] is not None]
    assert costs == sorted(costs)
    only = client.get("/api/t/main/sessions", params={"provider": "codex"}).json()
    assert only["total"] == codex
    assert {s["provider"] for s in only["sessions"]} == {"codex"}
    page = client.get("/api/t/main/sessions", params={"limit": 5, "offset": 5}).json()
    assert len(page["sessions"]) == min(5, sessions - 5)
    sid = r["sessions"][0]["session_id"]
    found = client.get("/api/t/main/sessions", params={"q": sid[-12:].upper()}).json()
    assert sid in [s["session_id"] for s in found["sessions"]]
    assert all(sid[-12:] in s["session_id"] for s in found["sessions"])


def test_session_list_model_and_date_filters(client) -> None:
    facets = client.get("/api/t/main/facets").json()
    assert facets["providers"] == ["claude", "codex"]
    model = facets["models"][0]
    r = client.get("/api/t/main/sessions", params={"model": model}).json()
    assert r["total"] >= 1
    day = facets["first_day"]
    r = client.get("/api/t/main/sessions", params={"date_from": day, "date_to": day}).json()
    assert all(s["started_at"].startswith(day) for s in r["sessions"])
    none = client.get("/api/t/main/sessions", params={"date_from": "2100-01-01"}).json()
    assert none["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "steps; DROP TABLE rounds"},
        {"order": "sideways"},
        {"limit": 0},
        {"date_from": "x"},
        {"date_from": "2026-13-45"},  # the right shape, not a day
        {"date_to": "2026-02-30"},
        {"offset": str(10**23)},  # past any integer DuckDB binds
        {"offset": "10^23"},
        {"subagents": "maybe"},
    ],
)
def test_session_list_rejects_bad_parameters(client, params: dict) -> None:
    r = client.get("/api/t/main/sessions", params=params)
    assert r.status_code == 422
    message = r.json()["error"]
    assert message and "SELECT" not in message and "LINE" not in message


@pytest.mark.parametrize("pk", [str(10**23), "-1"])
def test_step_rejects_out_of_range_ids(client, pk: str) -> None:
    for path in (f"/api/t/main/steps/{pk}", f"/api/t/main/steps/{pk}/raw"):
        r = client.get(path)
        assert r.status_code == 422, path
        assert "round_pk" in r.json()["error"]


def test_session_page_and_step_inspector(client, small_trace) -> None:
    listing = client.get("/api/t/main/sessions", params={"sort": "tools"}).json()
    sid = listing["sessions"][0]["session_id"]
    d = client.get("/api/t/main/session", params={"id": sid}).json()
    assert d["session"]["session_id"] == sid
    assert [s["seq"] for s in d["steps"]] == list(range(1, len(d["steps"]) + 1))
    assert len(d["steps"]) == d["session"]["steps"]
    step = next(s for s in d["steps"] if s["tool_calls"] > 0)
    detail = client.get(f"/api/t/main/steps/{step['round_pk']}").json()
    assert detail["step"]["session_id"] == sid
    assert len(detail["tools"]) == step["tool_calls"]
    assert detail["events"]
    for tool in detail["tools"]:
        assert "input" not in tool  # raw content only through /raw
    raw = client.get(f"/api/t/main/steps/{step['round_pk']}/raw").json()
    assert raw["available"] is True
    assert len(raw["tools"]) == step["tool_calls"]


def test_unknown_session_and_step_are_404(client) -> None:
    assert client.get("/api/t/main/session", params={"id": "nope"}).status_code == 404
    assert client.get("/api/t/main/steps/999999999").status_code == 404
    assert client.get("/api/t/main/steps/notanumber").status_code == 422


def test_raw_content_needs_a_private_trace(make_client, small_trace) -> None:
    client = make_client(source=None)
    pk = client.get("/api/t/main/session", params={"id": _any_session(client)}).json()
    raw = client.get(f"/api/t/main/steps/{pk['steps'][0]['round_pk']}/raw").json()
    assert raw["available"] is False
    assert "database" in raw["reason"]


def _any_session(client) -> str:
    return client.get("/api/t/main/sessions").json()["sessions"][0]["session_id"]


# --- experiments --------------------------------------------------------------------------


def test_experiments_run_in_the_background_and_render(client) -> None:
    first = client.get("/api/t/main/experiments").json()
    assert [e["id"] for e in first["experiments"]] == EXPERIMENTS
    job = wait_job(client, first["job"]["id"], timeout=300)
    assert job["state"] == "done", job
    listing = client.get("/api/t/main/experiments").json()
    assert all(e["status"] == "ok" for e in listing["experiments"])
    growth = next(e for e in listing["experiments"] if e["id"] == "session/context_growth")
    assert growth["figures"]
    html = client.get("/api/t/main/experiment", params={"id": growth["id"]}).json()["html"]
    assert "<table" in html and "Question" in html
    png = client.get(
        "/api/t/main/figure.png", params={"exp": growth["id"], "name": growth["figures"][0]["name"]}
    )
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    missing = client.get("/api/t/main/figure.png", params={"exp": growth["id"], "name": "x"})
    assert missing.status_code == 404


# --- compare ------------------------------------------------------------------------------


def test_compare_claude_and_codex_marks_the_better_value(client) -> None:
    r = client.get("/api/compare", params={"a": "main"}).json()
    assert (r["a"]["group"], r["b"]["group"]) == ("claude", "codex")
    rows = {row["key"]: row for row in r["rows"]}
    hit = rows["prefix_hit_rate"]
    assert hit["better"] == ("a" if hit["a"] > hit["b"] else "b")
    assert rows["steps"]["better"] is None  # a count has no direction
    p50 = rows["request_time_p50_ms"]
    if p50["a"] is not None and p50["b"] is not None and p50["a"] != p50["b"]:
        assert p50["better"] == ("a" if p50["a"] < p50["b"] else "b")


def test_compare_unknown_group_is_404(client) -> None:
    r = client.get("/api/compare", params={"a": "main", "ga": "gemini"})
    assert r.status_code == 404


# --- compare two models -------------------------------------------------------------------

OPUS, SONNET = "claude-opus-4-7", "claude-sonnet-4-6"
#: USD per million tokens (input, cache read, output), the study's Table 6.
PRICES = {OPUS: (5.00, 0.50, 25.00), SONNET: (3.00, 0.30, 15.00)}


def _two_model_rows() -> list[dict]:
    """Three Claude sessions: one per model, and one that switches from Opus to Sonnet in the
    middle of a request (the request counts for Opus, the model of its first step)."""
    from tracebuilder import ev, step, tool

    return [
        step("a", 0, prefix=0, append=1000, output=100, model=OPUS, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 1, tool_call_id="a1")],
             tools=[tool("a1", "Bash", emitted=1, result=3)]),
        step("a", 1, prefix=1100, append=100, output=50, model=OPUS,
             events=[ev("tool_result", 3, tool_call_id="a1"), ev("text", 5)]),
        step("b", 0, prefix=0, append=2000, output=300, model=SONNET, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 2, tool_call_id="b1")],
             tools=[tool("b1", "Read", emitted=2, result=92)]),
        step("b", 1, prefix=2000, append=500, output=200, model=SONNET,
             events=[ev("tool_result", 92, tool_call_id="b1"), ev("text", 100)]),
        step("m", 0, prefix=0, append=400, output=40, model=OPUS, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 1, tool_call_id="m1")],
             tools=[tool("m1", "Bash", emitted=1, result=4)]),
        step("m", 1, prefix=0, append=600, output=60, model=SONNET,
             events=[ev("tool_result", 4, tool_call_id="m1"), ev("text", 6)]),
    ]  # fmt: skip


def _by_hand(rows: list[dict], model: str) -> dict:
    """The headline numbers of one model computed in Python from the rows themselves."""
    import statistics

    mine = [r for r in rows if r["model"] == model]
    prefix = sum(r["prefix_tokens"] for r in mine)
    append = sum(r["newly_append_tokens"] for r in mine)
    output = sum(r["output_tokens"] for r in mine)
    p_input, p_read, p_output = PRICES[model]
    # Requests: a user step and the steps after it in its session; a request counts for the
    # model of its first step, its steps and tool calls whatever model served them.
    requests: list[list[dict]] = []
    for r in sorted(rows, key=lambda r: (r["session_id"], r["round_index"])):
        if r["first_input_event_type"] == "user_message":
            requests.append([r])
        else:
            requests[-1].append(r)
    own = [req for req in requests if req[0]["model"] == model]
    return {
        "steps": len(mine),
        "sessions": len({r["session_id"] for r in mine}),
        "tool_calls": sum(len(r["tools"]) for r in mine),
        "input_tokens": prefix + append,
        "prefix_tokens": prefix,
        "append_tokens": append,
        "output_tokens": output,
        "cost": (append * p_input + prefix * p_read + output * p_output) / 1e6,
        "prefix_hit_rate": prefix / (prefix + append),
        "median_output_tokens": statistics.median(r["output_tokens"] for r in mine),
        "steps_per_request": statistics.mean(len(req) for req in own),
        "tool_calls_per_request": statistics.mean(sum(len(r["tools"]) for r in req) for req in own),
        "long_call_share": statistics.mean(
            t["tool_wall_latency_ms"] >= 60_000 for r in mine for t in r["tools"]
        ),
    }


def test_compare_two_models_against_a_hand_computation(make_client, tmp_path) -> None:
    from tracebuilder import trace_db

    rows = _two_model_rows()
    trace_db(tmp_path, rows).close()
    client = make_client(db=tmp_path / "trace.duckdb", source=tmp_path / "trace.jsonl")

    r = client.get("/api/compare", params={"a": "main", "by": "model"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["by"] == "model"
    # Both models have 3 steps; ties go by name. Defaults: the two busiest models.
    assert data["a"]["groups"] == [OPUS, SONNET, "total"]
    assert (data["a"]["group"], data["b"]["group"]) == (OPUS, SONNET)
    got = {row["key"]: row for row in data["rows"]}
    opus, sonnet = _by_hand(rows, OPUS), _by_hand(rows, SONNET)
    for key in opus:
        assert got[key]["a"] == pytest.approx(opus[key]), key
        assert got[key]["b"] == pytest.approx(sonnet[key]), key
    # Response times: Opus' requests take 5 s (a) and 6 s (m, finished by Sonnet), Sonnet's 100 s.
    assert got["request_time_avg_ms"]["a"] == pytest.approx(5_500)
    assert got["request_time_avg_ms"]["b"] == pytest.approx(100_000)
    # Better where a metric has a direction: a higher hit rate, a shorter response time.
    assert got["prefix_hit_rate"]["better"] == "a"  # 1100/2600 > 2000/5100
    assert got["request_time_p50_ms"]["better"] == "a"
    assert got["steps"]["better"] is None and got["cost"]["better"] is None

    # Picked the other way round, the same numbers swap sides.
    swapped = client.get(
        "/api/compare", params={"a": "main", "by": "model", "ga": SONNET, "gb": OPUS}
    ).json()
    rows_swapped = {row["key"]: row for row in swapped["rows"]}
    assert rows_swapped["steps"]["a"] == sonnet["steps"]
    assert rows_swapped["prefix_hit_rate"]["better"] == "b"
    # A model against the trace's total.
    total = client.get(
        "/api/compare", params={"a": "main", "by": "model", "ga": OPUS, "gb": "total"}
    ).json()
    assert {row["key"]: row["b"] for row in total["rows"]}["steps"] == len(rows)


def test_compare_models_of_the_served_trace_match_the_metric_functions(client, small_trace):
    from tracelab.metrics.steps import prepare

    data = client.get("/api/compare", params={"a": "main", "by": "model"}).json()
    with open_db(small_trace.db) as con:
        prepare(con)
        expected = {r["model"]: r for r in headline(con, by="model")}
    assert set(data["a"]["groups"]) == set(expected)
    got = {row["key"]: row for row in data["rows"]}
    assert got["steps"]["a"] == expected[data["a"]["group"]]["steps"]
    assert got["steps"]["b"] == expected[data["b"]["group"]]["steps"]
    assert (
        sum(r["steps"] for m, r in expected.items() if m != "total") == expected["total"]["steps"]
    )


def test_compare_rejects_an_unknown_model_or_grouping(client) -> None:
    r = client.get("/api/compare", params={"a": "main", "by": "model", "ga": "gpt-0"})
    assert r.status_code == 404
    assert client.get("/api/compare", params={"a": "main", "by": "user"}).status_code == 422


# --- downloads ----------------------------------------------------------------------------


def test_download_the_normalized_trace(client, small_trace) -> None:
    r = client.get("/api/t/main/download/normalized")
    assert r.status_code == 200
    assert r.content == small_trace.trace.read_bytes()
    assert "attachment" in r.headers["content-disposition"]
    assert client.get("/api/t/main/download/sanitized").status_code == 404


# --- bad input never crashes the server ---------------------------------------------------


def test_a_broken_database_is_an_error_not_a_crash(make_client, tmp_path) -> None:
    bad = tmp_path / "broken.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    client = make_client(db=bad, source=None)
    r = client.get("/api/t/main/overview")
    assert r.status_code == 500
    assert r.json()["error"]
    assert client.get("/api/status").status_code == 200


# --- one palette, provenance, compare's unpriced steps ---------------------------------------


def test_pages_carry_the_figures_palette(client) -> None:
    import html
    import json
    import re

    from tracelab.figures import style
    from tracelab.palette import palette

    page = client.get("/dashboard").text
    meta = re.search(r'<meta name="tracelab-palette" content="([^"]*)">', page)
    assert meta, "the shell carries the palette"
    colors = json.loads(html.unescape(meta.group(1)))
    assert colors == json.loads(json.dumps(palette()))
    assert (
        colors["providers"]["codex"]
        == style.PROVIDER_COLORS["codex"]
        == style.provider_color("codex")
    )
    assert "--codex" not in client.get("/static/app.css").text  # no second definition


def test_the_served_synthetic_trace_says_so(client) -> None:
    (main,) = client.get("/api/status").json()["traces"]
    assert main["synthetic"] is True  # its working directories are the synthetic writers'


def test_a_real_looking_trace_is_not_synthetic(make_client, one_step_db) -> None:
    client = make_client(db=one_step_db, source=None)
    assert client.get("/api/status").json()["traces"][0]["synthetic"] is False


def test_a_sanitized_trace_is_offered_as_sanitized(make_client, small_trace, tmp_path) -> None:
    from tracelab.keys import load_or_create_key
    from tracelab.sanitize import sanitize_file
    from tracelab.tracedb import build_db

    public = tmp_path / "trace.public.jsonl.gz"
    sanitize_file(small_trace.trace, public, load_or_create_key())  # the test's own key dir
    db = tmp_path / "public.duckdb"
    build_db(public, db)
    client = make_client(db=db, source=public)
    (main,) = client.get("/api/status").json()["traces"]
    assert main["downloads"] == ["sanitized"]
    assert client.get("/api/t/main/download/sanitized").status_code == 200
    assert client.get("/api/t/main/download/normalized").status_code == 404


def test_a_demo_trace_beside_its_synthetic_home_says_so(make_client, one_step_db, tmp_path):
    import shutil

    from tracelab.synthmarks import SYNTHETIC_HOME

    (tmp_path / SYNTHETIC_HOME).mkdir()
    db = tmp_path / "trace.duckdb"
    shutil.copyfile(one_step_db, db)
    client = make_client(db=db, source=None)
    assert client.get("/api/status").json()["traces"][0]["synthetic"] is True


def test_compare_says_how_many_steps_are_unpriced(make_client, small_trace, partial_prices):
    client = make_client(prices=partial_prices)
    with open_db(small_trace.db) as con:
        model, steps = con.execute(
            f"SELECT model, count(*) FROM rounds WHERE {UNPRICED_BY_HAND} "
            "GROUP BY 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
        unpriced = con.execute(f"SELECT count(*) FROM rounds WHERE {UNPRICED_BY_HAND}")
        unpriced = unpriced.fetchone()[0]
    r = client.get("/api/compare", params={"a": "main", "by": "model", "ga": model, "gb": "total"})
    row = next(x for x in r.json()["rows"] if x["key"] == "unpriced_steps")
    assert (row["a"], row["b"]) == (steps, unpriced)
