"""The `llm_generation` experiments and `metrics.generation`: values worked out by hand."""

from __future__ import annotations

import io
import json

import duckdb
import matplotlib.pyplot as plt
import pytest

from conftest import FIXTURES, needs_fixtures
from tracebuilder import ev, step, trace_db
from tracelab.experiments.llm_generation.append_by_prefix import PREFIX_LABELS, append_by_prefix
from tracelab.experiments.llm_generation.append_share import APPEND_LABELS, append_share
from tracelab.experiments.llm_generation.decode_speed import decode_speed
from tracelab.experiments.llm_generation.generation_time_cdf import generation_time_cdf
from tracelab.experiments.llm_generation.output_attribution import output_attribution
from tracelab.experiments.llm_generation.output_schematic import (
    output_schematic,
    schematic_segments,
)
from tracelab.experiments.llm_generation.prefix_append_scatter import prefix_append_scatter
from tracelab.experiments.llm_generation.token_distribution import token_distribution
from tracelab.metrics import generation as g

EXPERIMENTS = [
    token_distribution,
    append_by_prefix,
    prefix_append_scatter,
    append_share,
    output_attribution,
    output_schematic,
    decode_speed,
    generation_time_cdf,
]


def _value(sql: str) -> object:
    return duckdb.connect().execute(sql).fetchone()[0]


# ----------------------------------------------------------------------------- bins


@pytest.mark.parametrize(
    ("tokens", "label"),
    [
        (0, "<1k"),
        (1023, "<1k"),  # 1023 < 1 × 1024
        (1024, "1–2k"),  # the lower edge belongs to the bin
        (1025, "1–2k"),
        (2047, "1–2k"),
        (2048, "2–4k"),
        (262_143, "128–256k"),  # 256 × 1024 − 1
        (262_144, "≥256k"),
    ],
)
def test_prefix_bin_edges(tokens, label):
    index = _value(f"SELECT {g.bucket_sql(str(tokens), g.PREFIX_BIN_EDGES)}")
    assert PREFIX_LABELS[index] == label


def test_bin_labels():
    assert PREFIX_LABELS == [
        "<1k", "1–2k", "2–4k", "4–8k", "8–16k", "16–32k", "32–64k", "64–128k", "128–256k",
        "≥256k",
    ]  # fmt: skip
    assert APPEND_LABELS == ["<256", "256–1k", "1–4k", "4–10k", "10–50k", "≥50k"]


@pytest.mark.parametrize(
    ("tokens", "bin_"),
    # floor(log2(x + 1)): 0 → log2(1) = 0; 1 → log2(2) = 1; 1022 → log2(1023) = 9.99 → 9;
    # 1023 → log2(1024) = 10; 1024 → log2(1025) = 10.001 → 10; 2047 → log2(2048) = 11
    [(0, 0), (1, 1), (1022, 9), (1023, 10), (1024, 10), (1025, 10), (2047, 11)],
)
def test_log2_density_bins(tokens, bin_):
    assert _value(f"SELECT {g.log2_bin_sql(str(tokens))}") == bin_


def test_log10_output_bins():
    # 20 bins per decade: 40 tokens → floor(log10(40) × 20) = floor(32.04) = 32 (39.8–44.7);
    # 100 → floor(2 × 20) = 40; 1 → 0
    assert [_value(f"SELECT {g.log10_bin_sql(str(x))}") for x in (1, 40, 100)] == [0, 32, 40]


def test_table9_counts_steps_at_the_edges(tmp_path):
    rows = [
        step("a", 0, prefix=1023, append=10),
        step("a", 1, prefix=1024, append=20),
        step("a", 2, prefix=1025, append=30),
        step("a", 3, prefix=300_000, append=40),
    ]
    con = trace_db(tmp_path, rows)
    table = append_by_prefix.compute(con).table("table9_append_by_prefix")
    got = {r["prefix"]: (r["steps"], r["p50"]) for r in table.records()}
    assert got["<1k"] == (1, 10)
    # 1–2k holds 1024 and 1025: median of appends 20 and 30 = 25
    assert got["1–2k"] == (2, 25)
    assert got["≥256k"] == (1, 40)
    # empty bins: 0 steps and no statistics
    assert got["2–4k"] == (0, None)
    assert len(table.rows) == len(PREFIX_LABELS)  # one provider, every bin listed


