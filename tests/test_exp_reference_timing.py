"""The reference's timing analyses (amendments §4 KV-cache active ratio, §10 duration CDFs) on
hand-built traces; every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style on first use
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.prefix_cache.kv_cache_active_ratio import kv_cache_active_ratio
from tracelab.experiments.session.duration_cdfs import duration_cdfs
from tracelab.metrics import active_ratio as ar
from tracelab.metrics import duration_bins as db


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


# --- §10 duration CDFs (same trace: gen 10, 3, 2 s + codex 5 s; tools 4 s, 2 h; wait 120 s) ---


def _metric(name: str) -> db.Metric:
    return next(x for x in db.METRICS if x.name == name)


def test_generation_bins_and_cumulative_counts(con):
    gen = _metric("generation")
    span = db.value_range(con, gen)
    assert span == (2.0, 10.0)
    edges = db.fine_edges(*span, gen.landmarks)
    # lo = floor(log10 2) = 0, hi = ceil(log10 10) = 1: logspace(0, 1, 65) = 10^(k/64); inside
    # (2, 10): k = 20..63 (10^(20/64) = 2.05 > 2) → 44 edges, no s landmark strictly inside,
    # + min and max = 46 edges, 45 bins
    assert len(edges) == 46 and edges[0] == 2.0 and edges[-1] == 10.0
    assert edges[1] == pytest.approx(10 ** (20 / 64))
    rows = db.histogram(con, gen, edges)
    claude = [r for r in rows if r["provider"] == "claude"]
    codex = [r for r in rows if r["provider"] == "codex"]
    assert len(claude) == len(codex) == 45  # every bin listed per provider
    # 2 s → bin 0 [2, 10^(20/64)); 3 s → 10^(30/64) = 2.94 ≤ 3 < 10^(31/64) = 3.05: bin 11;
    # 10 s (the max) → the last bin, closed
    cum = [r["cum_count"] for r in claude]
    assert (cum[0], cum[10], cum[11], cum[43], cum[44]) == (1, 1, 2, 2, 3)
    assert claude[44]["time"] == 10.0 and claude[44]["count"] == 1
    assert claude[-1]["cum_hours"] == pytest.approx(15 / 3600)
    assert claude[11]["cum_time_share"] == pytest.approx(5 / 15)
    # codex 5 s: 10^(44/64) = 4.87 ≤ 5 < 10^(45/64) = 5.05 → bin 25
    assert [r["count"] for r in codex].index(1) == 25


def test_tool_bins_landmarks_and_five_minute_edge(con):
    tool_m = _metric("tool_latency")
    span = db.value_range(con, tool_m)
    assert span == (4_000.0, 7_200_000.0)
    edges = db.fine_edges(*span, tool_m.landmarks)
    # lo = 3, hi = 7: 10^(3 + k/64), k = 0..256; inside (4000, 7.2e6): k = 39..246 (208 edges;
    # 1e4, 1e5, 1e6 among them); landmarks 6e4, 6e5, 3.6e6 are off the grid: + 3, + min, max
    assert len(edges) == 213
    assert {6e4, 6e5, 3.6e6, 1e4} <= set(edges) and 300_000.0 not in edges
    totals = db.fine_edges(*span, tool_m.landmarks, (tool_m.five_min,))
    assert len(totals) == 214 and 300_000.0 in totals  # the total CSV's 5 min edge (ms)
    rows = db.histogram(con, tool_m, edges)
    flagged = [r["bin_hi"] for r in rows if r["landmark"]]
    assert flagged == [1e4, 6e4, 6e5, 3.6e6]  # 10 ms, 100 ms, 1 s lie below the min


def test_single_value_and_summary(con):
    human = _metric("human_wait")
    span = db.value_range(con, human)
    assert span == (120.0, 120.0)
    edges = db.fine_edges(*span, human.landmarks)
    assert edges == [120.0, 120.0]  # one closed bin
    rows = db.histogram(con, human, edges)
    assert [(r["provider"], r["count"], r["cum_hours"]) for r in rows] == [
        ("claude", 1, pytest.approx(120 / 3600))
    ]
    summary = {r["provider"]: r for r in db.summary(con, _metric("tool_latency"))}
    # tools 4,000 and 7,200,000 ms: mean 3,602,000; linear p25 = 4000 + 0.25·7,196,000
    assert summary["claude"]["avg"] == pytest.approx(3_602_000)
    assert summary["claude"]["p25"] == pytest.approx(4_000 + 0.25 * 7_196_000)
    assert summary["claude"]["hours_le_5min"] == pytest.approx(4_000 / 3.6e6)
    assert summary[db.ALL]["hours"] == pytest.approx(7_204_000 / 3.6e6)


def test_duration_cdfs_experiment(con):
    result = duration_cdfs.compute(con)
    names = [t.name for t in result.tables]
    assert names[0] == "duration_summary" and "human_wait_ecdf" in names
    assert len(result.table("tool_latency_count_cdf").rows) == 212  # one provider, 212 bins
    totals = result.table("duration_total_cdf").column("metric")
    assert totals.count("tool_latency") == 213  # + the 5 min edge
    assert "4 generation spans, median 4.0s" in result.text  # 2, 3, 5, 10 s → (3 + 5) / 2
    figures = duration_cdfs.plot(result)
    assert [f.name for f in figures] == ["duration_total_cdf", "human_wait_ecdf"]
    plt.close("all")
