"""The reference's audits (amendments §3, §6, §8, §9, §11): every expected value worked out by
hand from the rows in the comments."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments.llm_generation import token_spindles as spindles
from tracelab.experiments.llm_generation.adjusted_prefix_append import (
    adjusted_prefix_append,
    reservoir_indices,
)
from tracelab.experiments.prefix_cache.cache_replay import cache_replay
from tracelab.experiments.session.session_token_steps import session_token_steps
from tracelab.experiments.tool_calls.long_tool_calls import long_tool_calls
from tracelab.figures.style import render


def row(table, **match):
    found = [r for r in table.records() if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, table.records())
    return found[0]


# --- pairs: §8 adjusted append, §9 spindles, §3 cache replay ---------------------------------


@pytest.fixture(scope="module")
def pairs_con(tmp_path_factory):
    a1 = step("a", 1, prefix=1000, append=150, output=50, uncached=30, cache_creation=120)
    a1["current_tool_result_chars"] = 12_000
    rows = [
        # a (claude): a0 → a1 is a pair; a3 follows a1 with an index step of 2: no pair
        step("a", 0, append=1000, output=100),
        a1,
        step("a", 3, prefix=1200, append=30, output=10),
        # b (codex gpt-5.5): P.O = 300 of which reasoning 200 → P.V = 100
        step("b", 0, provider="codex", append=500, output=300, reasoning=200),
        step("b", 1, provider="codex", prefix=503, append=200, output=40),
        # c (codex gpt-5.4): not subtracted under the default policy
        step("c", 0, provider="codex", model="gpt-5.4", append=400, output=100),
        step("c", 1, provider="codex", model="gpt-5.4", prefix=400, append=60, output=0),
    ]
    con = trace_db(tmp_path_factory.mktemp("pairs"), rows)
    yield con
    con.close()


def test_adjusted_append_default_policy(pairs_con):
    res = adjusted_prefix_append.compute(pairs_con)
    t = res.table("adjusted_append_stats")
    # pairs: a0→a1 (sub 100: claude), b0→b1 (sub 300: gpt-5.5), c0→c1 (sub 0: gpt-5.4)
    raw = row(t, provider="all", metric="raw_append")
    # raw appends [60, 150, 200]: median 150; p90 at (3−1)·0.9 = 1.8 → 150 + 0.8·50 = 190
    assert (raw["count"], raw["median"], raw["p90"], raw["min"], raw["max"]) == (
        3, 150, pytest.approx(190), 60, 200)  # fmt: skip
    # signed: 150−100 = 50, 200−300 = −100, 60−0 = 60 → adjusted [0, 50, 60]
    adj = row(t, provider="all", metric="adjusted_append")
    assert (adj["median"], adj["min"], adj["max"]) == (50, 0, 60)
    assert row(t, provider="all", metric="signed_append")["min"] == -100
    sub = row(t, provider="all", metric="subtracted_pair")  # pairs with sub > 0: [100, 300]
    assert (sub["count"], sub["median"]) == (2, 200)
    clipped = row(t, provider="codex", metric="clipped_after_subtract")
    assert (clipped["count"], clipped["max"]) == (1, -100)
    assert row(t, provider="codex", metric="raw_append")["median"] == 130  # (60 + 200) / 2
    # the sample holds all 3 pairs; prefix positives 400, 503, 1000 < 1024 → t0 = 1
    bins = res.table("adjusted_append_sample_bins")
    assert sum(bins.column("pairs")) == 3 and set(bins.column("x_t0")) == {1}


def test_reservoir_is_algorithm_r():
    def algorithm_r(n, k, seed):
        rng, kept = random.Random(seed), []
        for i in range(n):
            if i < k:
                kept.append(i)
            else:
                j = rng.randrange(i + 1)
                if j < k:
                    kept[j] = i
        return sorted(kept)

    for n, k in ((3, 5), (40, 5), (500, 37)):
        assert reservoir_indices(n, k, 100042).tolist() == algorithm_r(n, k, 100042)


def test_token_spindles_visible_policy(pairs_con):
    res = spindles.token_spindles.compute(pairs_con)
    t = res.table("token_spindle_stats")
    # visible-for-codex: a: 150 − 100 = 50; b: 200 − P.V (300 − 200 = 100) = 100;
    # c: 60 − P.V (100, reasoning null) = −40 → 0. Adjusted [0, 50, 100]
    adj = row(t, metric="adjusted_append")
    assert (adj["count"], adj["positive"], adj["zero"], adj["median"]) == (3, 2, 1, 50)
    assert row(t, metric="prefix")["median"] == 503  # pairs' S.prefix [400, 503, 1000]
    # output over every step: [100, 50, 10, 300, 40, 100, 0] → sorted median 50
    out = row(t, metric="output")
    assert (out["count"], out["zero"], out["median"], out["max"]) == (7, 1, 50, 300)
    dens = [r for r in res.table("token_spindle_density").records() if r["metric"] == "output"]
    assert len(dens) == spindles.BINS and sum(r["count"] for r in dens) == 7
    # 0 tokens sit at x = 0 (bin 0); the axis reaches x(2,097,152) = log2(2,097,184) − 5
    assert dens[0]["count"] == 1
    assert dens[-1]["x_hi"] == pytest.approx(math.log2(2_097_184) - 5)


def test_spindle_smoothing():
    counts = np.zeros(spindles.BINS)
    counts[100] = 7
    dens = spindles.smooth(counts)
    # a lone spike: its own bin is the maximum (1), a neighbour exp(−0.5 / 2.4²) ≈ 0.917,
    # nothing beyond the radius of 10 bins
    assert dens[100] == 1 and dens[101] == pytest.approx(math.exp(-0.5 / 2.4**2))
    assert dens[111] == 0 and dens[110] > 0


def test_cache_replay(pairs_con):
    res = cache_replay.compute(pairs_con)
    shares = res.table("cache_replay_shares")

    def share(cond, provider="all"):
        return row(shares, condition=cond, provider=provider)

    # err = S.prefix − P.total: a 1000 − 1000 = 0; b 503 − 500 = 3; c 400 − 400 = 0
    assert (share("|err| ≤ 0")["matching"], share("|err| ≤ 2")["matching"]) == (2, 2)
    assert share("|err| ≤ 8")["share"] == 1
    # S.append − P.O: a 150 − 100 = 50, b 200 − 300 = −100, c 60 − 100 = −40
    assert share("S.append − P.O < 0")["matching"] == 2
    assert share("S.append ≥ P.O")["share"] == pytest.approx(1 / 3)
    # codex S.append − P.V: b 200 − 100 = 100, c 60 − 100 = −40
    assert share("S.append − P.V < 0", "codex")["matching"] == 1
    # a1 carries 12,000 tool chars: append 150 < 12,000 / 4
    long = share("S.append ≥ tool chars / 4")
    assert (long["population"], long["pairs"], long["matching"]) == ("tool chars ≥ 10,000", 1, 0)
    # claude cache fields of a1: creation 120 ≥ P.O 100; read (= prefix 1000) − P.total 1000 = 0
    assert share("creation ≥ P.O")["matching"] == 1
    stats = res.table("cache_replay_stats")
    err = row(stats, metric="err = S.prefix − P.total", provider="all")
    # [0, 0, 3]: mean 1, p10 0, median 0, p90 at 1.8 → 0 + 0.8·3 = 2.4
    assert (err["n"], err["mean"], err["median"], err["p90"]) == (3, 1, 0, pytest.approx(2.4))
    assert row(stats, metric="creation − P.O", provider="claude")["mean"] == 20
    assert row(stats, metric="read − P.total", provider="claude")["max"] == 0
    deficit = row(stats, metric="deficit P.O − S.append", provider="codex")
    assert (deficit["n"], deficit["min"], deficit["max"]) == (2, 40, 100)


# --- §11: the Fig. 10 gallery ----------------------------------------------------------------


def _session(name: str, contexts: list[int], users: set[int], compact_at: set[int] = frozenset()):
    out = []
    for k, c in enumerate(contexts):
        kind = "user_message" if k in users else "tool_result"
        events = [ev(kind, 10 * k), ev("text", 10 * k + 1)]
        if k in compact_at:
            events[1]["source"] = "auto-Compact"
        out.append(step(name, k, append=c, first=kind, events=events))
    return out


@pytest.fixture(scope="module")
def gallery_con(tmp_path_factory):
    # g: 60 steps, C = 40,000 + 1,000k for k < 40, then 20,000 + 1,000(k − 40): an inferred
    #    compaction at k = 40 (79,000 → 20,000; no rebound ≥ 59,250); an explicit one at k = 10
    g = [40_000 + 1_000 * k for k in range(40)] + [20_000 + 1_000 * j for j in range(20)]
    rows = [
        *_session("g", g, users={0, 30}, compact_at={10}),
        # s: 59 steps — one short of a candidate
        *_session("s", [50_000] * 59, users={0, 20}),
        # h: 60 steps but 43 user steps: 43/60 > 0.7
        *_session("h", [50_000] * 60, users=set(range(43))),
    ]
    con = trace_db(tmp_path_factory.mktemp("gallery"), rows)
    yield con
    con.close()


def test_session_token_steps(gallery_con):
    res = session_token_steps.compute(gallery_con)
    cands = res.table("fig10_candidates").records()
    assert [c["session"] for c in cands] == ["claude:g"]
    c = cands[0]
    # n 60, u 2, t 58, tools 0, maxC 79,000, ΣC = 40·40,000 + 780,000 + 20·20,000 + 190,000
    assert (c["steps"], c["user steps"], c["tool-result steps"]) == (60, 2, 58)
    assert (c["max C"], c["sum C"], c["compactions"]) == (79_000, 2_970_000, 2)
    lg = math.log2(79_000)
    assert c["balanced"] == pytest.approx(60 + 5 * 2 + lg + 12 * 2)
    assert c["context"] == pytest.approx(18 * lg + 10 * math.log2(2_970_000) + 15 + 0.4 + 20)
    assert c["compaction"] == pytest.approx(200 + 10 * lg + 6)
    assert c["selected"] == "balanced, context, compaction"
    steps = res.table("fig10_gallery_steps").records()
    assert len(steps) == 60
    assert [s["step"] for s in steps if s["compaction"]] == [11, 41]  # 1-based positions
    assert steps[5]["elapsed s"] == 50
    figs = session_token_steps.plot(res)
    assert [f.name for f in figs] == ["fig10_gallery"]
    render(figs[0].figure)


# --- §6: Claude calls over an hour -----------------------------------------------------------


@pytest.fixture(scope="module")
def long_con(tmp_path_factory):
    h = 3600
    tools = [
        tool("t1", "Bash", emitted=0, result=4100, internal_ms=4_000_000, index=0),
        tool("t2", "AskUserQuestion", emitted=0, result=3700, index=1),  # wall 3,700,000 only
        tool(
            "t3", "Bash", emitted=0, result=None, internal_ms=3_600_000, wall_ms=7_200_000, index=2
        ),  # fmt: skip  (exactly 1 h effective: not long; wall > 1 h)
        tool("t4", "Read", emitted=None, result=None, index=3),  # no latency: missing
        tool("t5", "Read", emitted=0, result=10, wall_ms=10_002, index=4),  # stamps 10,000
    ]
    rows = [
        step("a", 0, events=[ev("user_message", 0)], tools=tools),
        step("b", 0, provider="codex", tools=[tool("x", "shell", emitted=0, result=2 * h)]),
    ]
    con = trace_db(tmp_path_factory.mktemp("long"), rows)
    yield con
    con.close()


def test_long_tool_calls(long_con):
    res = long_tool_calls.compute(long_con)
    summary = {r["metric"]: r["value"] for r in res.table("long_call_summary").records()}
    assert summary["Claude tool calls scanned"] == 5  # the Codex call is not scanned
    assert summary["  with effective latency missing"] == 1
    assert summary["  with effective latency > 0"] == 4
    assert summary["Calls over 1 h"] == 2
    assert summary["Hours in calls over 1 h"] == pytest.approx(7_700_000 / 3.6e6)
    assert summary["Wall > 1 h but effective ≤ 1 h"] == 1  # t3
    assert summary["Wall latency ≠ result − emitted (> 1 ms)"] == 1  # t5: 10,002 vs 10,000
    detail = res.table("long_calls").records()
    assert [(d["call id"], d["source"]) for d in detail] == [
        ("t1", "internal"), ("t2", "wall_fallback")]  # fmt: skip
    assert detail[0]["result − emitted ms"] == 4_100_000
    bd = res.table("long_call_breakdown")
    assert row(bd, dimension="waits for the user", value="AskUserQuestion")["calls"] == 1
    assert row(bd, dimension="source", value="internal")["hours"] == pytest.approx(4 / 3.6)