# ----------------------------------------------------------------------------- tokens


def test_token_distribution_and_output_histogram(tmp_path):
    rows = [
        step("a", i, prefix=1000 * (i + 1), append=100, output=out)
        for i, out in enumerate([100, 200, 300, 400, 0])
    ]
    con = trace_db(tmp_path, rows)
    result = token_distribution.compute(con)
    t8 = {r["tokens"]: r for r in result.table("table8_token_distribution").records()}
    out = t8["Output tokens"]
    # outputs 0, 100, 200, 300, 400: avg 1000 / 5 = 200; p25 at position 0.25 × 4 = 1 → 100;
    # p50 at position 2 → 200; p90 at 3.6 → 300 + 0.6 × 100 = 360
    assert (out["avg"], out["p25"], out["p50"], out["p90"]) == pytest.approx((200, 100, 200, 360))
    # prefix 1000..5000: avg 3000
    assert t8["Prefix tokens"]["avg"] == pytest.approx(3000)
    hist = result.table("fig4_output_histogram").records()
    # the 0-output step is not drawn but counts in the denominator: each bin 1 / 5 = 20%
    assert [r["steps"] for r in hist] == [1, 1, 1, 1]
    assert [r["share"] for r in hist] == pytest.approx([0.2] * 4)
    # 100 → bin floor(2 × 20) = 40: [10^2, 10^2.05) = [100, 112.2)
    assert (hist[0]["bin"], hist[0]["bin_lo"]) == (40, pytest.approx(100))
    assert "20.0%" in result.text  # the share of zero-output steps is reported


# ----------------------------------------------------------------------------- append share


def test_append_share(tmp_path):
    rows = [step("a", i, prefix=5000, append=a) for i, a in enumerate([100, 500, 900, 20_000])]
    con = trace_db(tmp_path, rows)
    result = append_share.compute(con)
    got = {r["append"]: r for r in result.table("fig2_append_share").records()}
    # steps: <256 holds 100, 256–1k holds 500 and 900, 10–50k holds 20 000
    assert [got[k]["steps"] for k in APPEND_LABELS] == [1, 2, 0, 0, 1, 0]
    # tokens: total 21 500; 10–50k carries 20 000 / 21 500
    assert got["10–50k"]["share_append_tokens"] == pytest.approx(20_000 / 21_500)
    assert got["256–1k"]["share_steps"] == pytest.approx(0.5)
    # text: 3 of 4 steps append < 1k = 75.0%; tokens from ≥ 10k = 93.0%
    assert "75.0% of steps append fewer than 1k" in result.text
    assert "93.0% of all append tokens" in result.text


# ----------------------------------------------------------------------------- attribution


def _pair_step(
    session: str, k: int, at: float | None, prefix: int, append: int, output: int, **kw
) -> dict:
    """A step whose first event is at `at` s and whose (only) model output is 1 s later."""
    events = [ev("tool_result", at), ev("text", at + 1)] if at is not None else []
    return step(session, k, prefix=prefix, append=append, output=output, events=events, **kw)


