"""`synth check` and `synth fit`: the verdicts are computed (hand-checked), `measure` follows the
metric definitions on a hand-built trace, a deliberately wrong profile fails, a fitted profile
holds no private content and generates a look-alike workload."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.collect import collect
from tracelab.sources.discover import home_for
from tracelab.synth import generate_home
from tracelab.synth.calibration import QUANTITIES, compare, measure, targets_from
from tracelab.synth.fit import fit_profile
from tracelab.synth.profile import Target, dumps_profile, read_profile_json, validate
from tracelab.tracedb import build_db, open_db

runner = CliRunner()


# --- verdicts ---------------------------------------------------------------------------------


def test_compare_verdicts_by_hand() -> None:
    key = "all.tool_calls_per_step.avg"
    targets = [
        Target(key, 1.2, "t"),
        Target("claude.top3_tool_share", 0.8, "t", bound="lower"),
        Target("all.tool_steps_per_request.p25", 0, "t"),
        Target("codex.miss_rate", 0.04, "t", tolerance=0.5),
        Target("codex.hit_rate", 0.96, "t"),
    ]
    achieved = {
        key: 1.32,  # +10.0 %: on the boundary → PASS
        "claude.top3_tool_share": 0.79,  # below a lower bound → FAIL
        "all.tool_steps_per_request.p25": 0.05,  # zero target: |0.05| ≤ 0.10 → PASS
        "codex.miss_rate": 0.059,  # +47.5 % within its own 50 % → PASS
        "codex.hit_rate": None,  # not measurable → FAIL
    }
    v = {x.key: x for x in compare(targets, achieved, tolerance=0.10)}
    assert v[key].ok and v[key].error == pytest.approx(0.10)
    assert not v["claude.top3_tool_share"].ok
    assert v["claude.top3_tool_share"].error == pytest.approx(-0.0125)
    assert v["all.tool_steps_per_request.p25"].ok
    assert v["codex.miss_rate"].ok and v["codex.miss_rate"].tolerance == 0.5
    assert not v["codex.hit_rate"].ok and v["codex.hit_rate"].error is None
    assert not compare([Target(key, 1.2, "t")], {key: 1.33})[0].ok  # +10.8 %


# --- measure on a hand-built trace ------------------------------------------------------------


def test_measure_follows_the_metric_definitions(tmp_path: Path) -> None:
    rows = [
        # claude session A: request 1 = user step (1 tool call, 90 s) + final tool step;
        # request 2 = one user step after a 5-minute wait.
        step("a", 0, prefix=0, append=1000, output=100, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 4, tool_call_id="t1")],
             tools=[tool("t1", "Bash", emitted=4, result=94)]),
        step("a", 1, prefix=1000, append=200, output=50,
             events=[ev("tool_result", 94, tool_call_id="t1"), ev("text", 100)]),
        step("a", 2, prefix=1200, append=300, output=10, first="user_message",
             events=[ev("user_message", 400), ev("text", 402)]),
        # codex session B: one user step, two tool calls of 0.5 s and 2 s (internal).
        step("b", 0, prefix=0, append=4000, output=40, provider="codex", reasoning=10,
             first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 1, tool_call_id="c1"),
                     ev("tool_call", 1, tool_call_id="c2")],
             tools=[tool("c1", "exec_command", emitted=1, result=2, internal_ms=500),
                    tool("c2", "apply_patch", emitted=1, result=3, index=1)]),
    ]  # fmt: skip
    m = measure(trace_db(tmp_path, rows))
    assert set(m) == set(QUANTITIES)
    # requests per session: A has 2, B has 1
    assert m["all.requests_per_session.avg"] == 1.5
    assert m["claude.requests_per_session.avg"] == 2
    # tool calls per step: (1 + 0 + 0 + 2) / 4
    assert m["all.tool_calls_per_step.avg"] == 0.75
    # tool-initiated steps per request: A1 has 1, A2 0, B 0
    assert m["all.tool_steps_per_request.avg"] == pytest.approx(1 / 3)
    # token-weighted: prefix 2200 of input 2200 + 1500 (claude), 0 of 4000 (codex)
    assert m["claude.hit_rate"] == pytest.approx(2200 / 3700)
    assert m["claude.miss_rate"] == pytest.approx(1500 / 3700)
    assert m["claude.hit_rate_user"] == pytest.approx(1200 / 2500)
    assert m["claude.hit_rate_tool"] == 1000 / 1200
    assert m["all.hit_rate"] == pytest.approx(2200 / 7700)
    # effective latencies: 90 s (wall), 0.5 s (internal), 2 s (wall): one of three ≥ 1 min
    assert m["all.tool_calls_over_1min"] == pytest.approx(1 / 3)
    assert m["all.tool_time_over_1min"] == pytest.approx(90 / 92.5)
    assert m["codex.tool_calls_under_1s"] == 0.5
    assert m["all.tool_latency_ms.p50"] == 2000
    # the only positive human wait: 400 − 100 = 300 s
    assert m["all.human_wait_ms.avg"] == 300_000
    # generation: 4 s (A0), 6 s (A1), 2 s (A2), 1 s (B)
    assert m["all.generation_ms.avg"] == pytest.approx((4 + 6 + 2 + 1) / 4 * 1000)
    assert m["claude.top_model_share"] == 1.0
    assert m["codex.distinct_tools"] == 2
    assert m["claude.compaction_session_share"] == 0
    assert m["claude.compactions_per_compacting_session"] is None  # no session has one


# --- the study profile, a wrong one, and fit ---------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small generated home, its collected trace and database."""
    base = tmp_path_factory.mktemp("synthcal")
    home = base / "home"
    generate_home(home, sessions=24, seed=5, workers=1)
    trace = base / "trace.parquet"
    collect([home_for(home)], trace, cache=False)
    db = base / "trace.duckdb"
    build_db(trace, db)
    return {"base": base, "home": home, "trace": trace, "db": db}


