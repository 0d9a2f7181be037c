"""The fast SQL of amendments §1/§2 against straightforward Python on small random inputs.

Why: the best-threshold search (running counts over distinct values), the ambiguity floors
(sizes counted before the quantiles) and the p99 trims (grouped quantiles joined back) were
reformulated for speed; these tests recompute each from its definition, row by row, and
require the same answers (the hand-worked tests in test_exp_timing.py pin the values).
"""

from __future__ import annotations

import statistics

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.metrics import append_prefix as ap
from tracelab.metrics import timing_ambiguity as ta

# ----------------------------------------------------------------------------- threshold


def _best_threshold(rows: list[tuple[float, str]]) -> tuple[float | None, float]:
    """The definition: over distinct values ascending, the first maximizing the balanced
    accuracy of "norm > thr ⇒ append"; kept only when it beats 0.5."""
    na = sum(c == "append" for _, c in rows)
    np_ = sum(c == "prefix" for _, c in rows)
    best, best_ba = None, 0.5
    for thr in sorted({v for v, _ in rows}):
        tpr = sum(v > thr and c == "append" for v, c in rows) / na
        tnr = sum(v <= thr and c == "prefix" for v, c in rows) / np_
        ba = (tpr + tnr) / 2
        if ba > best_ba + 1e-12:
            best, best_ba = thr, ba
    return best, best_ba


def _ap_rows(rows: list[tuple[str, float, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE ap_rows (bucket VARCHAR, norm DOUBLE, cls VARCHAR)")
    con.executemany("INSERT INTO ap_rows VALUES (?, ?, ?)", rows)
    return con


#: Values on a coarse grid, so that ties (within and across classes) are common.
_ROW = st.tuples(
    st.sampled_from(["b1", "b2", "b3"]),
    st.integers(1, 12).map(lambda v: v / 4),
    st.sampled_from(["append", "prefix"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, min_size=2, max_size=40))
def test_threshold_matches_its_definition(rows):
    con = _ap_rows(rows)
    pooled = con.execute(ap.threshold_sql("")).fetchall()
    by_bucket = dict(
        (b, (thr, ba)) for b, thr, ba in con.execute(ap.threshold_sql("bucket")).fetchall()
    )
    groups = {"": [(v, c) for _, v, c in rows]}
    for b, v, c in rows:
        groups.setdefault(b, []).append((v, c))
    for key, members in groups.items():
        if len({c for _, c in members}) < 2:
            continue  # the experiments only search buckets holding both classes
        want_thr, want_ba = _best_threshold(members)
        got_thr, got_ba = pooled[0] if key == "" else by_bucket[key]
        assert got_thr == want_thr
        assert got_ba == pytest.approx(want_ba, abs=1e-12)


def test_threshold_by_hand():
    # append 3, 4; prefix 1, 2, 3 (a tie at 3). At 2: TPR 1, TNR 2/3 → 5/6; at 3: ½ + ½·1 = ¾
    con = _ap_rows([("b", v, c) for v, c in ((3, "append"), (4, "append"), (1, "prefix"),
                                            (2, "prefix"), (3, "prefix"))])  # fmt: skip
    ((thr, ba),) = con.execute(ap.threshold_sql("")).fetchall()
    assert (thr, ba) == (2.0, pytest.approx(5 / 6))


# ----------------------------------------------------------------------------- floors


def _weighted_median(ds: list[float], w) -> float:
    """The first sorted value whose cumulative weight reaches half the set's."""
    ds = sorted(ds)
    half, acc = sum(w(d) for d in ds) / 2, 0.0
    for d in ds:
        acc += w(d)
        if acc >= half:
            return d
    raise AssertionError


def _floors(rows: list[tuple[str, int, float]], min_rows: int) -> dict[str, tuple]:
    """Per group: (sets, rows, mae, mape, smooth, p10 ratio, p90 ratio), row-weighted."""
    sets: dict[tuple, list[float]] = {}
    for g, k, d in rows:
        sets.setdefault((g, k), []).append(d)
    out: dict[str, list] = {}
    for (g, _), ds in sets.items():
        if len(ds) < min_rows:
            continue
        med = statistics.median(ds)
        p10, p90 = (float(np.percentile(ds, q)) for q in (10, 90))
        wm1 = _weighted_median(ds, lambda d: 1 / d)
        wm2 = _weighted_median(ds, lambda d: 1 / (d + 1000))
        acc = out.setdefault(g, [0, []])
        acc[0] += 1
        for d in ds:
            acc[1].append(
                (abs(d - med), abs(d - wm1) / d, abs(d - wm2) / (d + 1000), p10 / med, p90 / med)
            )
    return {
        g: (n, len(losses), *(sum(x[i] for x in losses) / len(losses) for i in range(5)))
        for g, (n, losses) in out.items()
    }


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["g1", "g2"]),
            st.integers(0, 6),
            st.integers(1, 40).map(lambda v: v * 250.0),
        ),
        max_size=60,
    ),
    st.sampled_from([2, 3, 8]),
)
def test_floors_match_their_definition(rows, min_rows):
    con = duckdb.connect()
    con.execute("CREATE TABLE seg (g VARCHAR, k INTEGER, d DOUBLE)")
    if rows:
        con.executemany("INSERT INTO seg VALUES (?, ?, ?)", rows)
    sql = ta.floors_sql("SELECT g AS fit_group, k AS k1, 0 AS k2, 0 AS k3, d FROM seg", min_rows)
    got = {r[0]: r[1:] for r in con.execute(sql).fetchall()}
    want = _floors(rows, min_rows)
    assert got.keys() == want.keys()
    for g, values in want.items():
        assert got[g][:2] == values[:2]
        assert got[g][2:] == pytest.approx(values[2:], rel=1e-12)