@pytest.fixture(scope="module")
def attribution_con(tmp_path_factory):
    """Amendments §14.5, worked by hand: gain = S.prefix − P.input, tol = max(512, 10% of O);
    cached |gain − O| ≤ tol; resend gain < O − tol and S.append ≥ O − tol."""
    rows = [
        # a0: input 1000, O 3000 (no predecessor)
        _pair_step("a", 0, 0, prefix=0, append=1000, output=3000),
        # gain 4000 − 1000 = 3000 = O → cached
        _pair_step("a", 1, 10, prefix=4000, append=100, output=2500),
        # gain 4100 − 4100 = 0 < 2500 − 512; append 2600 ≥ 1988 → resend
        _pair_step("a", 2, 20, prefix=4100, append=2600, output=2000),
        # gain 7700 − 6700 = 1000: |1000 − 2000| > 512; append 300 < 1488 → neither
        _pair_step("a", 3, 30, prefix=7700, append=300, output=1999),
        # prior output 1999 < 2000: excluded
        _pair_step("a", 4, 40, prefix=8000, append=100, output=2000),
        # gain 10 500 − 8100 = 2400: |2400 − 2000| = 400 ≤ tol 512 → cached (old rule, 10% of O
        # = 200: neither)
        _pair_step("a", 5, 50, prefix=10_500, append=50, output=2000),
        # 400 − 51 = 349 s after a5's output: gap > 240 s, excluded (old rule: resend)
        _pair_step("a", 6, 400, prefix=10_550, append=2100, output=3000),
        # gain 7650 − 12 650 = −5000 < 3000 − 512 and append 2800 ≥ 2488 → resend (old rule:
        # |gain| > 10% of O → neither)
        _pair_step("a", 7, 410, prefix=7650, append=2800, output=10),
        # another Claude model, its own session — grouped with the others as "Claude"
        _pair_step("b", 0, 0, prefix=0, append=1000, output=4000, model="claude-sonnet-4-6"),
        # gain 1150 − 1000 = 150 < 3488 and append 4100 ≥ 3488 → resend
        _pair_step("b", 1, 10, prefix=1150, append=4100, output=5, model="claude-sonnet-4-6"),
        # codex: c1 has no timestamp and is dropped, so c2 pairs with c0:
        # gain 7500 − 5000 = 2500 = O → cached (old rule: c2 follows c1, whose O is 0 → no pair)
        _pair_step("c", 0, 0, prefix=0, append=5000, output=2500, provider="codex"),
        _pair_step("c", 1, None, prefix=5000, append=100, output=0, provider="codex"),
        _pair_step("c", 2, 20, prefix=7500, append=100, output=0, provider="codex"),
    ]
    return trace_db(tmp_path_factory.mktemp("attribution"), rows)


def test_attribution_classes(attribution_con):
    g.prepare_generation(attribution_con)
    got = attribution_con.execute(
        "SELECT session_id, seq, model, gain, attribution FROM attribution_pairs "
        "ORDER BY session_id, seq"
    ).fetchall()
    assert got == [
        ("claude:a", 2, "Claude", 3000, "cached"),
        ("claude:a", 3, "Claude", 0, "resend"),
        ("claude:a", 4, "Claude", 1000, "neither"),
        ("claude:a", 6, "Claude", 2400, "cached"),
        ("claude:a", 8, "Claude", -5000, "resend"),
        ("claude:b", 2, "Claude", 150, "resend"),
        ("codex:c", 3, "gpt-5.5", 2500, "cached"),
    ]


def test_attribution_per_model(attribution_con):
    result = output_attribution.compute(attribution_con)
    got = {r["model"]: r for r in result.table("fig3_output_attribution").records()}
    claude = got["Claude"]
    # 6 pairs: 2 cached, 3 resend, 1 neither; fewer than 50 pairs → not_sure
    assert claude["pairs"] == 6
    assert (claude["cached"], claude["resend"], claude["neither"]) == pytest.approx(
        (2 / 6, 3 / 6, 1 / 6)
    )
    assert claude["decision"] == "not_sure"
    assert (got["gpt-5.5"]["pairs"], got["gpt-5.5"]["cached"]) == (1, 1.0)
    points = result.table("fig3_output_attribution_points")
    assert len(points.rows) == 7  # fewer than the per-group sample cap: every pair
    # the scatter's gain is max(0, gain): a7's −5000 is drawn at 0
    assert min(points.column("gain")) == 0
    assert "Claude (claude, 6 pairs) is mostly output-resend" in result.text