def test_check_cli_passes_a_trace_against_itself_and_fails_a_wrong_profile(
    synthetic: dict[str, Path],
) -> None:
    db = synthetic["db"]
    result = runner.invoke(app, ["synth", "check", str(db), "--against", str(db), "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["failed"] == 0 and report["passed"] > 100
    # A deliberately wrong profile: the study targets with the human wait ten times longer.
    wrong = read_profile_json("study")
    for t in wrong["targets"]:
        if t["key"] == "all.human_wait_ms.p50":
            t["value"] *= 10
    path = synthetic["base"] / "wrong.json"
    path.write_text(json.dumps(wrong))
    result = runner.invoke(
        app, ["synth", "check", str(path), "--against", str(db), "--only", "human_wait"]
    )
    assert result.exit_code == 1
    assert "all.human_wait_ms.p50" in result.output and "FAIL" in result.output


def test_check_accepts_a_home_directory_and_reports_bad_input(
    synthetic: dict[str, Path], tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        ["synth", "check", "study", "--against", str(synthetic["home"]), "--only", "codex.top"],
    )
    assert result.exit_code in (0, 1), result.output
    assert "codex.top_model_share" in result.output
    result = runner.invoke(app, ["synth", "check", "nope", "--against", str(synthetic["db"])])
    assert result.exit_code == 2 and "no such profile or trace" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "tracelab-synth-profile/1"}')
    result = runner.invoke(app, ["synth", "check", str(bad), "--against", str(synthetic["db"])])
    assert result.exit_code == 2 and "missing" in result.output


def test_fit_learns_a_valid_profile_without_private_content(
    synthetic: dict[str, Path],
) -> None:
    out = synthetic["base"] / "fitted.json"
    result = runner.invoke(app, ["synth", "fit", str(synthetic["trace"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    doc = json.loads(text)
    prof = validate(doc)
    assert set(prof.providers) == {"claude", "codex"}
    # no paths, project names, ids or text of the trace
    assert "/home/synthetic" not in text and "synthetic]" not in text
    assert not any(name in text for name in ("orbit-api", "lumen-ui", "ferry-cli", "quartz-db"))
    con = open_db(synthetic["db"])
    ids = {r[0] for r in con.execute("SELECT DISTINCT session_id FROM rounds").fetchall()}
    assert not any(i.split(":", 1)[1] in text for i in ids)
    # its targets are the trace's measured quantities
    measured = {t.key: t.value for t in targets_from(measure(con), "x")}
    assert {t.key: t.value for t in prof.targets} == measured
    # model and tool names are kept
    assert any(t.name == "Bash" for t in prof.providers["claude"].tools)
    assert any(t.name == "exec_command" for t in prof.providers["codex"].tools)


def test_a_fitted_profile_generates_a_workload(synthetic: dict[str, Path], tmp_path: Path) -> None:
    con = open_db(synthetic["db"])
    doc = fit_profile(con, "roundtrip")
    path = tmp_path / "p.json"
    path.write_text(dumps_profile(doc))
    home = tmp_path / "home"
    summary = generate_home(home, sessions=6, seed=1, profile=path, workers=1)
    assert summary.total_steps > 0
    assert summary.profile == "roundtrip"
    # a provider the profile lacks is refused with a clear error
    only_claude = copy.deepcopy(doc)
    del only_claude["providers"]["codex"]
    path.write_text(dumps_profile(only_claude))
    result = runner.invoke(
        app, ["synth", "-o", str(tmp_path / "h2"), "--profile", str(path), "--providers", "codex"]
    )
    assert result.exit_code == 2 and "no provider codex" in result.output


def test_fit_infers_each_sessions_context_window() -> None:
    """A trace holds contexts, not windows: compactions near 200k mean a 200k window (even when
    one step overshot it), a context far past 200k means 1M, a short session says nothing; a
    model's limit is the mix of its informative sessions, and thresholds use those windows."""
    import duckdb

    from tracelab.synth.fit import _context, _limit, _session_windows

    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE fit_steps (provider TEXT, session_id TEXT, model TEXT, seq INT, "
        "is_user BOOL, context BIGINT, prev_context BIGINT, compaction BOOL, growth BIGINT)"
    )
    rows = [
        # s1: compacts at 193k and once at 215k (an overshoot) → 200k
        ("s1", "m", 1, False, 150_000, None, False),
        ("s1", "m", 2, False, 40_000, 193_000, True),
        ("s1", "m", 3, True, 30_000, 215_000, True),
        # s2: never compacts but reaches 600k → 1M
        ("s2", "m", 1, False, 600_000, None, False),
        # s3: compacts at 960k → 1M
        ("s3", "m", 1, False, 50_000, 960_000, True),
        # s4: short, says nothing about its window
        ("s4", "m", 1, True, 20_000, None, False),
        # s5: another model, only short sessions
        ("s5", "small", 1, True, 90_000, None, False),
    ]
    con.executemany(
        "INSERT INTO fit_steps VALUES ('claude', ?, ?, ?, ?, ?, ?, ?, 0)",
        rows,
    )
    sessions = _session_windows(con, "claude")
    assert [w for _, w, _ in sessions] == [200_000, 1_000_000, 1_000_000, None, None]
    assert _limit({200_000: 1, 1_000_000: 2}, 960_000, "claude") == {
        "200000": 0.333333,
        "1000000": 0.666667,
    }
    assert _limit(None, 90_000, "claude") == 200_000  # smallest window above the peak
    assert _limit(None, 5_000_000, "claude") == 5_000_000  # beyond every known window
    ctx = _context(con, "claude", sessions)
    # tool-initiated compactions at 193k of 200k and 960k of 1M: the median (the upper of two)
    # is 0.965; the user-initiated one at 215k of 200k is capped at 1.0
    assert ctx["compaction"]["tool_threshold"] == 0.965
    assert ctx["compaction"]["user_threshold"] == 1.0
