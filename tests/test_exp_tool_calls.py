"""Tool-call metrics (`metrics.tools`) and the `tool_calls` experiments, on hand-built traces.

Every expected value is worked out by hand from the calls listed in the fixture.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style on first use
import pytest

from tracebuilder import ev, step, tool, tool_step, trace_db
from tracelab.experiments.tool_calls.latency_share import latency_share
from tracelab.experiments.tool_calls.tool_categories import tool_categories
from tracelab.experiments.tool_calls.tool_latency import tool_latency
from tracelab.experiments.tool_calls.tool_overhead import tool_overhead
from tracelab.experiments.tool_calls.tool_popularity import tool_popularity
from tracelab.metrics import tools as m

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _call(call_id: str, name: str = "Bash", **kwargs) -> dict:
    """A tool call with only the latencies given (no timestamps to derive a wall latency)."""
    return tool(call_id, name, emitted=None, result=None, **kwargs)


@pytest.fixture(scope="module")
def latency_con(tmp_path_factory):
    """Claude calls at the bin edges, a wall-latency fallback and three untimed calls."""
    calls = [
        _call("t1", internal_ms=99),  # <0.1 s
        _call("t2", internal_ms=100),  # 0.1–1 s (lower edge is inclusive)
        _call("t3", internal_ms=999),  # 0.1–1 s
        _call("t4", internal_ms=1_000),  # 1–10 s
        _call("t5", internal_ms=59_999),  # 10 s–1 min
        _call("t6", internal_ms=60_000),  # 1–10 min: exactly 1 min is a long call
        _call("t7", internal_ms=600_000),  # ≥10 min
        _call("t8", wall_ms=5_000),  # internal null → wall 5,000: 1–10 s
        _call("t9", internal_ms=200, wall_ms=9_000),  # internal wins → 200: 0.1–1 s
        _call("t10", internal_ms=0, wall_ms=500),  # internal 0 is not null → 0: excluded
        _call("t11", wall_ms=-5),  # negative (clock skew): excluded
        _call("t12"),  # no latency at all: excluded
    ]
    return trace_db(tmp_path_factory.mktemp("latency"), [tool_step("lat", "claude", calls)])


def test_latency_bins_edges_fallback_and_exclusions(latency_con):
    rows = [r for r in m.latency_bins(latency_con) if r["provider"] == "claude"]
    # bins: <0.1 s {99}; 0.1–1 s {100, 999, 200}; 1–10 s {1000, 5000}; 10 s–1 min {59999};
    # 1–10 min {60000}; ≥10 min {600000} → 9 timed calls (t10, t11, t12 left out)
    assert [r["calls"] for r in rows] == [1, 3, 2, 1, 1, 1]
    assert [r["time_ms"] for r in rows] == [99, 1_299, 6_000, 59_999, 60_000, 600_000]
    total = 99 + 1_299 + 6_000 + 59_999 + 60_000 + 600_000  # 727,397 ms
    assert rows[1]["call_share"] == pytest.approx(3 / 9)
    assert rows[5]["time_share"] == pytest.approx(600_000 / total)
    # one provider: the overall rows equal the provider's
    overall = [r for r in m.latency_bins(latency_con) if r["provider"] == m.ALL]
    assert [r["calls"] for r in overall] == [1, 3, 2, 1, 1, 1]


def test_long_call_shares(latency_con):
    # long calls (≥ 60,000 ms): t6 and t7 → 2 of 9 calls, 660,000 of 727,397 ms
    got = m.long_call_shares(latency_con, "claude", 60_000)
    assert (got["calls"], got["long_calls"]) == (9, 2)
    assert got["call_share"] == pytest.approx(2 / 9)
    assert m.long_call_time_share(latency_con) == pytest.approx(660_000 / 727_397)
    # no codex calls: no share rather than a division by zero
    assert m.long_call_time_share(latency_con, "codex") is None


@pytest.fixture(scope="module")
def popularity_con(tmp_path_factory):
    """Claude: Bash ×4, Read ×3, Edit ×2, Grep ×1 with mixed statuses; Codex: 3 + 1 calls."""
    claude = [
        _call("b1", "Bash", internal_ms=1_000, is_error=True),
        _call("b2", "Bash", internal_ms=2_000, is_error=False),
        _call("b3", "Bash", internal_ms=3_000),
        _call("b4", "Bash", internal_ms=4_000),
        _call("r1", "Read", wall_ms=10),
        _call("r2", "Read", wall_ms=20),
        _call("r3", "Read", wall_ms=0),  # counted as a call, not timed
        _call("e1", "Edit", wall_ms=30, is_error=True),
        _call("e2", "Edit", wall_ms=40, is_error=True),
        _call("g1", "Grep", wall_ms=50, is_error=False),
    ]
    codex = [
        _call("x1", "exec_command", internal_ms=100),
        _call("x2", "exec_command", internal_ms=200),
        _call("x3", "exec_command", internal_ms=300),
        _call("p1", "apply_patch", internal_ms=400),
    ]
    rows = [tool_step("pc", "claude", claude), tool_step("px", "codex", codex)]
    return trace_db(tmp_path_factory.mktemp("popularity"), rows)


def test_top_tools_share(popularity_con):
    # claude: (4 + 3 + 2) / 10; codex: 4 / 4
    assert m.top_tools_share(popularity_con, "claude") == pytest.approx(0.9)
    assert m.top_tools_share(popularity_con, "codex") == pytest.approx(1.0)
    # overall ranks names over both: Bash 4, Read 3, exec_command 3 → 10 of 14 calls
    assert m.top_tools_share(popularity_con) == pytest.approx(10 / 14)
    assert m.top_tools_share(popularity_con, "claude", k=1) == pytest.approx(0.4)
    assert m.top_tools_share(popularity_con, "gemini") is None


def test_error_rate_is_errors_over_all_calls(popularity_con):
    """Amendments §14.6: errors / all calls of the tool; a null `is_error` is a non-error call.
    (The old rule divided by the calls with a status: Bash 1/2, Read none, claude 3/5.)"""
    rows = {r["tool"]: r for r in m.popularity(popularity_con, top=15) if r["provider"] == "claude"}
    # Bash: 1 error among 4 calls (2 of them without status, counted as non-errors) → 25%
    assert (rows["Bash"]["errors"], rows["Bash"]["calls"]) == (1, 4)
    assert rows["Bash"]["with_status"] == 2  # reported beside it, not the denominator
    assert rows["Bash"]["error_rate"] == pytest.approx(0.25)
    assert rows["Read"]["error_rate"] == pytest.approx(0.0)  # 0 errors of 3 calls
    assert rows["Edit"]["error_rate"] == pytest.approx(1.0)
    assert rows["Grep"]["error_rate"] == pytest.approx(0.0)
    # summary: errors 1 + 2 = 3 of the provider's 10 calls
    summary = {r["provider"]: r for r in m.top_share_rows(popularity_con)}
    assert summary["claude"]["error_rate"] == pytest.approx(3 / 10)
    assert summary["claude"]["distinct_tools"] == 4
    assert summary["claude"]["top_tools"] == "Bash, Read, Edit"


def test_popularity_merges_mcp_tools(tmp_path):
    """`mcp_*` names are one `mcp` row (§14.6): 2 + 1 calls, 1 error → 1/3."""
    calls = [
        _call("m1", "mcp__github__search", is_error=True),
        _call("m2", "mcp__github__search"),
        _call("m3", "mcp_notes_read", is_error=False),
        _call("b1", "Bash"),
    ]
    con = trace_db(tmp_path, [tool_step("mcp", "claude", calls)])
    rows = {r["tool"]: r for r in m.popularity(con)}
    assert set(rows) == {"mcp", "Bash"}
    assert (rows["mcp"]["calls"], rows["mcp"]["errors"]) == (3, 1)
    assert rows["mcp"]["error_rate"] == pytest.approx(1 / 3)


def test_popularity_other_row(popularity_con):
    rows = [r for r in m.popularity(popularity_con, top=2) if r["provider"] == "claude"]
    assert [r["tool"] for r in rows] == ["Bash", "Read", "Other"]
    other = rows[-1]
    # Other = Edit (2 calls, 2 errors) + Grep (1 call, 0 errors) → 2 errors / 3 calls
    assert (other["rank"], other["tools"], other["calls"]) == (None, 2, 3)
    assert other["share"] == pytest.approx(3 / 10)
    assert other["error_rate"] == pytest.approx(2 / 3)


def test_tool_latency_quantiles(popularity_con):
    rows = {(r["provider"], r["tool"]): r for r in m.tool_latency(popularity_con)}
    bash = rows[("claude", "Bash")]
    # 1000, 2000, 3000, 4000 ms: avg 2500; quantile_cont at q is at position 3q:
    # p25 → 1000 + 0.75·1000 = 1750; p90 → 2.7 → 3000 + 0.7·1000 = 3700
    assert (bash["calls"], bash["timed_calls"]) == (4, 4)
    assert bash["avg"] == pytest.approx(2_500)
    assert bash["p25"] == pytest.approx(1_750)
    assert bash["p50"] == pytest.approx(2_500)
    assert bash["p90"] == pytest.approx(3_700)
    # Read's 0 ms call is a call but not in the distribution: 10 and 20 → avg 15
    read = rows[("claude", "Read")]
    assert (read["calls"], read["timed_calls"], read["avg"]) == (3, 2, pytest.approx(15))
    # Claude's all-tools row: 10 calls, 9 timed
    assert rows[("claude", m.ALL_TOOLS)]["timed_calls"] == 9
    assert rows[(m.ALL, m.ALL_TOOLS)]["calls"] == 14
    top1 = [r for r in m.tool_latency(popularity_con, top=1) if r["rank"] > 0]
    assert [(r["provider"], r["tool"]) for r in top1] == [
        ("claude", "Bash"),
        ("codex", "exec_command"),
    ]


@pytest.fixture(scope="module")
def overhead_con(tmp_path_factory):
    """Codex calls with and without both timings; Claude calls with wall latency only."""
    codex = [
        _call("c1", "exec_command", wall_ms=1_500, internal_ms=1_000),  # residual 500
        _call("c2", "exec_command", wall_ms=3_000, internal_ms=2_900),  # residual 100
        _call("c3", "write_stdin", wall_ms=10_000, internal_ms=10_100),  # residual −100 (kept)
        _call("c4", "apply_patch", wall_ms=-20, internal_ms=10),  # wall < 0: not timed
        _call("c5", "apply_patch", wall_ms=300),  # no internal: not timed
        _call("c6", "exec_command", internal_ms=400),  # no wall: not timed
    ]
    claude = [_call("k1", "Bash", wall_ms=700)]
    rows = [tool_step("oc", "codex", codex), tool_step("ok", "claude", claude)]
    return trace_db(tmp_path_factory.mktemp("overhead"), rows)


def test_overhead_residual_arithmetic(overhead_con):
    rows = {r["tool"]: r for r in m.overhead(overhead_con, top=1)}
    assert all(r["provider"] == "codex" for r in rows.values())  # claude has no internal time
    total = rows[m.ALL_TIMED]
    # timed: c1, c2, c3 → E2E 1500 + 3000 + 10000 = 14,500; internal 1000 + 2900 + 10100 =
    # 14,000; residual 500 + 100 − 100 = 500
    assert (total["calls"], total["wall_ms"], total["internal_ms"]) == (3, 14_500, 14_000)
    assert total["residual_ms"] == 500
    assert total["residual_share"] == pytest.approx(500 / 14_500)
    assert total["avg"] == pytest.approx(500 / 3)
    # sorted residuals −100, 100, 500: p50 = 100; p90 at position 1.8 → 100 + 0.8·400 = 420
    assert total["p50"] == pytest.approx(100)
    assert total["p90"] == pytest.approx(420)
    # top 1 tool = exec_command (2 timed calls), the rest is Other (write_stdin)
    assert (rows["exec_command"]["calls"], rows["exec_command"]["residual_ms"]) == (2, 600)
    assert (rows[m.OTHER]["calls"], rows[m.OTHER]["residual_ms"]) == (1, -100)


def test_overhead_coverage(overhead_con):
    cover = {r["provider"]: r for r in m.overhead_coverage(overhead_con)}
    assert (cover["codex"]["timed_calls"], cover["codex"]["calls"]) == (3, 6)
    assert cover["codex"]["coverage"] == pytest.approx(0.5)
    assert cover["claude"]["coverage"] == 0


def test_category_mapping(latency_con):
    names = [
        "Bash",
        "exec_command",
        "read",  # case-insensitive
        "apply_patch",
        "Glob",
        "WebFetch",
        "Task",
        "update_plan",
        "AskUserQuestion",
        "mcp__github__create_issue",
        "FancyNewTool",
        None,
    ]
    values = ", ".join("(NULL)" if n is None else f"('{n}')" for n in names)
    got = [
        c
        for (c,) in latency_con.execute(
            f"SELECT {m.category_sql('x')} FROM (VALUES {values}) t(x)"
        ).fetchall()
    ]
    assert got == [
        "shell/exec",
        "shell/exec",
        "file read",
        "file edit/write",
        "search",
        "web",
        "subagent/task",
        "planning/todo",
        "user interaction",
        "MCP",
        "other",
        "other",
    ]


def test_categories_shares(tmp_path):
    calls = [
        _call("a", "Bash", internal_ms=3_000),
        _call("b", "mcp__github__create_issue", wall_ms=1_000),
        _call("c", "FancyNewTool", wall_ms=0),  # a call, but no time
        _call("d", "Read", wall_ms=1_000),
    ]
    con = trace_db(tmp_path, [tool_step("cat", "claude", calls)])
    rows = {r["category"]: r for r in m.categories(con)}
    # 4 calls → 25% each; time 3000 + 1000 + 1000 = 5000 ms
    assert list(rows) == ["shell/exec", "file read", "MCP", "other"]  # CATEGORY_ORDER
    assert all(r["share"] == pytest.approx(0.25) for r in rows.values())
    assert rows["shell/exec"]["time_share"] == pytest.approx(0.6)
    assert rows["MCP"]["time_share"] == pytest.approx(0.2)
    assert rows["other"]["time_share"] == 0
    members = {r["tool"]: r["category"] for r in m.category_members(con)}
    assert members["FancyNewTool"] == "other"


EXPERIMENTS = [
    tool_popularity,
    latency_share,
    tool_latency,
    tool_overhead,
    tool_categories,
]


def _run(experiment, con):
    result = experiment.compute(con)
    figures = experiment.plot(result)
    for fig in figures:
        png = io.BytesIO()
        fig.figure.savefig(png, format="png", dpi=40)  # draws every artist, cheaply
        plt.close(fig.figure)
        assert png.getvalue().startswith(PNG_MAGIC)
        if fig.interactive is not None:
            assert fig.interactive.to_json()
    return result, figures


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.name)
def test_experiment_outputs(experiment, overhead_con):
    result, figures = _run(experiment, overhead_con)
    assert result.tables and all(t.rows for t in result.tables)
    assert figures and all(f.data.rows for f in figures)
    assert len(result.text) > 40


def test_experiment_texts_carry_the_numbers(popularity_con, overhead_con):
    text = tool_popularity.compute(popularity_con).text
    assert "Bash, Read, Edit" in text and "90.0%" in text  # claude top-3 share
    text = tool_overhead.compute(overhead_con).text
    assert "3 of 6 tool calls (50.0%)" in text


@pytest.fixture(scope="module")
def no_tools_con(tmp_path_factory):
    """Steps but not a single tool call (one provider only)."""
    rows = [step("s", 0, first="user_message", events=[ev("user_message", 0), ev("text", 1)])]
    return trace_db(tmp_path_factory.mktemp("notools"), rows)


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.name)
def test_no_tool_calls_gives_empty_tables_and_a_sentence(experiment, no_tools_con):
    result, figures = _run(experiment, no_tools_con)
    assert all(not t.rows for t in result.tables)
    assert "no tool call" in result.text.lower()
    assert figures  # a "no data" figure, not a crash


def test_metric_functions_on_an_empty_trace(no_tools_con):
    assert m.top_tools_share(no_tools_con) is None
    assert m.long_call_time_share(no_tools_con) is None
    assert m.latency_bins(no_tools_con) == []


def test_overhead_without_both_latencies(popularity_con):
    # every call there has an internal or a wall latency, never both
    result, _ = _run(tool_overhead, popularity_con)
    assert not result.table("table10_tool_overhead").rows
    assert "cannot be decomposed" in result.text


def test_a_call_without_status_is_a_non_error_call(tmp_path):
    """Amendments §14.6: every call is in the denominator — finished without a flag (Claude
    writes `is_error` only on failures) or interrupted alike."""
    calls = [
        tool("f1", "Edit", emitted=0, result=1, is_error=True),  # finished, failed
        tool("f2", "Edit", emitted=0, result=2),  # finished, no flag → success
        tool("f3", "Edit", emitted=0, result=None),  # interrupted: a non-error call
    ]
    con = trace_db(tmp_path, [tool_step("fin", "claude", calls)])
    edit = next(r for r in m.popularity(con) if r["tool"] == "Edit")
    # 1 error among 3 calls → 1/3 (the old rule: 1 of the 2 finished calls → 50%)
    assert (edit["errors"], edit["with_status"], edit["calls"]) == (1, 2, 3)
    assert edit["error_rate"] == pytest.approx(1 / 3)
