"""The reference's tool analyses (amendments §7 tool time by tool, §13 Codex wall − internal gap)
on hand-built traces; every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.tool_calls.tool_time_by_kind import tool_time_by_kind
from tracelab.metrics import tool_time


def _step(session: str, provider: str, calls: list[dict], index: int = 0) -> dict:
    """One user-initiated step emitting `calls` (tool() entries, renumbered in order)."""
    for i, call in enumerate(calls):
        call["tool_index"] = i
    return step(
        session,
        index,
        provider=provider,
        first="user_message",
        events=[ev("user_message", index * 100), ev("text", index * 100 + 1)],
        tools=calls,
    )


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
    rows = [_step("k", "claude", claude), _step("kx", "codex", codex)]
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
