"""Timing segments, the timing fit and its ambiguity floors, append-vs-prefix latency
(amendments §1, §2): values worked out by hand."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from conftest import FIXTURES, needs_fixtures
from tracebuilder import ev, step, trace_db
from tracelab.experiments.llm_generation.append_vs_prefix_latency import (
    append_vs_prefix_latency,
)
from tracelab.experiments.llm_generation.timing_fit import timing_fit
from tracelab.metrics import timing_ambiguity as ta
from tracelab.metrics import timing_fit as tf
from tracelab.metrics.timing_segments import prepare_segments

# ----------------------------------------------------------------------------- segments


def _segments(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    prepare_segments(con)
    return con.execute(
        """SELECT round_index, kind, start_event, duration_ms, segment_tokens
           FROM timing_segments ORDER BY round_pk, seg_no"""
    ).fetchall()


def test_segments_per_step(tmp_path):
    # fmt: off
    rows = [
        # latest tool_call by time is the one at 5 s (listed before the one at 4 s); the latest
        # input event at or before it is the tool_result at 1 s: 5 − 1 = 4 s, tokens = O = 70
        step("c", 0, output=70, events=[
            ev("user_message", 0), ev("tool_result", 1), ev("text", 2),
            ev("tool_call", 5), ev("tool_call", 4),
        ]),
        # a tie at 10 s: the user_message comes first in event order, so it is the start
        step("c", 1, output=30, first="user_message", events=[
            ev("user_message", 10), ev("tool_result", 10), ev("tool_call", 12.5),
        ]),
        step("c", 2, output=5, events=[ev("tool_result", 20), ev("text", 21)]),  # no tool_call
        step("c", 3, output=5, events=[ev("tool_result", 30), ev("tool_call", 30)]),  # 0 s: dropped
        # Codex: input 0 s, reasoning ends 3 s, tool call 6 s; O = 100, R = 40
        step("x", 0, provider="codex", output=100, reasoning=40, first="user_message", events=[
            ev("user_message", 40), ev("reasoning", 42), ev("reasoning", 43), ev("text", 43.5),
            ev("tool_call", 46),
        ]),
        # Codex: the reasoning (49 s) precedes every input event: no reasoning_end segment, but
        # reasoning end → tool call (49 → 52 s) exists; O − R = 10 − 30 < 0 → 0 tokens
        step("x", 1, provider="codex", output=10, reasoning=30, events=[
            ev("reasoning", 49), ev("tool_result", 50), ev("tool_call", 52),
        ]),
    ]
    # fmt: on
    got = _segments(trace_db(tmp_path, rows))
    assert got == [
        (0, "claude_tool_result_to_tool_call", "tool_result", 4000.0, 70),
        (1, "claude_user_message_to_tool_call", "user_message", 2500.0, 30),
        (0, "codex_user_message_to_tool_call", "user_message", 6000.0, 100),
        (0, "codex_user_message_to_reasoning_end", "user_message", 3000.0, 40),
        (0, "codex_reasoning_end_to_tool_call", "reasoning", 3000.0, 60),
        (1, "codex_tool_result_to_tool_call", "tool_result", 2000.0, 10),
        (1, "codex_reasoning_end_to_tool_call", "reasoning", 3000.0, 0),
    ]


# ----------------------------------------------------------------------------- timing fit

#: Exact coefficients of group A (ms per k-token feature, in `tf.FEATURES` order).
COEFS_A = [500, 100, 200, 300, 10, 20, 30, 5, 6, 7]


def _linear_ms(p: int, a: int, o: int) -> int:
    x = [1, p, a, o, p * p, a * a, o * o, p * a, p * o, a * o]
    return sum(c * v for c, v in zip(COEFS_A, x, strict=True))


def _fit_trace(tmp_path) -> tuple[duckdb.DuckDBPyConnection, list[tuple[int, int, int]]]:
    """120 steps whose duration is exactly `_linear_ms` of their k-tokens, then 2 outliers."""
    rows, tokens = [], []
    for i in range(120):
        # p ∈ 1..7, a ∈ 1..5, o ∈ 1..3 k-tokens: 105 distinct combinations (7, 5, 3 coprime)
        p, a, o = i % 7 + 1, i % 5 + 1, i % 3 + 1
        tokens.append((p, a, o))
        t = 100.0 * i
        rows.append(
            step("f", i, prefix=1000 * p, append=1000 * a, output=1000 * o,
                 events=[ev("tool_result", t), ev("tool_call", t + _linear_ms(p, a, o) / 1000)])
        )  # fmt: skip
    # the largest formula duration is 4,766 ms (p=7, a=5, o=3); these two are far above
    for j, d in enumerate((100.0, 100.001)):
        t = 100.0 * (120 + j)
        rows.append(step("f", 120 + j, prefix=1000, append=1000, output=1000,
                         events=[ev("tool_result", t), ev("tool_call", t + d)]))  # fmt: skip
    return trace_db(tmp_path, rows), tokens


def test_fit_recovers_known_coefficients_and_the_seeded_split(tmp_path):
    con, _ = _fit_trace(tmp_path)
    (fit,) = tf.fit_all(con)
    assert fit.group == "claude::claude-opus-4-7::claude_tool_result_to_tool_call"
    # 122 rows: p99 at position 0.99 × 121 = 119.79, between the largest formula duration and
    # the first outlier, so both outliers are trimmed and the 120 formula rows remain
    assert fit.rows == 120 and not fit.skipped
    # test set: round(0.2 × 120) = 24 first indices of default_rng(17).permutation(120);
    # rows are in file order, round_pk = 1-based row number
    expected = np.random.default_rng(17).permutation(120)[:24] + 1
    assert fit.test_pks == expected.tolist()
    # the data are exactly linear in the features: the raw and weighted fits recover them
    for name in ("raw", "weighted"):
        assert np.allclose(fit.coefs[name], COEFS_A, atol=1e-6), name
        m = fit.metrics[name]
        assert m["rmse_ms"] < 1e-6 and m["mape_median"] < 1e-9
        assert m["ratio_p50"] == pytest.approx(1.0) and m["r2"] == pytest.approx(1.0)


def test_log_fit_recovers_a_log_linear_law():
    # log d = 6 + 0.3 p + 0.2 a + 0.1 o (k-tokens) exactly: the log fit recovers it
    p = np.arange(150) % 7 + 1
    a = np.arange(150) % 5 + 1
    o = np.arange(150) % 3 + 1
    d = np.exp(6 + 0.3 * p + 0.2 * a + 0.1 * o)
    x = tf.design(p * 1000, a * 1000, o * 1000)
    fit = tf.fit_group("g", np.arange(150), d, x)
    assert np.allclose(fit.coefs["log"], [6, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0, 0], atol=1e-9)
    assert fit.n_test == 30  # round(0.2 × 150)
    assert fit.metrics["log"]["log_ratio_mean"] < 1e-9


def test_small_groups_are_skipped_and_said_so(tmp_path):
    rows = [
        step("s", i, prefix=1000, append=100, output=50,
             events=[ev("tool_result", 10.0 * i), ev("tool_call", 10.0 * i + 1 + i / 10)])
        for i in range(99)
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    result = timing_fit.compute(con)
    (group,) = result.table("timing_segments_by_group").records()
    # 99 segments: the p99 trim removes the longest (the durations are distinct) → 98 < 100
    assert group["segments"] == 99 and group["trimmed_rows"] == 98
    assert group["status"] == "skipped (< 100 rows)"
    assert result.table("timing_fit_metrics").rows == []
    assert "1 skipped with fewer than 100 rows" in result.text


# ----------------------------------------------------------------------------- ambiguity


def test_exact_duplicate_floor(tmp_path):
    def seg(i: int, append: int, d: float) -> dict:
        t = 100.0 * i
        return step("e", i, prefix=0, append=append, output=10,
                    events=[ev("tool_result", t), ev("tool_call", t + d)])  # fmt: skip

    # three rows share (0, 500, 10) with 1, 2 and 6 s; one row (0, 900, 10) stands alone
    con = trace_db(tmp_path, [seg(0, 500, 1), seg(1, 500, 2), seg(2, 500, 6), seg(3, 900, 3)])
    prepare_segments(con)
    ((_, sets, rows, mae, mape, smooth, _, _),) = ta.exact_floors(con)
    assert (sets, rows) == (1, 3)
    # MAE: median 2000 → (1000 + 0 + 4000) / 3
    assert mae == pytest.approx(5000 / 3)
    # APE: weights 1/d = 6, 3, 1 (÷ 6000); half of 10 is 5, reached at the first row → 1000;
    # (0 + 1000/2000 + 5000/6000) / 3
    assert mape == pytest.approx((0.5 + 5 / 6) / 3)
    # smooth: weights 1/(d+1000) = 21, 14, 6 (÷ 42000); half of 41 = 20.5 ≤ 21 → 1000;
    # (0 + 1000/3000 + 5000/7000) / 3
    assert smooth == pytest.approx((1 / 3 + 5 / 7) / 3)


def test_local_floor_weighted_median_and_spread():
    con = duckdb.connect()
    # one set of 8 rows: 1..8 s; median 4.5 s; weights 1/d: the cumulative weight first
    # reaches half of H(8) = 2.7179 (1.3589) at d = 2 s (1 + 1/2 = 1.5)
    rows = (
        "SELECT 'g' AS fit_group, 0 AS k1, 0 AS k2, 0 AS k3, CAST(d * 1000 AS DOUBLE) AS d "
        "FROM range(1, 9) t(d)"
    )
    ((_, sets, n, mae, mape, _, p10, p90),) = con.execute(ta.floors_sql(rows, 8)).fetchall()
    assert (sets, n) == (1, 8)
    assert mae == pytest.approx(sum(abs(d - 4.5) for d in range(1, 9)) * 1000 / 8)  # 2000
    assert mape == pytest.approx(sum(abs(d - 2) / d for d in range(1, 9)) / 8)
    # p10 at position 0.7 → 1.7 s; p90 at 6.3 → 7.3 s; ÷ 4.5 s
    assert (p10, p90) == (pytest.approx(1.7 / 4.5), pytest.approx(7.3 / 4.5))
    assert con.execute(ta.floors_sql(rows, 9)).fetchall() == []  # a set needs ≥ min rows


@pytest.mark.parametrize(("tokens", "bin_"), [(0, -1), (1, 0), (2, 4), (3, 6), (1024, 40)])
def test_local_bucket_key(tokens, bin_):
    # floor(log2 x / 0.25): log2 3 = 1.585 → 6.34 → 6; log2 1024 = 10 → 40
    assert duckdb.connect().execute(f"SELECT {ta._bin(str(tokens))}").fetchone()[0] == bin_


# ----------------------------------------------------------------------------- §2


def _ap_step(i: int, d_ms: float, prefix: int, append: int, output: int = 100) -> dict:
    t = 100.0 * i
    return step("ap", i, prefix=prefix, append=append, output=output,
                events=[ev("tool_result", t), ev("tool_call", t + d_ms / 1000)])  # fmt: skip


def test_append_vs_prefix_by_hand(tmp_path):
    heavy = {"prefix": 4096, "append": 4096}  # total 8192, share 0.5 → append-heavy
    cached = {"prefix": 8000, "append": 192}  # share 0.023, prefix ≥ 4096 → prefix-heavy
    rows = [_ap_step(i, d, **heavy) for i, d in enumerate((2000, 3000, 4000, 5000, 6000))]
    rows += [_ap_step(5 + i, d, **cached) for i, d in enumerate((1000, 2000, 2500, 3000, 3500))]
    rows += [
        _ap_step(10, 60_000, **heavy),  # above the p99: trimmed
        _ap_step(11, 9_000, output=1000, **heavy),  # another out bucket: it has 1 row
        _ap_step(12, 40, **cached),  # < 50 ms: dropped before the trim
        _ap_step(13, 3000, prefix=3900, append=100),  # total 4000 < 4096: dropped
    ]
    result = append_vs_prefix_latency.compute(trace_db(tmp_path, rows))
    (s,) = result.table("append_vs_prefix_summary").records()
    # 12 rows pass the filters; sorted, p99 sits at position 0.99 × 11 = 10.89, between
    # 9,000 and 60,000 → only the 60 s row is trimmed: 11 kept, 6 append-heavy, 5 prefix-heavy
    assert (s["full_segments"], s["kept_rows"]) == (14, 11)
    assert (s["append_heavy"], s["prefix_heavy"], s["buckets"]) == (6, 5, 1)
    (b,) = result.table("append_vs_prefix_buckets").records()
    assert (b["append_rows"], b["prefix_rows"], b["pairs"]) == (5, 5, 25)
    # medians 4000 / 2500 = 1.6
    assert (b["median_append_ms"], b["median_prefix_ms"]) == (4000, 2500)
    assert b["ratio"] == pytest.approx(1.6)
    # append row slower: 2000 → 1 + ½ (tie at 2000); 3000 → 3 + ½; 4000, 5000, 6000 → 5 each
    # = 20 of 25 pairs → P = 0.8, δ = 0.6
    assert b["p_slower"] == pytest.approx(0.8) and b["cliffs_delta"] == pytest.approx(0.6)
    # normalized (÷ 2500): append .8 1.2 1.6 2 2.4, prefix .4 .8 1 1.2 1.4; balanced accuracy
    # at .4 .8 1 1.2 1.4 1.6 2 2.4 = .6 .6 .7 .7 .8 .7 .6 .5 → best 1.4 with 0.8
    assert b["threshold"] == pytest.approx(1.4) and b["balanced_accuracy"] == pytest.approx(0.8)
    # one bucket: the global numbers are its own; 0.8 ≥ 0.8, 0.8 ≥ 0.75, 1.6 ≥ 1.5
    assert s["p_slower"] == pytest.approx(0.8) and s["median_ratio"] == pytest.approx(1.6)
    assert s["threshold"] == pytest.approx(1.4) and s["balanced_accuracy"] == pytest.approx(0.8)
    assert s["verdict"] == "clear separation"
    figs = append_vs_prefix_latency.plot(result)
    assert [f.name for f in figs] == ["append_vs_prefix_latency"]


def test_verdicts():
    from tracelab.metrics.append_prefix import verdict

    assert verdict(0.8, 0.75, 1.5) == "clear separation"
    assert verdict(0.8, 0.74, 1.5) == "slower but not separable"
    assert verdict(0.61, 0.9, 2.0) == "slower but not separable"
    assert verdict(0.6, 0.9, 2.0) == "rejected"
    assert verdict(None, 0.5, None) == "no qualifying bucket"


# ----------------------------------------------------------------------------- release files


@needs_fixtures
@pytest.mark.parametrize("name", ["public-schema.duckdb", "public-schema-no-event-index.duckdb"])
def test_on_the_release_files(name):
    from tracelab.metrics.steps import prepare
    from tracelab.tracedb import open_db

    con = open_db(FIXTURES / "public-dataset" / name)
    prepare(con)
    fit = timing_fit.compute(con)
    groups = fit.table("timing_segments_by_group").records()
    assert (
        sum(g["segments"] for g in groups)
        == con.execute("SELECT count(*) FROM timing_segments").fetchone()[0]
    )
    fitted = [g for g in groups if g["status"] == "fitted"]
    assert all(g["trimmed_rows"] >= tf.MIN_ROWS for g in fitted)
    assert len(fit.table("timing_fit_metrics").rows) == 3 * len(fitted)
    ap = append_vs_prefix_latency.compute(con)
    assert ap.table("append_vs_prefix_summary").rows[0][-1]  # a verdict, even with no bucket
    timing_fit.plot(fit)
    append_vs_prefix_latency.plot(ap)