def test_attribution_decision():
    # n < 50 → not_sure; cached ≥ 70% ∧ resend ≤ 20% → cached; the mirror → resend;
    # both ≥ 30% → mixed; anything else → not_sure
    assert g.attribution_decision(49, 1.0, 0.0) == "not_sure"
    assert g.attribution_decision(50, 0.7, 0.2) == "cached"
    assert g.attribution_decision(50, 0.2, 0.7) == "resend"
    assert g.attribution_decision(50, 0.3, 0.3) == "mixed"
    assert g.attribution_decision(50, 0.71, 0.21) == "not_sure"
    assert g.attribution_decision(50, 0.69, 0.1) == "not_sure"


def test_schematic_units():
    segs = {(p, s, seg): (start, n) for p, s, seg, start, n in schematic_segments()}
    # (a) prior 10 + 2 + 4 → next prefix 16
    assert segs[("(a) output-cached", "step i", "prefix")] == (0, 16)
    # (b) next prefix 10 + 2 = 12, next append 4 + 1 = 5
    assert segs[("(b) output-resend", "step i", "prefix")] == (0, 12)
    assert segs[("(b) output-resend", "step i", "append")] == (12, 5)


# ----------------------------------------------------------------------------- decode speed


@pytest.fixture(scope="module")
def decode_con(tmp_path_factory):
    rows = [
        # Codex: input at 0 s, reasoning at 3 s, last visible output at 5 s.
        step(
            "x",
            0,
            provider="codex",
            prefix=20_000,
            append=500,
            output=300,
            reasoning=100,
            first="tool_result",
            events=[ev("tool_result", 0), ev("reasoning", 3), ev("text", 4), ev("tool_call", 5)],
        ),
        # Codex without reasoning tokens: normalized speed only (400 tokens / 8 s = 50 tok/s)
        step(
            "x",
            1,
            provider="codex",
            prefix=20_000,
            append=500,
            output=400,
            reasoning=0,
            first="tool_result",
            events=[ev("tool_result", 10), ev("text", 18)],
        ),
        # Claude: 200 tokens / 4 s = 50 tok/s; Claude reports no reasoning count
        step(
            "c",
            0,
            prefix=1000,
            append=100,
            output=200,
            first="user_message",
            events=[ev("user_message", 0), ev("reasoning", 1), ev("text", 4)],
        ),
        # Claude: no output tokens → no speed; no events → no generation time
        step(
            "c", 1, prefix=1000, append=100, output=0, events=[ev("tool_result", 5), ev("text", 6)]
        ),
        step("c", 2, prefix=1000, append=100, output=50),
    ]
    return trace_db(tmp_path_factory.mktemp("decode"), rows)


def test_decode_speed_definitions(decode_con):
    g.prepare_generation(decode_con)
    got = decode_con.execute(
        "SELECT provider, output, gen_ms, norm_speed, pure_speed, residual_ttft_ms "
        "FROM decode_steps ORDER BY round_pk"
    ).fetchall()
    # Codex step: gen 0 → 5 s = 5000 ms; normalized 300 / 5 s = 60 tok/s;
    # pure: visible 300 − 100 = 200 tokens over reasoning (3 s) → last visible (5 s) = 2 s
    #   → 100 tok/s; L = 2000 ms / 200 tokens = 10 ms/token (the only such step);
    #   residual TTFT = t_in→r − R·L = 3000 − 100 × 10 = 2000 ms
    assert got[0] == pytest.approx(("codex", 300, 5000.0, 60.0, 100.0, 2000.0))
    # reasoning 0: no pure speed, no residual TTFT
    assert got[1] == pytest.approx(("codex", 400, 8000.0, 50.0, None, None))
    assert got[2] == pytest.approx(("claude", 200, 4000.0, 50.0, None, None))
    assert got[3][3] is None and got[4][2:] == (None, None, None, None)


