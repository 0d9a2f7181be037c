"""Prices: the sources (genai-prices, the study table, a CSV file), the cost formula with
5-minute / 1-hour cache writes, historic prices and context tiers, the coverage counts.

Expected costs are worked out by hand from the list prices (USD per million tokens) written
next to each case; the genai-prices cases are also checked against genai-prices' own
`calc_price` for the same usage, an independent implementation of the same price data.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from conftest import FIXTURES
from tracebuilder import T0, ev, step, trace_db
from tracelab.cli import app
from tracelab.metrics.costs import price_coverage
from tracelab.pricing import (
    MATCH_EXACT,
    MATCH_FALLBACK,
    PriceTableError,
    family_of,
    resolve_source,
)
from tracelab.pricing.genai import GenaiPrices
from tracelab.pricing.table import Price, PriceTable, load_prices, study_table

M = 1_000_000
DAY = 86_400
PUBLIC_TRACE = FIXTURES / "public-dataset" / "public-trace.jsonl.gz"


def _costs(con) -> dict[str, dict]:
    cur = con.execute(
        "SELECT session_id, price_match, price_group, cache_write, cache_write_5m, "
        "cache_write_1h, cost_input, cost_write_5m, cost_write_1h, cost_append, cost_prefix, "
        "cost_output, cost_total FROM step_facts"
    )
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _genai_total(model: str, provider: str, at: datetime, **usage: int) -> float:
    return float(
        calc_price(
            Usage(**usage), model, provider_id=provider, genai_request_timestamp=at
        ).total_price.quantize(Decimal("1e-12"))
    )


# --- cache-write tiers ---------------------------------------------------------------------


def _tier_rows() -> list[dict]:
    # One Claude opus-4-7 step each, started at T0: append 1 M = 100k uncached + 900k writes,
    # prefix 200k, output 10k. Opus 4.7 list prices: input 5, 5m write 6.25 (1.25×),
    # 1h write 10 (2×), cache read 0.5, output 25; no context tier.
    common = dict(
        prefix=200_000,
        append=M,
        output=10_000,
        uncached=100_000,
        cache_creation=900_000,
        events=[ev("text", 1)],
    )
    return [
        step("split", 0, cache_5m=600_000, cache_1h=300_000, **common),
        step("nosplit", 0, **common),
        step("codex", 0, provider="codex", model="gpt-5.4", prefix=200_000, append=M,
             output=10_000, events=[ev("text", 1)]),
    ]  # fmt: skip


def test_cache_write_tiers_priced_at_their_own_rates(tmp_path):
    con = trace_db(tmp_path, _tier_rows())
    got = _costs(con)
    s = got["claude:split"]
    # W = 900k: 600k 5-minute, 300k 1-hour
    assert (s["cache_write"], s["cache_write_5m"], s["cache_write_1h"]) == (
        900_000,
        600_000,
        300_000,
    )
    # input 100k×5 = 0.5; 5m 600k×6.25 = 3.75; 1h 300k×10 = 3.0; prefix 200k×0.5 = 0.1;
    # output 10k×25 = 0.25; total 7.6
    assert s["cost_input"] == pytest.approx(0.5)
    assert s["cost_write_5m"] == pytest.approx(3.75)
    assert s["cost_write_1h"] == pytest.approx(3.0)
    assert s["cost_append"] == pytest.approx(7.25)
    assert s["cost_total"] == pytest.approx(7.6)
    assert s["price_match"] == MATCH_EXACT
    # genai-prices' own calculation of the same usage (its input counts every input token)
    assert s["cost_total"] == pytest.approx(
        _genai_total("claude-opus-4-7", "anthropic", T0, input_tokens=1_200_000,
                     cache_write_tokens=900_000, cache_write_1h_tokens=300_000,
                     cache_read_tokens=200_000, output_tokens=10_000)
    )  # fmt: skip
    # no split in the log: every write is a 5-minute write: 900k×6.25 = 5.625
    n = got["claude:nosplit"]
    assert (n["cache_write_5m"], n["cache_write_1h"]) == (900_000, 0)
    assert n["cost_append"] == pytest.approx(0.5 + 5.625)
    # Codex: no cache-creation field, append at input: gpt-5.4 (2.5 / read 0.25 / out 15),
    # context 1.2 M > 272k tier → 5 / 0.5 / 22.5: 1 M×5 + 200k×0.5 + 10k×22.5 = 5.325
    c = got["codex:codex"]
    assert (c["cache_write"], c["cost_write_5m"], c["cost_write_1h"]) == (0, 0, 0)
    assert c["cost_total"] == pytest.approx(5 + 0.1 + 0.225)
    assert c["cost_total"] == pytest.approx(
        _genai_total("gpt-5.4", "openai", T0, input_tokens=1_200_000,
                     cache_read_tokens=200_000, output_tokens=10_000)
    )  # fmt: skip
    cov = price_coverage(con)
    assert (cov["cache_write_5m_tokens"], cov["cache_write_1h_tokens"]) == (600_000, 300_000)
    assert cov["cache_write_unsplit_tokens"] == 900_000
    assert cov["cache_write_tokens"] == 1_800_000


def test_table_without_1h_price_bills_1h_writes_at_5m(tmp_path):
    # The study table has no 1-hour price: the reference's formula, W × 5-minute write
    table = PriceTable([Price("claude", "Opus", "claude-opus-4-7", 5.0, 6.25, 0.5, 25.0)])
    split = _costs(trace_db(tmp_path, _tier_rows()[:1], table))["claude:split"]
    assert split["cost_append"] == pytest.approx(0.5 + 900_000 * 6.25 / M)
    with_1h = PriceTable(
        [Price("claude", "Opus", "claude-opus-4-7", 5.0, 6.25, 0.5, 25.0, cache_write_1h=10.0)]
    )
    (tmp_path / "b").mkdir()
    split = _costs(trace_db(tmp_path / "b", _tier_rows()[:1], with_1h))["claude:split"]
    assert split["cost_append"] == pytest.approx(0.5 + 3.75 + 3.0)


# --- historic prices and context tiers -------------------------------------------------------


def test_price_in_force_at_the_step_and_context_tiers(tmp_path):
    # claude-opus-4-6: until 2026-03-12 a >200k-token context pays 10 / 12.5 / 1 / 37.5
    # (base 5 / 6.25 / 0.5 / 25); from 2026-03-13 the flat 5 / 6.25 / 0.5 / 25.
    change = datetime(2026, 3, 13, tzinfo=UTC)
    after = (change - T0).total_seconds() + 3600  # 01:00 UTC on the day of the change
    before = (change - T0).total_seconds() - 3600  # 23:00 UTC the day before
    big = dict(model="claude-opus-4-6", prefix=200_000, append=100_000, output=10_000)
    rows = [
        step("big_before", 0, events=[ev("text", before)], **big),
        step("big_after", 0, events=[ev("text", after)], **big),
        step("small_before", 0, model="claude-opus-4-6", prefix=100_000, append=100_000,
             output=10_000, events=[ev("text", before)]),
        # exactly 200 000 input tokens: not above the tier start → base price
        step("edge", 0, model="claude-opus-4-6", prefix=100_000, append=100_000,
             events=[ev("text", 0)]),
        step("edge1", 0, model="claude-opus-4-6", prefix=100_001, append=100_000,
             events=[ev("text", 0)]),
    ]  # fmt: skip
    got = _costs(trace_db(tmp_path, rows))
    # before, 300k context: 100k×10 + 200k×1 + 10k×37.5 = 1.0 + 0.2 + 0.375
    assert got["claude:big_before"]["cost_total"] == pytest.approx(1.575)
    # after the change: 100k×5 + 200k×0.5 + 10k×25 = 0.5 + 0.1 + 0.25
    assert got["claude:big_after"]["cost_total"] == pytest.approx(0.85)
    # before, 200k context: base 100k×5 + 100k×0.5 + 10k×25 = 0.5 + 0.05 + 0.25
    assert got["claude:small_before"]["cost_total"] == pytest.approx(0.8)
    assert got["claude:edge"]["cost_total"] == pytest.approx(100_000 * 5 / M + 100_000 * 0.5 / M)
    assert got["claude:edge1"]["cost_total"] == pytest.approx(100_000 * 10 / M + 100_001 * 1 / M)
    for name, seconds in (("big_before", before), ("big_after", after)):
        at = T0 + timedelta(seconds=seconds)
        assert got[f"claude:{name}"]["cost_total"] == pytest.approx(
            _genai_total("claude-opus-4-6", "anthropic", at, input_tokens=300_000,
                         cache_read_tokens=200_000, output_tokens=10_000)
        )  # fmt: skip


# --- the default source knows the real models --------------------------------------------------

ISSUE_MODELS = [
    ("claude", "claude-sonnet-4-5"),
    ("claude", "claude-sonnet-4-5-20250929"),
    ("claude", "claude-sonnet-4-20250514"),
    ("claude", "claude-opus-4-7"),
    ("claude", "claude-opus-4-8"),
    ("claude", "claude-haiku-4-5"),
    ("claude", "claude-haiku-4-5-20251001"),
    ("claude", "claude-opus-4-6"),
    ("codex", "gpt-5-codex"),
    ("codex", "gpt-5.1-codex-max"),
    ("codex", "gpt-5.2-codex"),
    ("codex", "gpt-5.3-codex"),
    ("codex", "gpt-5.4"),
    ("codex", "gpt-5.5"),
]


@pytest.mark.parametrize(("provider", "model"), ISSUE_MODELS)
def test_default_source_prices_the_real_models_exactly(provider, model):
    bands = GenaiPrices().bands(provider, model)
    assert bands, f"{model} unpriced"
    assert {b.match for b in bands} == {MATCH_EXACT}
    assert all(b.rates.input > 0 and b.rates.output > 0 for b in bands)


def test_default_source_fallback_and_unpriced():
    source = GenaiPrices()
    # unknown to genai-prices → its family's study model: gpt-5 → gpt-5.5, opus → opus-4-8
    spark = source.bands("codex", "gpt-5.3-codex-spark")
    assert {(b.match, b.group) for b in spark} == {(MATCH_FALLBACK, "gpt-5.5")}
    opus = source.bands("claude", "claude-opus-9-turbo")
    assert {(b.match, b.group) for b in opus} == {(MATCH_FALLBACK, "claude-opus-4-8")}
    assert source.bands("claude", "<synthetic>") == []
    assert source.bands("codex", "mystery-model") == []
    # the real models' rates: sonnet 4.5 = 3 / 3.75 / 6 (1h) / 0.3 / 15 below 200k tokens
    base = next(b for b in source.bands("claude", "claude-sonnet-4-5") if b.context_above is None)
    assert base.rates.resolved() == (3.0, 3.75, 6.0, 0.3, 15.0)
    # gpt-5-codex is priced as gpt-5: 1.25 / – / 0.125 / 10 (writes at input)
    (codex,) = source.bands("codex", "gpt-5-codex")
    assert codex.rates.resolved() == (1.25, 1.25, 1.25, 0.125, 10.0)


# --- the study table: the reference's lookup (amendments §14.7) ---------------------------------


def test_study_lookup_exact_family_unpriced():
    study = study_table()

    def look(provider: str, model: str):
        bands = study.bands(provider, model)
        return (bands[0].match, bands[0].group, bands[0].rates.resolved()) if bands else None

    opus = (5.0, 6.25, 6.25, 0.5, 25.0)
    assert look("claude", "claude-opus-4-7") == (MATCH_EXACT, "Opus 4.6–4.8", opus)
    # exact keys are provider:model: a dated name is not the key → family fallback
    assert look("claude", "claude-opus-4-7-20260101") == (MATCH_FALLBACK, "Opus family", opus)
    assert look("claude", "claude-haiku-4-5-20251001") == (
        MATCH_FALLBACK, "Haiku family", (1.0, 1.25, 1.25, 0.1, 5.0)
    )  # fmt: skip
    assert look("claude", "claude-sonnet-4-5")[1] == "Sonnet family"
    # codex:gpt-5 is its own row (1.25 / 0.125 / 10); the gpt-5 family is 5 / 0.5 / 30
    assert look("codex", "gpt-5") == (MATCH_EXACT, "GPT-5", (1.25, 1.25, 1.25, 0.125, 10.0))
    assert look("codex", "gpt-5.3-codex") == (
        MATCH_FALLBACK, "GPT-5 family", (5.0, 5.0, 5.0, 0.5, 30.0)
    )  # fmt: skip
    # any provider for the families; exact keys need the provider
    assert look("claude", "gpt-5") == (MATCH_FALLBACK, "GPT-5 family", (5.0, 5.0, 5.0, 0.5, 30.0))
    # family order opus, sonnet, haiku, gpt-5: the first substring wins, case-insensitive
    assert look("x", "My-SONNET-over-OPUS")[1] == "Opus family"
    assert look("codex", "mystery") is None
    assert family_of("GPT-5-mini") == "gpt-5"


def test_study_formula_w_clamp(tmp_path):
    # Study prices (Opus row: 5 / 6.25 / 0.5 / 25): W = clamp(creation or 0, 0, append)
    rows = [
        # creation 1500 > append 1000 (not a consistent log): W = 1000 → 1000×6.25
        step("over", 0, append=1000, uncached=0, cache_creation=1500),
        # no raw split: W = 0 → append 1000×5
        step("none", 0, append=1000, uncached=None, cache_creation=None),
        # split 5m/1h known: the study table bills both at 6.25: 800×6.25 + 200×5
        step("split", 0, append=1000, uncached=200, cache_creation=800, cache_5m=300,
             cache_1h=500),
        step("unpriced", 0, model="mystery", append=1000),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows, study_table())
    got = _costs(con)
    assert got["claude:over"]["cost_append"] == pytest.approx(1000 * 6.25 / M)
    assert got["claude:none"]["cost_append"] == pytest.approx(1000 * 5 / M)
    assert got["claude:split"]["cost_append"] == pytest.approx((800 * 6.25 + 200 * 5) / M)
    assert got["claude:unpriced"]["cost_total"] is None
    assert got["claude:unpriced"]["price_match"] is None
    cov = price_coverage(con)
    assert (cov["priced_exact"], cov["priced_fallback"], cov["unpriced_steps"]) == (3, 0, 1)
    assert cov["source"].startswith("study")


def test_table13_counterfactual_moves_writes_first(tmp_path):
    # §14.7: W' = min(max(0, W − moved), append'). Study Opus prices 5 / 6.25 / 0.5 / 25.
    # s0: C = 12 000; s1 (user): C = 14 000 → growth 2000: append 14 000 → 2000, moved 12 000;
    # W = 13 000 (1000 uncached) → W' = min(13 000 − 12 000, 2000) = 1000.
    rows = [
        step("s", 0, prefix=0, append=12_000, first="user_message"),
        step("s", 1, prefix=0, append=14_000, uncached=1000, cache_creation=13_000,
             first="user_message"),
    ]  # fmt: skip
    from tracelab.metrics.cache import retained_cache

    con = trace_db(tmp_path, rows, study_table())
    claude = next(r for r in retained_cache(con) if r["provider"] == "claude")
    s0 = 12_000 * 5 / M
    s1_before = (1000 * 5 + 13_000 * 6.25) / M
    # after: (2000 − 1000)×5 + 1000×6.25 + 12 000 moved × 0.5 = 5000 + 6250 + 6000
    s1_after = (5000 + 6250 + 6000) / M
    assert claude["cost_before"] == pytest.approx(s0 + s1_before)
    assert claude["cost_after"] == pytest.approx(s0 + s1_after)


# --- price files and the resolver ----------------------------------------------------------------


def test_resolve_source_names_and_files(tmp_path):
    assert isinstance(resolve_source(None), GenaiPrices)
    assert isinstance(resolve_source("genai-prices"), GenaiPrices)
    assert resolve_source("study").label.startswith("study")
    f = tmp_path / "p.csv"
    f.write_text(
        "provider,model_group,model_glob,input,cache_write_5m,cache_write_1h,cache_read,output\n"
        "claude,Any Claude,claude-*,2,2.5,4,0.2,10\n"
    )
    table = resolve_source(f)
    (band,) = table.bands("claude", "claude-foo")
    assert (band.match, band.rates.resolved()) == (MATCH_EXACT, (2.0, 2.5, 4.0, 0.2, 10.0))
    assert table.bands("codex", "claude-foo") == []  # provider must match; no family rows
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,model_group,model_glob,input,cache_write_5m,cache_read,output\n"
                   "claude,X,x,abc,,0.1,1\n")  # fmt: skip
    with pytest.raises(PriceTableError, match="not a price"):
        load_prices(bad)
    bad.write_text("provider,model_group,model_glob,match,input,cache_write_5m,cache_read,output\n"
                   "claude,X,x,sometimes,1,,0.1,1\n")  # fmt: skip
    with pytest.raises(PriceTableError, match="exact or family"):
        load_prices(bad)


def test_cli_bad_price_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,input\nclaude,1\n")
    result = CliRunner().invoke(app, ["summary", "-i", str(PUBLIC_TRACE), "--prices", str(bad)])
    assert result.exit_code == 2
    assert "error: price table:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not PUBLIC_TRACE.is_file(), reason="shared fixtures absent")
@pytest.mark.parametrize("prices", ["study", None])
def test_public_dataset_every_step_priced(tmp_path, monkeypatch, prices):
    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(tmp_path / "cache"))
    args = ["summary", "-i", str(PUBLIC_TRACE), "--json"]
    result = CliRunner().invoke(app, args + (["--prices", prices] if prices else []))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with gzip.open(PUBLIC_TRACE, "rt") as fh:
        steps = sum(1 for line in fh if line.strip())
    cov = summary["prices"]
    assert (cov["steps"], cov["priced_exact"], cov["unpriced_steps"]) == (steps, steps, 0)
    total = summary["headline"]["total"]
    assert total["unpriced_steps"] == 0
    assert isinstance(total["cost"], float) and total["cost"] > 0


def test_default_source_cache_round_trip_and_bad_cache():
    # The resolved bands are kept per genai-prices version in the user cache dir (the test's
    # own, see conftest): a second source reads them back unchanged, and a corrupt cache file
    # only means resolving again.
    first = GenaiPrices()
    fresh = {m: first.bands(p, m) for p, m in ISSUE_MODELS}
    first.save()
    assert first._path.is_file()
    again = GenaiPrices()
    assert {m: again.bands(p, m) for p, m in ISSUE_MODELS} == fresh
    assert not again._dirty  # every model came from the cache
    first._path.write_bytes(b"{not json")
    assert GenaiPrices().bands("claude", "claude-opus-4-6") == fresh["claude-opus-4-6"]
    # valid JSON of the wrong shape: resolved again too
    first._path.write_bytes(b'{"claude\\u001fclaude-opus-4-6": [{"match": 1}]}')
    assert GenaiPrices().bands("claude", "claude-opus-4-6") == fresh["claude-opus-4-6"]
