"""The reference's tool analyses (amendments §7 tool time by tool, §13 Codex wall − internal gap)
on hand-built traces; every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style on first use
import pytest

from tracebuilder import tool, tool_step, trace_db
from tracelab.experiments.tool_calls.codex_wall_internal_gap import codex_wall_internal_gap
from tracelab.experiments.tool_calls.tool_time_by_kind import tool_time_by_kind
from tracelab.metrics import tool_time, wall_gap


def _call(call_id: str, name: str | None = "Bash", **kwargs) -> dict:
    """A tool call with only the latencies given (no timestamps to derive a wall latency)."""
    return tool(call_id, name, emitted=None, result=None, **kwargs)


@pytest.fixture(scope="module")
def kinds_con(tmp_path_factory):
    claude = [
        _call("c1", "  Bash ", internal_ms=1_000),  # trimmed → Bash
        _call("c2", "Bash", internal_ms=3_000, is_error=True),
        _call("c3", "Bash"),  # no latency: missing
        _call("c4", " ", wall_ms=500),  # blank → <unknown-tool>
        _call("c5", None, wall_ms=0),  # no name → <unknown-tool>; 0 is neither valid nor missing
        _call("c6", "mcp_github_x", internal_ms=2_000),
        _call("c7", "Read", internal_ms=0),  # no valid call: not in the table
    ]
    # 10 mcp_a and 10 mcp_b calls of 100 ms, interleaved (mcp_a appears first)
    for i in range(10):
        claude.append(_call(f"ma{i}", "mcp_a", internal_ms=100))
        claude.append(_call(f"mb{i}", "mcp_b", internal_ms=100))
    codex = [
        _call("x1", "exec_command", internal_ms=6_000),
        _call("x2", "Bash", internal_ms=500),
        _call("x3", "Zed", internal_ms=2_000),  # ties mcp_github_x, appears later in the file
    ]
    rows = [tool_step("k", "claude", claude), tool_step("kx", "codex", codex)]
    return trace_db(tmp_path_factory.mktemp("kinds"), rows)


def test_tool_time_by_tool_global_sorted_by_time_then_first_appearance(kinds_con):
    got = tool_time.by_tool(kinds_con)
    # Σ positive eff: exec_command 6000; Bash 1000 + 3000 + 500 (codex) = 4500; mcp_github_x
    # 2000 and Zed 2000 (tie: mcp_github_x is earlier in the file, though "Zed" sorts first);
    # mcp_a 10·100, mcp_b 10·100 (tie, mcp_a first); <unknown-tool> 500; Read left out
    assert [r["tool"] for r in got] == [
        "exec_command",
        "Bash",
        "mcp_github_x",
        "Zed",
        "mcp_a",
        "mcp_b",
        tool_time.UNKNOWN_TOOL,
    ]
    bash = got[1]
    # Bash: 4 calls (3 claude + 1 codex), 3 valid, c3 missing, c2 an error
    assert [bash[k] for k in ("calls", "valid", "missing", "errors")] == [4, 3, 1, 1]
    total = 6_000 + 4_500 + 2_000 + 2_000 + 1_000 + 1_000 + 500  # 17,000 ms
    assert bash["total_ms"] == 4_500 and bash["total_h"] == pytest.approx(4.5 / 3600)
    assert bash["latency_share"] == pytest.approx(4_500 / total)
    assert bash["avg_ms"] == pytest.approx(1_500)  # Σ / valid calls, not / calls
    unknown = got[-1]
    # c4 (500 ms) and c5 (0 ms): 2 calls, 1 valid, none missing
    assert [unknown[k] for k in ("calls", "valid", "missing", "total_ms")] == [2, 1, 0, 500]


def test_tool_time_bars_merge_mcp_before_pooling_small_tools(kinds_con):
    bars = [
        (r["provider"], r["tool"], r["calls"], r["total_h"])
        for r in tool_time.figure_bars(kinds_con)
    ]
    # claude: mcp = mcp_github_x + mcp_a + mcp_b = 21 calls (≥ 20: its own bar, 4,000 ms);
    # Bash (3), <unknown-tool> (2), Read (1) < 20 → Other: 6 calls, 4,000 + 500 + 0 = 4,500 ms
    # codex: 3 tools with 1 call each → Other, 6,000 + 500 + 2,000 = 8,500 ms
    assert bars == [
        ("claude", "Other", 6, pytest.approx(4_500 / 3.6e6)),
        ("claude", "mcp", 21, pytest.approx(4_000 / 3.6e6)),
        ("codex", "Other", 3, pytest.approx(8_500 / 3.6e6)),
    ]


def test_tool_time_by_kind_experiment(kinds_con):
    result = tool_time_by_kind.compute(kinds_con)
    table = result.table("tool_time_by_kind")
    assert table.column("tool")[0] == "exec_command"
    assert "exec_command 35.3%" in result.text  # 6,000 / 17,000
    figures = tool_time_by_kind.plot(result)
    assert [f.name for f in figures] == ["tool_time_by_kind_bars"]
    plt.close("all")


# --- §13 Codex wall − internal gap ---------------------------------------------------------


@pytest.fixture(scope="module")
def gap_con(tmp_path_factory):
    codex = [
        _call("e1", "exec_command", wall_ms=5_000, internal_ms=1_000),  # gap 4,000
        _call("e2", "exec_command", wall_ms=1_000, internal_ms=0),  # gap 1,000: bucket ≤1 s
        _call("e3", "exec_command", wall_ms=500, internal_ms=800),  # gap clipped to 0
        _call("e4", "exec_command", wall_ms=0, internal_ms=0),  # wall 0: not valid
        _call("p1", "apply_patch", wall_ms=2_000),  # wall only: not valid
        _call("w1", "write_stdin", wall_ms=70_000, internal_ms=5_000),  # gap 65,000
        _call("h1", "request_user_input", wall_ms=4_000_000, internal_ms=100),  # gap 3,999,900
        _call("a1", "wait_agent", wall_ms=120_000),  # wall only
    ]
    claude = [_call("c1", "Bash", wall_ms=9_999, internal_ms=1)]  # not Codex: left out
    rows = [tool_step("g", "codex", codex), tool_step("gc", "claude", claude)]
    return trace_db(tmp_path_factory.mktemp("gap"), rows)


def test_codex_gap_coverage_and_per_tool(gap_con):
    cov = {r["tool"]: r for r in wall_gap.coverage(gap_con)}
    assert "Bash" not in cov
    ex = cov["exec_command"]
    # 4 calls, all with both timings; Σ wall 5000 + 1000 + 500 + 0, Σ internal 1000 + 0 + 800
    assert [ex[k] for k in ("calls", "wall_calls", "both_calls", "wall_only_calls")] == [4, 4, 4, 0]
    assert (ex["wall_ms"], ex["internal_ms"]) == (6_500, 1_800)
    assert cov["apply_patch"]["wall_only_calls"] == 1
    per = {r["tool"]: r for r in wall_gap.per_tool_gaps(gap_con)}
    assert list(per) == ["request_user_input", "write_stdin", "exec_command"]  # by Σ gap
    ex = per["exec_command"]
    # valid: e1, e2, e3 (e4 has wall 0) → gaps 4000, 1000, 0
    assert (ex["calls"], ex["gap_ms"], ex["wall_ms"]) == (3, 5_000, 6_500)
    assert ex["gap_share"] == pytest.approx(5_000 / 6_500)
    assert ex["p50"] == pytest.approx(1_000) and ex["avg"] == pytest.approx(5_000 / 3)
    assert (ex["gap_over_1s"], ex["gap_over_10s"]) == (1, 0)  # 1,000 is not > 1 s


def test_codex_gap_buckets_and_categories(gap_con):
    buckets = {(r["category"], r["bucket"]): r for r in wall_gap.gap_buckets(gap_con)}
    # execution_like: ≤1 s {1000, 0} (upper-inclusive), ≤10 s {4000}
    assert buckets[("execution_like", "≤1 s")]["calls"] == 2
    assert buckets[("execution_like", "≤10 s")]["gap_share"] == pytest.approx(4_000 / 5_000)
    assert buckets[("execution_like", ">1 h")]["calls"] == 0  # every bucket listed
    assert buckets[("write_stdin", "≤10 m")]["gap_ms"] == 65_000
    assert buckets[("other_both_timed", ">1 h")]["calls"] == 1  # request_user_input
    cats = {r["category"]: r for r in wall_gap.by_category(gap_con)}
    # execution_like: 4 exec + apply_patch; gap % over all 5 wall-timed calls' Σ wall 8,500
    ex = cats["execution_like"]
    assert (ex["calls"], ex["valid_calls"], ex["wall_ms"]) == (5, 3, 8_500)
    assert ex["gap_share"] == pytest.approx(5_000 / 8_500)
    # other: write_stdin + wait_agent (wall 70,000 + 120,000), gap 65,000
    assert cats["other"]["gap_share"] == pytest.approx(65_000 / 190_000)
    assert cats["direct_human"]["gap_ms"] == 3_999_900


def test_codex_direct_human_wall_and_top_gaps(gap_con):
    human = {r["tool"]: r for r in wall_gap.direct_human_wall(gap_con)}
    assert (human["wait_agent"]["over_1m"], human["wait_agent"]["over_1h"]) == (1, 0)
    # all: walls 4,000,000 and 120,000 → Σ 4,120,000, median (4,000,000 + 120,000) / 2
    assert human[wall_gap.ALL]["wall_ms"] == 4_120_000
    assert human[wall_gap.ALL]["p50"] == pytest.approx(2_060_000)
    top = [r["tool_call_id"] for r in wall_gap.top_gaps(gap_con)]
    assert top == ["h1", "w1", "e1", "e2", "e3"]


def test_codex_wall_internal_gap_experiment(gap_con):
    result = codex_wall_internal_gap.compute(gap_con)
    assert len(result.tables) == 6
    # valid: e1, e2, e3, w1, h1 of 8 Codex calls
    assert result.text.startswith("5 of 8 Codex tool calls are valid (both timings, wall > 0)")
    assert "does not name its raw Codex logs" in result.text