def test_decode_speed_summary(decode_con):
    result = decode_speed.compute(decode_con)
    got = {r["provider"]: r for r in result.table("decode_speed_summary").records()}
    # Codex normalized speeds 60 and 50: median 55; mean 55, sample stddev
    # sqrt(((60 − 55)² + (50 − 55)²) / 1) = sqrt(50) = 7.071 → CV 7.071 / 55 = 0.1286
    codex = got["codex"]
    assert (codex["steps"], codex["median_speed"]) == (2, pytest.approx(55.0))
    assert codex["cv_speed"] == pytest.approx(50**0.5 / 55)
    assert (codex["pure_steps"], codex["median_pure_speed"]) == (1, pytest.approx(100.0))
    assert codex["median_residual_ttft_ms"] == pytest.approx(2000.0)
    # Claude: one timed step with output → CV undefined (one value), no pure speed
    claude = got["claude"]
    assert (claude["steps"], claude["median_speed"], claude["cv_speed"]) == (1, 50.0, None)
    assert claude["pure_steps"] == 0
    binned = result.table("fig6_decode_by_context").records()
    # Codex context 20 500 → floor(log2(20 500)) = 14: bin [16 384, 32 768), midpoint 2^14.5
    codex_bin = next(r for r in binned if r["provider"] == "codex")
    assert (codex_bin["context_lo"], codex_bin["norm_speed_steps"]) == (16_384, 2)
    assert codex_bin["context_mid"] == pytest.approx(2**14.5)
    assert "residual TTFT of 2.0s" in result.text


def test_codex_split_follows_the_reference(tmp_path):
    """Amendments §14.4, worked by hand: L is pooled (Σ t_post / Σ V), the residual TTFT is
    t_in→r − R·L, Fig. 6 keeps t_post ≥ 0.1 s and the text values have no floor. (The old
    per-step rule, gen − output·t_post/V, gives D1 666.7 ms and D4 0 ms.)"""

    def codex(k: int, output: int, reasoning: int, events: list) -> dict:
        return step("d", k, provider="codex", prefix=20_000, append=500, output=output,
                    reasoning=reasoning, events=events)  # fmt: skip

    rows = [
        # D1: R 100, V 300; t_in→r 0 → 2 s = 2000 ms; t_post 2 → 6 s = 4000 ms
        codex(
            0,
            400,
            100,
            [ev("tool_result", 0), ev("reasoning", 2), ev("text", 3), ev("tool_call", 6)],
        ),
        # D2: R 50, V 10; t_in→r 1000 ms; t_post 50 ms (< 0.1 s: text values only)
        codex(1, 60, 50, [ev("tool_result", 10), ev("reasoning", 11), ev("text", 11.05)]),
        # D3: R 200, V 0 (no pure speed); t_in→r 3000 ms
        codex(2, 200, 200, [ev("tool_result", 20), ev("reasoning", 23)]),
        # D4: R 100, V 100; t_in→r 1000 ms; t_post 1000 ms
        codex(3, 200, 100, [ev("tool_result", 30), ev("reasoning", 31), ev("text", 32)]),
    ]
    con = trace_db(tmp_path, rows)
    g.prepare_generation(con)
    got = con.execute(
        "SELECT pure_speed, residual_ttft_ms, fig6_pure_speed, fig6_residual_ttft_ms "
        "FROM decode_steps ORDER BY round_pk"
    ).fetchall()
    # text: L = (4000 + 50 + 1000) / (300 + 10 + 100) = 505/41 ms/token;
    #   D1 2000 − 100·505/41, D2 1000 − 50·505/41, D3 3000 − 200·505/41, D4 1000 − 100·505/41
    # Fig. 6 (D1, D4 eligible): L = 5000 / 400 = 12.5 ms/token;
    #   D1 2000 − 1250 = 750 ms, D4 1000 − 1250 = −250 ms; pure 300/4 s = 75, 100/1 s = 100
    lt = 505 / 41
    assert got[0] == pytest.approx((75.0, 2000 - 100 * lt, 75.0, 750.0))
    assert got[1] == pytest.approx((200.0, 1000 - 50 * lt, None, None))
    assert got[2] == pytest.approx((None, 3000 - 200 * lt, None, None))
    assert got[3] == pytest.approx((100.0, 1000 - 100 * lt, 100.0, -250.0))
    summary = decode_speed.compute(con).table("decode_speed_summary").records()[0]
    # medians: pure 75, 100, 200 → 100; residual (sorted D4, D2, D3, D1) → (D2 + D3) / 2
    assert summary["median_pure_speed"] == pytest.approx(100.0)
    assert summary["median_residual_ttft_ms"] == pytest.approx((15_750 / 41 + 22_000 / 41) / 2)
    assert (summary["fig6_steps"], summary["fig6_ms_per_token"]) == (2, pytest.approx(12.5))


