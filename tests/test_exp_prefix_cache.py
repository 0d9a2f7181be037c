"""Prefix-cache metrics and experiments (Tables 11–13, Figs. 11–12): values worked out by hand."""

from __future__ import annotations

import duckdb
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.prefix_cache.human_thinking_cost import human_thinking_cost
from tracelab.experiments.registry import all_experiments
from tracelab.metrics import cache
from tracelab.pricing.table import Price, PriceTable

PRICES = PriceTable(
    [
        # USD per million tokens: input, 5-minute write, cache read, output
        Price("claude", "Opus", "claude-opus-4-7*", 5.0, 6.25, 0.5, 25.0),
        Price("codex", "GPT-5.4", "gpt-5.4", 2.5, None, 0.25, 15.0),
    ]
)


def _gap_rows() -> list[dict]:
    """Two sessions with known idle gaps (see the comments for C, fresh, gap, generation)."""
    return [
        # A0 claude user, session-first: C=1000, no fresh → outside the sweep
        step(
            "a", 0, prefix=0, append=1000, output=100, first="user_message",
            events=[ev("user_message", 0), ev("text", 1), ev("tool_call", 2, tool_call_id="t1")],
            tools=[tool("t1", emitted=2, result=7, internal_ms=5000)],
        ),
        # A1 tool: C=1400, growth 400 − O 100 = fresh 300; gap = t1 latency 5 000 ms;
        # generation tool_result 7 s → text 8 s = 1 000 ms
        step(
            "a", 1, prefix=1100, append=300, output=50, first="tool_result",
            events=[ev("tool_result", 7, tool_call_id="t1"), ev("text", 8)],
        ),
        # A2 user after a 60 s pause (text at 8 → user_message at 68): full observed miss;
        # C=1500, growth 100 − O 50 = fresh 50; generation 68 → 71 s = 3 000 ms
        step(
            "a", 2, prefix=0, append=1500, output=20, first="user_message",
            events=[ev("user_message", 68), ev("text", 71)],
        ),
        # A3 tool step carrying no tool result and starting with a text event: outside Table 12
        # and the sweep (first timing event is no user_message/tool_result);
        # C=1600, step_facts.fresh = 100 − 20 = 80
        step("a", 3, prefix=1500, append=100, output=10, first="tool_result",
             events=[ev("text", 80)]),
        # B0 codex user, session-first: C=500
        step(
            "b", 0, provider="codex", model="gpt-5.4", prefix=0, append=500, output=10,
            first="user_message", events=[ev("user_message", 0), ev("text", 1)],
        ),
        # B1 codex user after exactly 300 s (text 1 → user_message 301): C=600,
        # growth 100 − O 10 = fresh 90; generation 301 → 303 s = 2 000 ms
        step(
            "b", 1, provider="codex", model="gpt-5.4", prefix=400, append=200, output=10,
            first="user_message", events=[ev("user_message", 301), ev("text", 303)],
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def gap_con(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    return trace_db(tmp_path_factory.mktemp("gaps"), _gap_rows(), PRICES)


def _by(recs: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in recs}


def test_hit_rates_by_step_kind(gap_con):
    got = _by(cache.hit_rates(gap_con), "provider", "kind")
    # claude: prefix 0+1100+0+1500 = 2600, append 1000+300+1500+100 = 2900 → 2600/5500
    assert got[("claude", "all")]["hit_rate"] == pytest.approx(2600 / 5500)
    assert got[("claude", "user")]["hit_rate"] == 0  # A0, A2: no prefix at all
    # claude tool: A1 + A3 prefix 2600, append 400 → 2600/3000
    assert got[("claude", "tool")]["hit_rate"] == pytest.approx(2600 / 3000)
    # codex: prefix 400, append 700 → 400/1100; no tool step, no tool row
    assert got[("codex", "all")]["hit_rate"] == pytest.approx(400 / 1100)
    assert ("codex", "tool") not in got
    # total user: prefix 400 / (400 + 1000+1500+500+200) = 400/3600
    assert got[("total", "user")]["hit_rate"] == pytest.approx(400 / 3600)
    assert got[("total", "all")]["steps"] == 6
    assert cache.prefix_hit_rate(gap_con) == pytest.approx(3000 / 6600)
    assert cache.prefix_hit_rate(gap_con, "codex") == pytest.approx(400 / 1100)
    assert cache.prefix_hit_rate(gap_con, "nobody") is None


def test_fresh_totals_skip_session_first(gap_con):
    got = _by(cache.fresh_totals(gap_con), "provider", "kind")
    # claude: A1, A2 (A3's first event is a text: it does not qualify, amendments §14.3):
    # append 300+1500 = 1800, fresh 300+50 = 350
    claude = got[("claude", "all")]
    assert (claude["steps"], claude["append"], claude["fresh"]) == (2, 1800, 350)
    assert claude["fresh_share"] == pytest.approx(350 / 1800)
    assert claude["amplification"] == pytest.approx(1800 / 350)
    assert got[("claude", "user")]["amplification"] == pytest.approx(1500 / 50)  # A2
    assert got[("claude", "tool")]["amplification"] == pytest.approx(300 / 300)  # A1
    # total: append 1800 + 200 = 2000, fresh 350 + 90 = 440
    assert cache.prefill_amplification(gap_con) == pytest.approx(2000 / 440)
    assert cache.prefill_amplification(gap_con, "codex") == pytest.approx(200 / 90)
    first = _by(cache.session_first_totals(gap_con), "provider", "kind")
    total = first[("total", "all")]
    assert (total["steps"], total["append"]) == (2, 1500)
    assert (total["other_steps"], total["other_append"]) == (1, 100)  # A3


def test_table12_fresh_is_unclipped_over_the_file_order_predecessor(tmp_path):
    """Amendments §14.3, worked by hand: Table 12 sums max(0, C_S − C_P) − O_P without clipping
    each step to [0, append], P being the previous step in file order."""
    rows = [
        step("f", 0, prefix=0, append=1000, output=500, first="user_message",
             events=[ev("user_message", 0), ev("text", 1)]),  # C 1000, session-first
        # C 4000: max(0, 3000) − 500 = 2500
        step("f", 1, prefix=1000, append=3000, output=100, events=[ev("tool_result", 2)]),
        # C 200: max(0, −3800) − 100 = −100 (the old rule clipped it to 0)
        step("f", 2, prefix=0, append=200, output=10, first="user_message",
             events=[ev("user_message", 3)]),
        # C 5000: max(0, 4800) − 10 = 4790 > append 1000 (the old rule clipped it to 1000)
        step("f", 3, prefix=4000, append=1000, output=0, events=[ev("tool_result", 4)]),
        # session g is written round 1 first: in file order g1 is first (no predecessor) and
        # g0 follows it: max(0, 100 − 500) − 0 = 0 (in round order g1 would count 390)
        step("g", 1, prefix=100, append=400, output=0, events=[ev("tool_result", 6)]),
        step("g", 0, prefix=0, append=100, output=10, first="user_message",
             events=[ev("user_message", 5)]),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    got = _by(cache.fresh_totals(con), "provider", "kind")
    total = got[("total", "all")]
    # qualifying f1, f2, f3, g0: append 3000 + 200 + 1000 + 100 = 4300,
    # fresh 2500 − 100 + 4790 + 0 = 7190 (old rule: f1 2500, f2 0, f3 1000, g1 390 → 3890)
    assert (total["steps"], total["append"], total["fresh"]) == (4, 4300, 7190)
    assert total["amplification"] == pytest.approx(4300 / 7190)
    # user f2 + g0: append 300, fresh −100; tool f1 + f3: append 4000, fresh 7290
    assert (got[("total", "user")]["append"], got[("total", "user")]["fresh"]) == (300, -100)
    assert got[("total", "tool")]["fresh"] == 7290
    assert cache.prefill_amplification(con) == pytest.approx(4300 / 7190)
    # synth calibration's variant takes predecessors in session order: g0 is first, g1 follows
    # it with max(0, 400) − 10 = 390 → append 3000 + 200 + 1000 + 400, fresh 7190 − 0 + 390
    by_seq = _by(cache.fresh_totals(con, order="session"), "provider", "kind")
    assert (by_seq[("total", "all")]["append"], by_seq[("total", "all")]["fresh"]) == (4600, 7580)
    # step_facts.fresh (the per-step, clipped quantity the exports use) is unchanged
    clipped = con.execute(
        "SELECT fresh FROM step_facts WHERE session_id = 'claude:f' ORDER BY seq"
    ).fetchall()
    assert clipped == [(None,), (2500,), (0,), (1000,)]


def test_gap_bins_and_bands():
    con = duckdb.connect()
    gaps = [0.0, 999.0, 1000.0, 5000.0, 300_000.0, 86_399_999.0, 86_400_000.0, 9e9]
    got = con.execute(
        f"SELECT {cache.gap_bin_sql('g')}, {cache.gap_band_sql('g')} FROM unnest(?::DOUBLE[]) t(g)",
        [gaps],
    ).fetchall()
    # bin = floor(4·log10(seconds)): 1 s → 0; 5 s → floor(2.796) = 2; 300 s → floor(9.908) = 9;
    # 86 399.999 s → floor(19.746) = 19; below 1 s → -1; from 1 day → 20 (the last bin)
    # band: < 5 min → 0; 5 min (exactly) to 1 h → 1; ≥ 1 h → 2
    assert got == [(-1, 0), (-1, 0), (0, 0), (2, 0), (9, 1), (19, 2), (20, 2), (20, 2)]
    edges = cache.gap_bin_edges_ms()
    assert len(edges) == 21 and edges[0] == 1000.0 and edges[-1] == cache.DAY_MS


def test_hit_by_gap(gap_con):
    got = _by(cache.hit_by_gap(gap_con, cache.gap_bin_sql()), "provider", "kind", "bin")
    # A1 tool, 5 s → bin 2, ratio 1100/1400; A2 user, 60 s → floor(4·1.778) = bin 7, ratio 0;
    # B1 codex user, 300 s → bin 9, ratio 400/600. A3 (no gap) and session-first steps absent.
    assert set(got) == {
        ("claude", "tool", 2), ("claude", "user", 7), ("codex", "user", 9),
        ("total", "tool", 2), ("total", "user", 7), ("total", "user", 9),
    }  # fmt: skip
    a1 = got[("claude", "tool", 2)]
    assert a1["hit_rate"] == pytest.approx(1100 / 1400)
    assert a1["median_ratio"] == pytest.approx(1100 / 1400)
    assert a1["low_share"] == 0
    assert got[("claude", "user", 7)]["low_share"] == 1  # ratio 0 < 50%
    # total user: A2 and B1 → each bin holds half of the user steps
    assert got[("total", "user", 9)]["step_share"] == pytest.approx(0.5)
    bands = _by(cache.hit_by_gap(gap_con, cache.gap_band_sql()), "provider", "kind", "bin")
    assert set(bands) >= {("total", "user", 0), ("total", "user", 1)}  # 300 s is "5m–1h"


def test_eviction_sweep_by_hand(gap_con):
    # Covered A1, A2, B1 (gap 5 s, 60 s, 300 s): ΣC = 1400+1500+600 = 3500,
    # Σfresh = 300+50+90 = 440; reusable C−fresh: A1 1100, A2 1450, B1 510 (Σ 3060).
    # G = positive generation of ALL steps (amendments §14.3; it was the covered steps' 6000):
    # A0 0 → 2 s = 2000, A1 1000, A2 3000, A3 none; B0 1000, B1 2000 → 9000 ms
    taus = [1000.0, 4999.0, 5000.0, 60_000.0, 300_000.0, 3_600_000.0]
    got = _by(cache.eviction_sweep(gap_con, taus), "provider", "tau_ms")
    expect = {
        # τ = 1 s: all miss: hit 0, prefill 440 + 3060 = 3500, R = 3·1000/9000
        1000.0: (0, 0.0, 3500, 3500 / 440, 3000 / 9000),
        # τ just below A1's gap: still all miss; R = 3·4999/9000
        4999.0: (0, 0.0, 3500, 3500 / 440, 3 * 4999 / 9000),
        # τ = 5 s = A1's gap → A1 hits (g ≤ τ): hit 1100/3500, prefill 440+1450+510 = 2400,
        # R = (5000 + 5000 + 5000)/9000
        5000.0: (1, 1100 / 3500, 2400, 2400 / 440, 15_000 / 9000),
        # τ = 1 min = A2's gap: A1, A2 hit: 2550/3500; prefill 440+510 = 950;
        # R = (5000 + 60000 + 60000)/9000
        60_000.0: (2, 2550 / 3500, 950, 950 / 440, 125_000 / 9000),
        # τ = 5 min = B1's gap: all hit: 3060/3500, prefill = Σfresh, amplification 1;
        # R = (5000 + 60000 + 300000)/9000
        300_000.0: (3, 3060 / 3500, 440, 1.0, 365_000 / 9000),
        # τ = 1 h: no gap left to cap, same as 5 min
        3_600_000.0: (3, 3060 / 3500, 440, 1.0, 365_000 / 9000),
    }
    for tau, (hits, hit, prefill, amp, ratio) in expect.items():
        r = got[("total", tau)]
        assert r["steps"] == 3
        assert r["hit_steps"] == hits
        assert r["hit_rate"] == pytest.approx(hit)
        assert r["prefill"] == prefill
        assert r["amplification"] == pytest.approx(amp)
        assert r["storage_ratio"] == pytest.approx(ratio)
        assert r["active_ratio"] == pytest.approx(1 / (1 + ratio))
    # per provider at 1 min: claude (A1, A2) both hit: 2550/2900; R = 65000/6000 (claude G:
    # 2000 + 1000 + 3000). codex B1 misses: hit 0, amplification (90 + 510)/90,
    # R = 60000/3000 (codex G: 1000 + 2000)
    assert got[("claude", 60_000.0)]["hit_rate"] == pytest.approx(2550 / 2900)
    assert got[("claude", 60_000.0)]["storage_ratio"] == pytest.approx(65_000 / 6000)
    assert got[("codex", 60_000.0)]["hit_rate"] == 0
    assert got[("codex", 60_000.0)]["amplification"] == pytest.approx(600 / 90)
    assert got[("codex", 60_000.0)]["storage_ratio"] == pytest.approx(20.0)
    pop = cache.sweep_population(gap_con)
    assert (pop["swept"], pop["session_first"], pop["other_first_event"]) == (3, 2, 1)
    assert pop["unknown_gap"] == 0


def test_eviction_gaps_follow_the_reference(tmp_path):
    """Amendments §14.3, worked by hand: a tool step's gap is the longest WALL duration of the
    calls its leading tool_result events answer; a user step's gap runs from the predecessor's
    last activity (tool times included); G sums the generation of every step."""
    rows = [
        # E0: generation 0 → 3 s = 3000 ms; three calls: t1 wall 10 s (internal 2 s),
        # t2 wall 3 s, t9 wall 37 s
        step("e", 0, prefix=0, append=1000, output=100, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 1, tool_call_id="t1"),
                     ev("tool_call", 2, tool_call_id="t2"), ev("tool_call", 3, tool_call_id="t9")],
             tools=[tool("t1", emitted=1, result=11, internal_ms=2000),
                    tool("t2", emitted=2, result=5, index=1),
                    tool("t9", emitted=3, result=40, index=2)]),
        # E1: leading results t2, t1 → gap max(3 s, 10 s) = 10 000 ms (t9's result comes after
        # the text: not leading). Old rule: max effective latency of all = t9's 37 000 ms.
        # C 1300, fresh clip(300 − 100) = 200; generation 11 → 12.5 s = 1500 ms;
        # last activity = t4's result at 50 s (its events end at 40 s)
        step("e", 1, prefix=1000, append=300, output=50,
             events=[ev("tool_result", 5, tool_call_id="t2"),
                     ev("tool_result", 11, tool_call_id="t1"), ev("text", 12),
                     ev("tool_call", 12.5, tool_call_id="t4"),
                     ev("tool_result", 40, tool_call_id="t9")],
             tools=[tool("t4", emitted=12.5, result=50)]),
        # E2: user at 200 s → gap 200 − 50 = 150 000 ms (old: from the last event, 160 000);
        # C 1500, fresh clip(200 − 50) = 150; generation 2000 ms
        step("e", 2, prefix=0, append=1500, output=0, first="user_message",
             events=[ev("user_message", 200), ev("text", 202)]),
        # E3: its result answers no known call → no gap, not covered; generation 1000 ms
        step("e", 3, prefix=1500, append=10, output=0,
             events=[ev("tool_result", 203, tool_call_id="zz"), ev("text", 204)]),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    cache.prepare_eviction(con)
    gaps = con.execute("SELECT gap_ms, covered FROM eviction_steps ORDER BY round_pk").fetchall()
    assert gaps == [(None, False), (10_000.0, True), (150_000.0, True), (None, False)]
    # covered E1 (g 10 s, C 1300, prefix 1000, fresh 200), E2 (g 150 s, C 1500, prefix 0,
    # fresh 150): ΣC 2800; G = 3000 + 1500 + 2000 + 1000 = 7500 ms (old: E1 + E2 = 3500)
    sweep = cache.eviction_sweep(con, [1000.0, 10_000.0, 60_000.0, 150_000.0])
    got = {r["tau_ms"]: r for r in sweep if r["provider"] == "total"}
    assert got[1000.0]["hit_rate"] == 0
    assert got[10_000.0]["hit_rate"] == pytest.approx(1100 / 2800)  # E1 hits (old: missed)
    assert got[10_000.0]["storage_ratio"] == pytest.approx(20_000 / 7500)
    assert got[60_000.0]["storage_ratio"] == pytest.approx(70_000 / 7500)
    assert got[150_000.0]["hit_rate"] == pytest.approx(2450 / 2800)
    assert got[150_000.0]["storage_ratio"] == pytest.approx(160_000 / 7500)
    # observed hit Σprefix/ΣC = 1000/2800 ≈ 0.357; hit(τ) is 0, 0.393, 0.393, 0.875 → the
    # closest is 0.393, first reached at τ = 10 s
    assert got[10_000.0]["observed_hit"] == pytest.approx(1000 / 2800)
    assert cache.effective_eviction_times(sweep)["total"] == 10_000.0
    pop = cache.sweep_population(con)
    assert (pop["steps"], pop["swept"], pop["session_first"], pop["unknown_gap"]) == (4, 2, 1, 1)


def test_sweep_grid():
    # amendments §14.3: logspace(0, log10 14400, 260) s ∪ {60, 300, 600, 1800, 3600, 7200, 14400} s
    grid = cache.sweep_grid_ms()
    assert grid[0] == 1000.0 and grid[-1] == 14_400_000.0
    assert grid[1] == pytest.approx(1000 * 14_400 ** (1 / 259), abs=1e-3)
    marks = {60_000.0, 300_000.0, 600_000.0, 1_800_000.0, 3_600_000.0, 7_200_000.0, 14_400_000.0}
    assert marks <= set(grid)
    # 260 grid points + the 6 marks that are not grid points (4 h is the last one)
    assert len(grid) == 266 and grid == sorted(set(grid))


def _cost_rows() -> list[dict]:
    return [
        # C0 claude user, session-first: unchanged
        step("c", 0, prefix=0, append=10_000, output=1000, first="user_message"),
        # C1 tool step: unchanged
        step("c", 1, prefix=10_000, append=2000, output=500, first="tool_result"),
        # C2 user after a cache miss: C = 14 000, growth 14 000 − 12 000 = 2000 → append
        # 14 000 capped at 2000, 12 000 moved to prefix; raw split 4000 uncached + 10 000 writes
        step("c", 2, prefix=0, append=14_000, output=200, uncached=4000,
             cache_creation=10_000, first="user_message"),
        # C3 user: C = 17 000, growth 3000, append 2500 already below → unchanged
        step("c", 3, prefix=14_500, append=2500, output=100, first="user_message"),
        # D: codex, unpriced model; D1 capped 1200 → growth 200 (tokens count, cost does not)
        step("d", 0, provider="codex", model="mystery", append=1000, output=10,
             first="user_message"),
        step("d", 1, provider="codex", model="mystery", append=1200, output=10,
             first="user_message"),
        # E: codex gpt-5.4; E1 capped 1500 → growth 500, 1000 moved to prefix
        step("e", 0, provider="codex", model="gpt-5.4", append=1000, first="user_message"),
        step("e", 1, provider="codex", model="gpt-5.4", append=1500, first="user_message"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cost_con(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    return trace_db(tmp_path_factory.mktemp("cost"), _cost_rows(), PRICES)


def test_retained_cache_by_hand(cost_con):
    got = _by(cache.retained_cache(cost_con), "provider")
    # Costs in USD per 1e6 tokens (input 5, write 6.25, read 0.5, output 25):
    # C0 10 000×5 + 1000×25 = 75 000 → 0.075 (unchanged)
    # C1 2000×5 + 10 000×0.5 + 500×25 = 27 500 → 0.0275 (unchanged)
    # C2 before: W = 10 000 writes, 4000 input: 4000×5 + 10 000×6.25 + 200×25
    #    = 20 000 + 62 500 + 5000 → 0.0875
    #    after (§14.7): moved 12 000 leave the writes first: W' = min(max(0, 10 000 − 12 000),
    #    2000) = 0, so append' 2000 × 5 = 10 000; prefix 12 000×0.5 = 6000; output 5000
    #    → 0.021
    # C3 2500×5 + 14 500×0.5 + 100×25 = 22 250 → 0.02225 (unchanged)
    c2_after = (10_000 + 6000 + 5000) / 1e6
    before = 0.075 + 0.0275 + 0.0875 + 0.02225
    claude = got[("claude",)]
    assert claude["user_steps"] == 2  # C2, C3 (C0 is session-first)
    assert claude["append_before"] == 10_000 + 2000 + 14_000 + 2500
    assert claude["append_after"] == 10_000 + 2000 + 2000 + 2500
    assert claude["reduced_steps"] == 1
    assert claude["cost_before"] == pytest.approx(before)
    assert claude["cost_after"] == pytest.approx(before - 0.0875 + c2_after)
    codex = got[("codex",)]
    # tokens of every step: 1000+1200+1000+1500 before, 1000+200+1000+500 after
    assert (codex["append_before"], codex["append_after"]) == (4700, 2700)
    assert (codex["reduced_steps"], codex["reduced_priced_steps"]) == (2, 1)
    assert (codex["unpriced_steps"], codex["unpriced_user_steps"]) == (2, 1)
    # priced E only: before 1000×2.5 + 1500×2.5 = 6250 → 0.00625;
    # after 1000×2.5 + (500×2.5 + 1000×0.25) = 2500 + 1500 → 0.004
    assert codex["cost_before"] == pytest.approx(0.00625)
    assert codex["cost_after"] == pytest.approx(0.004)
    assert got[("total",)]["reduced_priced_steps"] == 2


def test_thinking_cost_table(cost_con):
    result = human_thinking_cost.compute(cost_con)
    table = result.table("table13_human_thinking_cost")
    rows = {r[0]: dict(zip(table.columns[1:], r[1:], strict=True)) for r in table.rows}
    saved_claude = 0.0875 - 0.021  # C2 before / after, see test_retained_cache_by_hand
    saved_codex = 0.00625 - 0.004
    assert rows["Cost reduction"]["total"] == pytest.approx(saved_claude + saved_codex)
    # two priced steps were reduced (C2, E1)
    assert rows["Avg saved / reduced step (USD)"]["total"] == pytest.approx(
        (saved_claude + saved_codex) / 2
    )
    # append: 33 200 observed, 19 200 after → 14 000 saved = 42.2%
    assert rows["Append reduction"]["total"] == 14_000
    assert rows["Append reduction %"]["total"] == pytest.approx(14_000 / 33_200)
    assert "unpriced" in result.text


EXPERIMENTS = [e for e in all_experiments() if e.category == "prefix_cache"]


def _run_all(con: duckdb.DuckDBPyConnection, png: bool = False) -> dict:
    """compute + plot of every experiment of the category; PNG bytes per figure if `png`."""
    import io

    import matplotlib.pyplot as plt

    names = {"hit_rate", "fresh_tokens", "cache_replay", "hit_vs_gap", "eviction_sweep"}
    extras = {"human_thinking_cost", "kv_cache_active_ratio", "timeout_miss_pattern"}
    assert names | extras <= {e.name for e in EXPERIMENTS}
    out = {}
    for exp in EXPERIMENTS:
        result = exp.compute(con)
        assert result.text
        figures = exp.plot(result) if exp.plot else []
        images = {}
        for f in figures:
            if png:
                buf = io.BytesIO()
                f.figure.savefig(buf, format="png", dpi=40)
                images[f.name] = buf.getvalue()
            plt.close(f.figure)
        out[exp.name] = (result, figures, images)
    return out


def test_experiments_compute_and_plot(gap_con):
    runs = _run_all(gap_con, png=True)
    sweep = runs["eviction_sweep"][0]
    assert len(sweep.table("eviction_sweep_marks").rows) == 21  # (claude, codex, total) × 7
    assert "1 step whose first event is no user message or tool result" in sweep.text  # A3
    effective = {r["provider"]: r for r in sweep.table("effective_eviction_time").records()}
    assert set(effective) == {"claude", "codex", "total"}
    assert runs["hit_vs_gap"][0].table("fig11_hit_vs_gap").rows
    assert runs["hit_rate"][0].table("table11_prefix_hit_rate").columns == [
        "metric", "claude", "codex", "total",
    ]  # fmt: skip
    for name in ("hit_vs_gap", "eviction_sweep"):
        _, figures, images = runs[name]
        assert len(figures) == 1 and figures[0].interactive is not None
        assert figures[0].data.rows
        assert next(iter(images.values())).startswith(b"\x89PNG")


def test_edge_traces(tmp_path):
    # Codex only, tool-initiated steps only, no tool calls, no user messages, no events.
    only_tools = [
        step("x", 0, provider="codex", model="gpt-5.4", append=100, first="tool_result"),
        step("x", 1, provider="codex", model="gpt-5.4", prefix=100, append=10,
             first="tool_result"),
    ]  # fmt: skip
    runs = _run_all(trace_db(tmp_path / "tools", only_tools, PRICES))
    assert runs["hit_rate"][0].table("table11_prefix_hit_rate").columns == [
        "metric", "codex", "total",
    ]  # fmt: skip
    assert "no user-initiated step" in runs["human_thinking_cost"][0].text
    assert "No step enters the sweep" in runs["eviction_sweep"][0].text
    assert runs["hit_vs_gap"][0].table("fig11_hit_vs_gap").rows == []
    # Claude only, user steps only (no tool calls): one provider with data in both figures.
    only_users = [
        step("y", 0, append=100, first="user_message",
             events=[ev("user_message", 0), ev("text", 1)]),
        # wait 1 s → 10 s = 9 s; C = 130, fresh = 30 − 0 = 30, generation 10 → 12 s
        step("y", 1, prefix=100, append=30, first="user_message",
             events=[ev("user_message", 10), ev("text", 12)]),
    ]  # fmt: skip
    runs = _run_all(trace_db(tmp_path / "users", only_users, PRICES), png=True)
    (result, _, images) = runs["hit_vs_gap"]
    assert {tuple(row[:2]) for row in result.table("fig11_hit_vs_gap").rows} == {
        ("claude", "user"), ("total", "user"),
    }  # fmt: skip
    assert images["fig11_hit_vs_gap"].startswith(b"\x89PNG")
    marks = runs["eviction_sweep"][0].table("eviction_sweep_marks").rows
    # τ ≥ 1 min > 9 s: the step hits: (130 − 30)/130; R = 9000 ms / G, G = the generation of
    # both steps (1000 + 2000 ms; amendments §14.3 — it was the covered step's 2000 ms)
    assert [r[0] for r in marks] == ["claude"] * 7 + ["total"] * 7
    assert marks[0][4] == pytest.approx(100 / 130) and marks[0][7] == pytest.approx(3.0)
    assert runs["hit_rate"][0].table("table11_prefix_hit_rate").rows[2][1] is None  # no tools
    # A trace of zero steps
    runs = _run_all(trace_db(tmp_path / "empty", [], PRICES))
    assert "no input tokens" in runs["hit_rate"][0].text
    assert "no step with a predecessor" in runs["fresh_tokens"][0].text
    assert runs["hit_rate"][0].table("table11_prefix_hit_rate").columns == ["metric", "total"]


# --- the order short-cuts against the literal definitions ----------------------------------

#: Table 12's fresh tokens as amendments §14.3 word it: the previous step in file order, one
#: window for every session.
NAIVE_NET_FRESH = """
SELECT round_pk,
       CASE WHEN lag(round_pk) OVER w IS NOT NULL
                 AND first_event_type IN ('user_message', 'tool_result')
            THEN greatest(context - lag(context) OVER w, 0) - lag(output) OVER w END AS fresh
FROM step_facts WINDOW w AS (PARTITION BY session_id ORDER BY round_pk)
"""

#: The eviction sweep's fresh tokens and gaps as §14.3 words them: every session ordered by
#: (round_index, first activity, file order) in one window; activity = every event and tool
#: emitted/result time; leading tool_result events = those before the step's first other event.
NAIVE_EVICTION = """
WITH act AS (
    SELECT round_pk, min(t) AS first_act, max(t) AS last_act FROM (
        SELECT round_pk, timestamp AS t FROM timing_events
        UNION ALL SELECT round_pk, emitted_at FROM tool_calls
        UNION ALL SELECT round_pk, result_at FROM tool_calls
    ) GROUP BY round_pk
),
o AS (
    SELECT s.round_pk, s.context, s.append, s.first_event_type, s.first_ts,
           row_number() OVER w AS ord, lag(s.round_pk) OVER w AS ppk,
           lag(s.context) OVER w AS pc, lag(s.output) OVER w AS po,
           lag(a.last_act) OVER w AS plast
    FROM step_facts s LEFT JOIN act a USING (round_pk)
    WINDOW w AS (PARTITION BY s.session_id
                 ORDER BY s.round_index, a.first_act NULLS LAST, s.round_pk)
),
lead_results AS (
    SELECT e.* FROM timing_events e
    WHERE e.event_type = 'tool_result' AND NOT EXISTS (
        SELECT 1 FROM timing_events x
        WHERE x.round_pk = e.round_pk AND x.event_pos < e.event_pos
          AND x.event_type <> 'tool_result')
),
tg AS (
    SELECT l.round_pk, max((epoch_us(t.result_at) - epoch_us(t.emitted_at)) / 1000.0) AS g
    FROM lead_results l
    JOIN o s ON s.round_pk = l.round_pk
    JOIN tool_calls t ON t.session_id = l.session_id AND t.tool_call_id = l.tool_call_id
                     AND t.result_at >= t.emitted_at
    JOIN o c ON c.round_pk = t.round_pk AND c.ord < s.ord
    GROUP BY l.round_pk
)
SELECT o.round_pk,
       CASE WHEN ppk IS NOT NULL THEN least(greatest(greatest(context - pc, 0) - po, 0), append)
       END AS fresh,
       CASE WHEN first_event_type = 'user_message' AND first_ts >= plast
                THEN (epoch_us(first_ts) - epoch_us(plast)) / 1000.0
            WHEN first_event_type = 'tool_result' THEN tg.g END AS gap_ms
FROM o LEFT JOIN tg USING (round_pk)
"""


@pytest.mark.parametrize("seed", range(12))
def test_order_short_cuts_match_the_literal_definitions(tmp_path, seed):
    """Sessions already in the wanted order skip the window (metrics.cache): on random traces
    with repeated round indexes and rows out of round order, the result is the literal one."""
    from test_metrics_steps import _random_rows

    con = trace_db(tmp_path, _random_rows(seed))
    cache.prepare_fresh(con)
    cache.prepare_eviction(con)
    got = con.execute("SELECT round_pk, fresh FROM net_fresh_steps ORDER BY 1").fetchall()
    assert got == con.execute(f"SELECT * FROM ({NAIVE_NET_FRESH}) ORDER BY 1").fetchall()
    got = con.execute("SELECT round_pk, fresh, gap_ms FROM eviction_steps ORDER BY 1").fetchall()
    assert got == con.execute(f"SELECT * FROM ({NAIVE_EVICTION}) ORDER BY 1").fetchall()
