"""The reference's `overview_summary --json` figures: reproduced on the public dataset (every
figure of `reference-overview-summary.json`), and worked out by hand on a small trace."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES
from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.metrics.reference_overview import MERGED, reference_overview
from tracelab.metrics.session import prepare_session

PUBLIC = FIXTURES / "public-dataset"
REFERENCE = PUBLIC / "reference-overview-summary.json"


def _is_definition(path: str) -> bool:
    """Definition texts (ours are our words) are not compared: `*definition*` keys and the
    reduction bucket descriptions."""
    last = path.rsplit(".", 1)[-1]
    return "definition" in last or ".total_input_growth_reduction_buckets." in path


def _mismatches(ref: Any, ours: Any, path: str = "") -> list[str]:
    """Every difference between the reference's figures and ours: same keys; counts (ints)
    exactly and as ints; floats to 1e-9 relative; nulls as nulls; other strings exactly."""
    if isinstance(ref, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected an object, got {ours!r}"]
        out = []
        if set(ref) != set(ours):
            out.append(f"{path}: keys differ: {sorted(set(ref) ^ set(ours))}")
        for key, value in ref.items():
            if key in ours:
                out.extend(_mismatches(value, ours[key], f"{path}.{key}"))
        return out
    if _is_definition(path):
        return [] if isinstance(ours, str) and ours else [f"{path}: no definition text"]
    if ref is None or isinstance(ref, str):
        return [] if ours == ref else [f"{path}: {ours!r} != reference {ref!r}"]
    if isinstance(ref, int) and not isinstance(ref, bool):
        ok = isinstance(ours, int) and not isinstance(ours, bool) and ours == ref
        return [] if ok else [f"{path}: {ours!r} != reference count {ref!r}"]
    ok = isinstance(ours, (int, float)) and math.isclose(ours, ref, rel_tol=1e-9, abs_tol=0.0)
    return [] if ok else [f"{path}: {ours!r} != reference {ref!r}"]


def test_the_comparison_catches_differences():
    """The comparison itself fails on a wrong count, a float off by more than 1e-9, a number
    where the reference has null, a float for a count, and a missing key."""
    ref = {"a": 3, "b": 0.5, "c": None, "d": {"e": 1}, "f_definition": "x"}
    assert _mismatches(ref, {"a": 3, "b": 0.5 * (1 + 1e-12), "c": None, "d": {"e": 1},
                             "f_definition": "ours"}) == []  # fmt: skip
    assert _mismatches(ref, {**ref, "a": 4})
    assert _mismatches(ref, {**ref, "a": 3.0})
    assert _mismatches(ref, {**ref, "b": 0.5 * (1 + 1e-8)})
    assert _mismatches(ref, {**ref, "c": 0})
    assert _mismatches(ref, {**ref, "d": {}})


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the public-dataset fixtures are absent")
@pytest.mark.parametrize(
    ("option", "name"),
    [
        ("-i", "public-trace.jsonl.gz"),
        ("--db", "public-schema.duckdb"),
        ("--db", "public-schema-no-event-index.duckdb"),
    ],
)
def test_summary_json_reproduces_the_reference_overview(option: str, name: str):
    """`tracelab summary --json` on the public dataset has every figure of the reference's
    `overview_summary --json` for the merged, Claude and Codex blocks."""
    result = CliRunner().invoke(app, ["summary", option, str(PUBLIC / name), "--json"])
    assert result.exit_code == 0, result.output
    ours = orjson.loads(result.stdout)["reference_overview"]
    reference = orjson.loads(REFERENCE.read_bytes())
    assert list(ours) == list(reference) == [MERGED, "claude", "codex"]
    assert _mismatches(reference, ours) == []


# --- by hand ----------------------------------------------------------------------------------


def _rows() -> list[dict[str, Any]]:
    """Codex session `a` (5 steps) and Claude session `b` (1 step). Times in seconds after T0."""
    return [
        # a0: user; C = 100k; reasoning 20 of 50 (V = 30); input 0 → reasoning 2 → text 4
        step("a", 0, provider="codex", prefix=0, append=100_000, output=50, reasoning=20,
             first="user_message",
             events=[ev("user_message", 0), ev("reasoning", 2), ev("text", 4)]),
        # a1: tool; C = 100k (growth 0); no reasoning tokens; gen 10 → 11
        step("a", 1, provider="codex", prefix=100_000, append=0, output=10, reasoning=0,
             first="tool_result", events=[ev("tool_result", 10), ev("text", 11)]),
        # a2: user after an 89 s wait; C = 36k: growth −64,000; reasoning 10 of 40 (V = 30);
        # input 100 → reasoning 103 → tool_call 105; a call with internal latency 1.5 s
        step("a", 2, provider="codex", prefix=30_000, append=6_000, output=40, reasoning=10,
             first="user_message",
             events=[ev("user_message", 100), ev("reasoning", 103),
                     ev("tool_call", 105, tool_call_id="c1")],
             tools=[tool("c1", "exec_command", emitted=105, result=107, internal_ms=1500)]),
        # a3: tool; C = 36,500 (growth +500)
        step("a", 3, provider="codex", prefix=36_000, append=500, output=5, first="tool_result",
             events=[ev("tool_result", 107, tool_call_id="c1"), ev("text", 108)]),
        # a4: user; waits 200 − 108 = 92 s and 3 s (two messages); C = 36k (growth −500)
        step("a", 4, provider="codex", prefix=35_000, append=1_000, output=70,
             first="user_message",
             events=[ev("user_message", 200), ev("user_message", 203), ev("text", 210)]),
        # b0: Claude, session-first user step; one call without any latency, one wall-only
        step("b", 0, prefix=0, append=2_000, output=100, first="user_message",
             events=[ev("user_message", 50), ev("text", 52)],
             tools=[tool("t1", "Bash", emitted=51, result=None),
                    tool("t2", "Read", emitted=51, result=51.5, index=1)]),
    ]  # fmt: skip


def test_reference_overview_by_hand(tmp_path: Path):
    con = trace_db(tmp_path, _rows())
    blocks = reference_overview(con)
    assert list(blocks) == [MERGED, "claude", "codex"]
    codex, claude, merged = blocks["codex"], blocks["claude"], blocks[MERGED]

    assert merged["scope"] == {
        "total_sessions": 2,
        "distinct_users": 1,
        "llm_rounds_total": 6,
        "rounds_with_visible_user_message": 4,  # a0, a2, a4, b0
        "rounds_started_from_tool_result": 2,  # a1, a3
        "earliest_observed_timestamp": "2026-01-05T10:00:00Z",  # a0's user message
        "latest_observed_timestamp": "2026-01-05T10:03:30Z",  # a4's text at 210 s
    }
    assert merged["rounds_by_provider"] == {"claude": 1, "codex": 5}
    assert merged["rounds_by_model"] == {"gpt-5.5": 5, "claude-opus-4-7": 1}

    inp = merged["tokens"]["input"]
    # user steps' Σ prefix / Σ C = (0 + 30,000 + 35,000 + 0) / (100,000 + 36,000 + 36,000 + 2,000)
    assert inp["prefix_hit_rate_when_started_with_user_message"] == pytest.approx(65 / 174)
    # tool steps: (100,000 + 36,000) / (100,000 + 36,500)
    assert inp["prefix_hit_rate_when_started_with_tool_result"] == pytest.approx(136 / 136.5)
    # user steps' append 100,000 + 6,000 + 1,000 + 2,000 over 4 steps
    assert inp["total_new_input_tokens_when_started_with_user_message"] == 109_000
    assert inp["average_new_input_tokens_when_started_with_user_message"] == 27_250
    # only a2 and a4 (user) have a predecessor: deltas −64,000 and −500, clipped to 0
    assert inp["user_context_delta_rounds"] == 2
    assert inp["average_user_context_delta_tokens"] == 0.0
    assert inp["total_context_increase_tokens"] == 500  # a3's +500 is the only growth

    user = inp["total_input_growth_when_started_with_user_message"]
    # −64,000 is a reference *major* reduction (≥ 64,000) and −500 a micro one (≤ 1,024)
    assert (user["rounds"], user["negative_growth_rounds"]) == (2, 2)
    assert (user["micro_reduction_rounds"], user["ordinary_reduction_rounds"]) == (1, 0)
    assert user["major_reduction_rounds"] == 1 and user["major_reduction_share"] == 0.5
    assert user["total_raw_delta_tokens"] == -64_500 and user["total_reduction_tokens"] == 64_500
    assert user["median_raw_delta_tokens"] == -32_250.0
    # p10 = −64,000 + 0.1 × 63,500 (linear between the two deltas)
    assert user["p10_raw_delta_tokens"] == pytest.approx(-57_650.0)
    assert user["average_positive_growth_tokens"] is None  # no positive user growth
    assert user["max_reduction_tokens"] == 64_000
    tool_growth = inp["total_input_growth_when_started_with_tool_result"]
    # a1: 0 (zero), a3: +500; no reduction → the reduction figures are null, not 0
    assert tool_growth["zero_growth_rounds"] == 1 and tool_growth["positive_growth_share"] == 0.5
    assert tool_growth["average_clipped_growth_tokens"] == 250.0
    assert tool_growth["total_reduction_tokens"] is None
    assert tool_growth["average_reduction_tokens"] is None

    # Table 3 (metrics.session) reads 64k as 65,536: the same drop is *ordinary* there
    prepare_session(con)
    (change,) = con.execute("SELECT change FROM context_changes WHERE growth = -64000").fetchone()
    assert change == "ordinary"

    out = merged["tokens"]["output"]
    assert out["total_output_tokens_including_reasoning"] == 275  # 50+10+40+5+70+100
    # V = max(0, O − R): 30 + 10 + 30 + 5 + 70 + 100
    assert out["visible_or_structured_output_tokens_estimate"] == 245
    assert out["rounds_with_observed_reasoning"] == 2  # a0, a2 have reasoning events
    assert out["rounds_with_positive_reasoning_output_tokens"] == 2

    gen = merged["generation_timing"]
    # spans a0 4, a1 1, a2 5, a3 1, a4 7 (from the *latest* input, 203), b0 2 → 20 s
    assert gen["total_observable_generation_time_seconds"] == pytest.approx(20.0)
    assert gen["p50_observable_generation_time_seconds"] == pytest.approx(3.0)  # (2 + 4) / 2
    assert gen["average_normalized_decoding_speed_tokens_per_second"] == pytest.approx(275 / 20)
    # input → reasoning end: a0 2 s, a2 3 s
    assert gen["total_input_to_reasoning_end_time_seconds"] == pytest.approx(5.0)
    # waits 89, 92 and 3 s (b0's and a0's messages open their sessions: no wait)
    assert gen["rounds_with_user_message"] == 4
    assert gen["rounds_with_waiting_for_human_input_time"] == 3
    assert gen["total_waiting_for_human_input_seconds"] == pytest.approx(184.0)
    assert gen["median_waiting_for_human_input_seconds"] == pytest.approx(89.0)
    # p90 of 3, 89, 92: 89 + 0.8 × 3
    assert gen["p90_waiting_for_human_input_seconds"] == pytest.approx(91.4)
    tpot = gen["post_reasoning_tpot_estimate"]
    # a0: 30 visible tokens in 2 s (reasoning 2 → text 4); a2: 30 in 2 s (103 → 105)
    assert (tpot["rounds"], tpot["visible_or_structured_output_tokens"]) == (2, 60)
    assert tpot["average_decode_latency_seconds_per_token"] == pytest.approx(4 / 60)
    assert tpot["average_decode_speed_tokens_per_second"] == pytest.approx(15.0)
    ttft = gen["estimated_ttft_from_exact_reasoning_tokens"]
    # (2 + 3) s − (20 + 10) reasoning tokens × 1/15 s = 3 s over 2 steps
    assert ttft["estimated_total_seconds"] == pytest.approx(3.0)
    assert ttft["estimated_average_seconds"] == pytest.approx(1.5)

    tools = merged["tools"]
    assert (tools["total_tool_calls"], tools["rounds_with_tool_calls"]) == (3, 2)
    assert tools["tool_calls_per_visible_user_message_round"] == 0.75  # 3 calls / 4 steps
    lat = tools["effective_latency"]
    # c1: internal 1.5 s; t2: wall 0.5 s; t1: no latency
    assert lat["total_seconds"] == pytest.approx(2.0)
    assert (lat["tool_calls_with_latency"], lat["tool_calls_missing_latency"]) == (2, 1)
    assert lat["tool_calls_using_internal_latency"] == 1
    assert lat["tool_calls_using_wall_latency_fallback"] == 1
    assert lat["tool_calls_using_legacy_latency_fallback"] == 0

    # Claude has no reasoning tokens, no waits and no step with a predecessor: sums are 0,
    # averages and ratios null (the reference's conventions)
    c_gen = claude["generation_timing"]
    c_tpot = c_gen["post_reasoning_tpot_estimate"]
    assert c_tpot["rounds"] == 0 and c_tpot["post_reasoning_output_decode_time_seconds"] is None
    assert c_gen["estimated_ttft_from_exact_reasoning_tokens"]["reasoning_tokens"] == 0
    assert c_gen["estimated_ttft_from_exact_reasoning_tokens"]["estimated_total_seconds"] is None
    assert c_gen["total_waiting_for_human_input_seconds"] == 0
    assert c_gen["median_waiting_for_human_input_seconds"] is None
    c_user = claude["tokens"]["input"]["total_input_growth_when_started_with_user_message"]
    assert c_user["rounds"] == 0 and c_user["positive_growth_share"] is None
    c_inp = claude["tokens"]["input"]
    assert c_inp["rounds_started_with_tool_result_for_input_token_average"] == 0
    assert c_inp["prefix_hit_rate_when_started_with_tool_result"] is None
    assert claude["rounds_by_provider"] == {"claude": 1}
    assert codex["tools"]["effective_latency"]["p50_seconds"] == pytest.approx(1.5)


def test_reference_overview_of_an_empty_trace(tmp_path: Path):
    blocks = reference_overview(trace_db(tmp_path, []))
    assert list(blocks) == [MERGED]
    merged = blocks[MERGED]
    assert merged["scope"]["llm_rounds_total"] == 0
    assert merged["scope"]["earliest_observed_timestamp"] is None
    assert merged["tokens"]["input"]["prefix_hit_rate"] is None
    assert merged["tools"]["tool_calls_per_visible_user_message_round"] is None
    assert merged["rounds_by_model"] == {}