@needs_fixtures
def test_codex_split_agrees_with_the_reference_on_the_public_fixture(tmp_path):
    """The reference implementation's own overview of the public-dataset fixture states its
    post-reasoning time per visible token (L) and the mean residual TTFT over the 79 Codex steps
    with positive reasoning counts; our text-value definitions (§14.4) give the same numbers."""
    from tracelab.metrics.steps import prepare
    from tracelab.tracedb import build_db, open_db

    public = FIXTURES / "public-dataset"
    build_db(public / "public-trace.jsonl.gz", tmp_path / "p.duckdb")
    con = open_db(tmp_path / "p.duckdb")
    prepare(con)
    g.prepare_generation(con)
    timing = json.loads((public / "reference-overview-summary.json").read_text())["merged"][
        "generation_timing"
    ]
    tpot = timing["post_reasoning_tpot_estimate"]
    ttft = timing["estimated_ttft_from_exact_reasoning_tokens"]
    n, visible, ms_per_token, mean_ttft = con.execute(
        "SELECT count(pure_speed), sum(visible) FILTER (WHERE pure_speed IS NOT NULL), "
        "any_value(ms_per_token), avg(residual_ttft_ms) FROM decode_steps "
        "WHERE provider = 'codex'"
    ).fetchone()
    assert (n, visible) == (tpot["rounds"], tpot["visible_or_structured_output_tokens"])
    assert ms_per_token == pytest.approx(tpot["average_decode_latency_seconds_per_token"] * 1000)
    assert mean_ttft == pytest.approx(ttft["estimated_average_seconds"] * 1000)


def test_generation_time_table(decode_con):
    result = generation_time_cdf.compute(decode_con)
    got = {r["provider"]: r for r in result.table("generation_time").records()}
    # Claude gen times: 4000 ms and (tool_result 5 → text 6) 1000 ms; the third has none
    assert got["claude"]["steps"] == 2
    assert got["claude"]["p50"] == pytest.approx(2500.0)
    assert got["codex"]["avg"] == pytest.approx(6500.0)  # (5000 + 8000) / 2
    assert set(result.data["curves"]) == {"claude", "codex"}


# ----------------------------------------------------------------------------- end to end


