"""The reference's timing analyses (amendments §4 KV-cache active ratio, §10 duration CDFs) on
hand-built traces; every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.prefix_cache.kv_cache_active_ratio import kv_cache_active_ratio
from tracelab.metrics import active_ratio as ar


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """Claude: generation spans 10 s, 3 s, 2 s; tool latencies 4 s (internal) and 2 h (wall
    only); one human wait of 120 s. Codex: one 5 s generation span, nothing idle."""
    rows = [
        step(
            "a",
            0,
            first="user_message",
            events=[ev("user_message", 0), ev("tool_call", 10, tool_call_id="t1")],
            # span 0 → 10 s; the call ran 10 → 15 s but reports 4 s internal (eff = 4 s)
            tools=[tool("t1", emitted=10, result=15, internal_ms=4_000)],
        ),
        step(
            "a",
            1,
            events=[ev("tool_result", 15, tool_call_id="t1"), ev("tool_call", 18)],
            # span 15 → 18 s; a call with only a wall latency of 2 h (no result event)
            tools=[tool("t2", emitted=18, result=None, wall_ms=7_200_000)],
        ),
        step(
            "a",
            2,
            first="user_message",
            # the user answers 120 s after the session's previous event (tool_call at 18 s)
            events=[ev("user_message", 138), ev("text", 140)],  # span 138 → 140 s
        ),
        step(
            "x",
            0,
            provider="codex",
            first="user_message",
            events=[ev("user_message", 0), ev("text", 5)],  # span 5 s, no wait (first event)
        ),
    ]
    return trace_db(tmp_path_factory.mktemp("timing"), rows)


def test_active_ratio_counts_only_idle_values_up_to_t(con):
    got = {(r["provider"], r["t_s"]): r for r in ar.active_ratio(con, [3.999, 4.0, 120.0, 3600.0])}
    # claude G = 10 + 3 + 2 = 15 s; idle values: tool 4 s, tool 7200 s, human 120 s
    assert got[("claude", 3.999)]["active_ratio"] == pytest.approx(1.0)  # nothing ≤ 3.999 s
    assert got[("claude", 4.0)]["active_ratio"] == pytest.approx(15 / 19)  # 4 s ≤ T counts
    assert got[("claude", 120.0)]["active_ratio"] == pytest.approx(15 / 139)  # + the 120 s wait
    # the 2 h call counts nothing at T = 1 h (min(g, T) would give 15 / (139 + 3600))
    c = got[("claude", 3600.0)]
    assert c["active_ratio"] == pytest.approx(15 / 139)
    assert (c["gen_s"], c["tool_le_s"], c["human_le_s"]) == pytest.approx((15, 4, 120))
    assert (c["gen_n"], c["tool_n"], c["human_n"]) == (3, 2, 1)
    assert got[("codex", 120.0)]["active_ratio"] == pytest.approx(1.0)  # 5 / 5
    # all: G = 15 + 5 = 20 s, idle ≤ 120 s: 4 + 120
    assert got[(ar.ALL, 120.0)]["active_ratio"] == pytest.approx(20 / 144)


def test_active_ratio_grid():
    grid = ar.grid_seconds()
    assert grid[0] == pytest.approx(1.0) and max(grid) == pytest.approx(3600.0)
    assert set(ar.GRID_MARKS_S) <= set(grid)
    # 229 log points; 60, 300, 600, 1800 are not on them, 3600 is (up to rounding)
    assert 232 <= len(grid) <= 234


def test_kv_cache_active_ratio_experiment(con):
    result = kv_cache_active_ratio.compute(con)
    marks = {
        (r["provider"], r["T (s)"]): r
        for r in result.table("kv_cache_active_ratio_marks").records()
    }
    assert marks[("claude", 300.0)]["active ratio"] == pytest.approx(15 / 139)
    assert marks[("claude", 60.0)]["active ratio"] == pytest.approx(15 / 19)
    assert "claude 78.9% at 1 min" in result.text  # 15 / 19
    figures = kv_cache_active_ratio.plot(result)
    assert [f.name for f in figures] == ["kv_cache_active_ratio"]
    plt.close("all")
