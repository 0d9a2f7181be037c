"""`tracelab summary`: the facts gathered from the metric definitions, worked out by hand."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.io import write_rows
from tracelab.summary import FACTS, summary_facts


def _rows():
    return [
        # request 1 of s: user step + 2 tool steps (3 steps, 2 tool calls)
        step(
            "s",
            0,
            prefix=0,
            append=1000,
            output=100,
            first="user_message",
            events=[ev("user_message", 0), ev("tool_call", 10, tool_call_id="a")],
            tools=[tool("a", "Bash", emitted=10, result=12)],
        ),
        step(
            "s",
            1,
            prefix=1000,
            append=200,
            output=100,
            first="tool_result",
            events=[ev("tool_result", 12, tool_call_id="a"), ev("tool_call", 20, tool_call_id="b")],
            tools=[tool("b", "Read", emitted=20, result=140)],
        ),
        step(
            "s",
            2,
            prefix=1200,
            append=300,
            output=100,
            first="tool_result",
            events=[ev("tool_result", 140, tool_call_id="b"), ev("text", 150)],
        ),
        # request 2: one user step, no tools
        step(
            "s",
            3,
            prefix=1500,
            append=400,
            output=100,
            first="user_message",
            events=[ev("user_message", 300), ev("text", 330)],
        ),
    ]


def test_summary_facts_by_hand(tmp_path):
    facts = summary_facts(trace_db(tmp_path, _rows()))
    assert facts["groups"] == ["claude", "total"]
    f = facts["facts"]["claude"]
    assert f == facts["facts"]["total"] | {}  # one provider: total is the same
    # 2 requests: 3 + 1 steps → 2.0 per request; 2 + 0 tool calls → 1.0
    assert f["steps_per_request"] == 2.0 and f["tool_calls_per_request"] == 1.0
    # response times: request 1 = 0 → 150 s; request 2 = 300 → 330 s = 30 s
    assert f["request_time_avg_ms"] == 90_000.0
    # p90 (linear interpolation of 30 s and 150 s): 30 + 0.9 × 120 = 138 s
    assert f["request_time_p90_ms"] == pytest.approx(138_000.0)
    # prefix 0, 1000, 1200, 1500 → median (1000 + 1200) / 2 = 1100
    assert f["median_prefix_tokens"] == 1100.0
    # hit rate = Σprefix / Σ(prefix + append) = 3700 / (3700 + 1900)
    assert f["prefix_hit_rate"] == pytest.approx(3700 / 5600)
    # tool latencies 2 s and 120 s: the ≥ 1 min call is 1 of 2 calls and 120/122 of the time
    assert f["long_call_share"] == 0.5
    assert f["long_call_time_share"] == pytest.approx(120 / 122)
    # opus-4-7 prices (5 / 0.5 / 25 per M): append 1900 × 5 = 9500, prefix 3700 × 0.5 = 1850,
    # output 400 × 25 = 10000 (all /1e6) → shares of 21350
    assert f["cost_share_append"] == pytest.approx(9500 / 21350)
    assert f["cost_share_prefix"] == pytest.approx(1850 / 21350)
    assert f["top3_tool_share"] == 1.0 and f["top3_tools"] == "Bash, Read"
    assert set(f) == {k for k, _, _ in FACTS} | {"top3_tools"}


def test_summary_command_text_and_json(tmp_path):
    trace = tmp_path / "t.jsonl"
    write_rows(_rows(), trace)
    runner = CliRunner()
    text = runner.invoke(app, ["summary", "-i", str(trace)])
    assert text.exit_code == 0, text.output
    assert "Key facts" in text.output and "prefix cache hit rate" in text.output
    got = runner.invoke(app, ["summary", "-i", str(trace), "--json"])
    assert got.exit_code == 0
    doc = orjson.loads(got.stdout)
    assert doc["headline"]["total"]["steps"] == 4
    assert doc["facts"]["total"]["steps_per_request"] == 2.0


def test_summary_of_an_empty_trace(tmp_path):
    facts = summary_facts(trace_db(tmp_path, []))
    assert facts["groups"] == ["total"]
    assert facts["facts"]["total"]["prefix_hit_rate"] is None