def _png(fig) -> bytes:
    """The figure as a small PNG (low dpi keeps the test fast; the drawing code is the same)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    plt.close(fig)
    return buf.getvalue()


def _run_all(con) -> dict[str, tuple]:
    out = {}
    for e in EXPERIMENTS:
        result = e.compute(con)
        figures = e.plot(result) if e.plot is not None else []
        out[e.id] = (result, figures, [_png(f.figure) for f in figures])
    return out


def test_every_experiment_computes_and_draws(attribution_con):
    runs = _run_all(attribution_con)
    for exp_id, (result, figures, pngs) in runs.items():
        assert result.text, exp_id
        assert figures or exp_id == append_by_prefix.id, exp_id  # Table 9: no figure
        for png in pngs:
            assert png[:8] == b"\x89PNG\r\n\x1a\n", exp_id
    for name in (
        "table8_token_distribution",
        "table9_append_by_prefix",
        "fig2_append_share",
        "fig3_output_attribution",
    ):
        tables = [t for r, _, _ in runs.values() for t in r.tables if t.name == name]
        assert tables and tables[0].rows, name


def test_empty_trace_and_untimed_step(tmp_path):
    (tmp_path / "empty").mkdir()
    empty = trace_db(tmp_path / "empty", [])
    for exp_id, (result, _, pngs) in _run_all(empty).items():
        if exp_id != output_schematic.id:  # drawn from constants, not data
            assert all(not t.rows for t in result.tables), exp_id
        assert result.text, exp_id
        assert pngs or exp_id == append_by_prefix.id, exp_id
    # one Claude step without events or long outputs: no pairs, no speeds, no reasoning
    (tmp_path / "one").mkdir()
    one = trace_db(tmp_path / "one", [step("a", 0, prefix=10, append=5, output=1)])
    texts = {e.id: e.compute(one).text for e in EXPERIMENTS}
    assert "cannot be tested" in texts[output_attribution.id]
    assert "no decode speed" in texts[decode_speed.id]
    assert "No step has a positive" in texts[generation_time_cdf.id]


#: Fig. 3's pairs as amendments §14.5 word them: consecutive timestamped steps of a (provider,
#: session) in (round_index, first event time, file order) order, one window for every session;
#: the kept pairs (prior output ≥ 2,000, prior input > 0, gap in [0, 240 s]) with their gain.
NAIVE_ATTRIBUTION = """
WITH l AS (
    SELECT round_pk, prefix, first_ts,
           lag(output) OVER w AS po, lag(input_total) OVER w AS pi,
           lag(coalesce(max_out_ts, first_ts)) OVER w AS pend
    FROM step_facts WHERE first_ts IS NOT NULL
    WINDOW w AS (PARTITION BY provider, session_id ORDER BY round_index, first_ts, round_pk)
)
SELECT round_pk, po, prefix - pi AS gain FROM l
WHERE po >= 2000 AND pi > 0
  AND (epoch_us(first_ts) - epoch_us(pend)) / 1000.0 BETWEEN 0 AND 240000
"""


def _attribution_rows(seed: int) -> list[dict]:
    """Sessions of 2–8 steps with large outputs and prefixes; per session, distinct round
    indexes or repeated ones, now and then a step without events, (odd seeds) now and then a
    step of the other provider; rows shuffled, so file order is not time order."""
    import random

    rnd = random.Random(seed)
    rows = []
    for s in range(rnd.randint(2, 5)):
        provider = rnd.choice(["claude", "codex"])
        distinct, at = rnd.random() < 0.5, 0.0
        for k in range(rnd.randint(2, 8)):
            at += rnd.choice([1, 30, 200])
            events = [] if rnd.random() < 0.1 else [ev("user_message", at), ev("text", at + 5)]
            prefix = rnd.choice([0, 1_000, 12_000])
            row = step(f"s{s}", k if distinct else rnd.randint(0, 3), provider=provider,
                       prefix=prefix, append=100, output=rnd.choice([500, 2_500, 9_000]),
                       events=events)  # fmt: skip
            if seed % 2 and rnd.random() < 0.15:
                row["provider"] = "codex" if provider == "claude" else "claude"
            row["round_id"] = row["trace_key"] = f"{provider}:s{s}:{k}"
            rows.append(row)
    rnd.shuffle(rows)
    return rows


def test_attribution_short_cut_matches_the_literal_definition(tmp_path):
    """Sessions in session order with one provider and every step timed skip the window
    (`metrics.generation.ATTRIBUTION_SQL`): on random traces with repeated round indexes,
    untimed steps, two providers in one session and rows out of time order, the pairs are the
    literal ones."""
    pairs = 0
    for seed in range(30):
        con = trace_db(tmp_path / str(seed), _attribution_rows(seed))
        g.prepare_generation(con)
        got = con.execute(
            "SELECT round_pk, prev_output, gain FROM attribution_pairs ORDER BY 1"
        ).fetchall()
        expected = con.execute(f"SELECT * FROM ({NAIVE_ATTRIBUTION}) ORDER BY 1").fetchall()
        assert got == expected, f"seed {seed}"
        pairs += len(expected)
    assert pairs >= 100  # the traces do form pairs: the comparison is not over empty tables