# ----------------------------------------------------------------------------- p99 trim


def test_trim_is_the_groups_linear_p99(tmp_path):
    """timing_segments' trim_p99 / in_trim against numpy's linear percentile per group."""
    from tracebuilder import ev, step, trace_db
    from tracelab.metrics.timing_segments import prepare_segments

    rng = np.random.default_rng(5)
    rows = []
    for i, d in enumerate(rng.integers(1, 5000, size=120)):
        provider = "claude" if i % 3 else "codex"
        first = "user_message" if i % 5 == 0 else "tool_result"
        t = 10.0 * i
        rows.append(
            step(
                provider, i, provider=provider, events=[ev(first, t), ev("tool_call", t + d / 1000)]
            )
        )
    con = trace_db(tmp_path, rows)
    prepare_segments(con)
    got = con.execute(
        "SELECT fit_group, duration_ms, trim_p99, in_trim FROM timing_segments"
    ).fetchall()
    by_group: dict[str, list[float]] = {}
    for g, d, _, _ in got:
        by_group.setdefault(g, []).append(d)
    assert len(by_group) >= 3
    for g, d, p99, kept in got:
        want = float(np.percentile(by_group[g], 99))
        assert p99 == pytest.approx(want, rel=1e-12)
        assert kept == (d <= p99)


# ----------------------------------------------------------------------------- Mann–Whitney


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1]),
            st.integers(1, 8).map(lambda v: v * 100.0),
            st.sampled_from(["append", "prefix"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_p_slower_matches_pair_counting(rows):
    """P per bucket from mid-ranks = (#pairs with the append row slower + ½ #ties) / #pairs."""
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE ap_candidates (round_pk INTEGER, provider VARCHAR, model VARCHAR, "
        "kind VARCHAR, total_bin INTEGER, out_bin INTEGER, cls VARCHAR, duration_ms DOUBLE, "
        "append_share DOUBLE)"
    )
    con.executemany(
        "INSERT INTO ap_candidates VALUES (?, 'p', 'm', 'k', ?, 0, ?, ?, 0.5)",
        [(i, b, c, d) for i, (b, d, c) in enumerate(rows)],
    )
    con.execute(
        "CREATE TEMP TABLE ap_buckets AS SELECT provider, model, kind, total_bin, out_bin, "
        "count(*) FILTER (WHERE cls = 'append') AS append_rows, "
        "count(*) FILTER (WHERE cls = 'prefix') AS prefix_rows, "
        "count(*) FILTER (WHERE cls = 'append') * count(*) FILTER (WHERE cls = 'prefix') AS pairs, "
        "100.0 AS median_prefix_ms FROM ap_candidates GROUP BY ALL"
    )
    con.execute(ap.NORMALIZED_SQL)
    got = dict(
        con.execute(
            "SELECT b.total_bin, (sum(r.midrank) FILTER (WHERE r.cls = 'append') "
            "- b.append_rows * (b.append_rows + 1) / 2.0) / b.pairs "
            "FROM ap_rows r JOIN ap_buckets b USING (total_bin) WHERE b.pairs > 0 "
            "GROUP BY b.total_bin, b.append_rows, b.pairs"
        ).fetchall()
    )
    for bucket in (0, 1):
        a = [d for b, d, c in rows if b == bucket and c == "append"]
        p = [d for b, d, c in rows if b == bucket and c == "prefix"]
        if not a or not p:
            assert bucket not in got
            continue
        wins = sum((x > y) + 0.5 * (x == y) for x in a for y in p)
        assert got[bucket] == pytest.approx(wins / (len(a) * len(p)), abs=1e-12)
