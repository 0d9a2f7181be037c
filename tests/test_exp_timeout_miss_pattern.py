"""`prefix_cache/timeout_miss_pattern` (amendments §5): the seeded schematic, checked by hand."""

from __future__ import annotations

from itertools import pairwise

import matplotlib.pyplot as plt  # Agg: set by tracelab.figures.style
import orjson
import pytest
from typer.testing import CliRunner

from tracebuilder import step, trace_db
from tracelab.cli import app
from tracelab.experiments.prefix_cache.timeout_miss_pattern import (
    TOOL_INCREMENT,
    USER_INCREMENT,
    timeout_miss_pattern,
)
from tracelab.io import write_rows


@pytest.fixture(scope="module")
def result():
    return timeout_miss_pattern.compute(None)


def _steps(result) -> list[dict]:
    return result.table("timeout_miss_steps").records()


def test_bursts_and_the_miss_after_the_second_break(result):
    recs = _steps(result)
    # 1 user + 17 tools, 1 user + 18 tools, 1 user (the miss) + 19 tools = 57 steps
    assert len(recs) == 57
    assert [r["burst"] for r in recs] == [1] * 18 + [2] * 19 + [3] * 20
    assert [i + 1 for i, r in enumerate(recs) if r["kind"] == "user"] == [1, 19, 38]
    breaks = result.table("timeout_miss_breaks").records()
    assert [(b["x"], b["next step"]) for b in breaks] == [(3.1, 19), (4.8, 38)]
    miss = recs[37]  # the step right after the x-break at 4.8
    assert [r["step"] for r in recs if r["cache"] == "miss"] == [38]
    # a miss: no prefix, the previous total plus its own user increment appended whole
    assert miss["prefix"] == 0
    assert miss["append"] == miss["total"] == recs[36]["total"] + miss["increment"]
    # the step right after the x-break at 3.1 is the 2nd user step, and it hits
    assert recs[18]["kind"] == "user" and recs[18]["prefix"] == recs[17]["total"]


def test_hits_chain_the_totals_from_6500(result):
    recs = _steps(result)
    previous = 6_500  # the total the series starts at
    for r in recs:
        lo, hi = USER_INCREMENT if r["kind"] == "user" else TOOL_INCREMENT
        assert lo <= r["increment"] <= hi  # bounds inclusive
        assert r["total"] == previous + r["increment"]
        if r["cache"] == "hit":
            assert (r["prefix"], r["append"]) == (previous, r["increment"])
        previous = r["total"]
    # the first draws of default_rng(20250613), one per step: 3266 (user), 1347, 1995 (tools):
    # step 1 = 6500 + 3266 = 9766, step 2's prefix 9766 and total 9766 + 1347 = 11113
    assert [r["increment"] for r in recs[:3]] == [3_266, 1_347, 1_995]
    assert (recs[0]["total"], recs[1]["prefix"], recs[1]["total"]) == (9_766, 9_766, 11_113)
    # the miss re-sends 77,820 (step 37's total) + 4,006 (its user increment) = 81,826
    assert (recs[36]["total"], recs[37]["increment"], recs[37]["append"]) == (
        77_820,
        4_006,
        81_826,
    )


def test_step_positions_keep_one_spacing_around_the_breaks(result):
    xs = [r["x"] for r in _steps(result)]
    # d = (4.8 − 3.1) / 20 = 0.085: step 18 at 3.1 − d, step 19 at 3.1 + d, step 38 at 4.8 + d;
    # the first step 18 spacings before the break (1.57), the last 20 after the 2nd (6.5)
    assert xs[17] == pytest.approx(3.015) and xs[18] == pytest.approx(3.185)
    assert xs[36] == pytest.approx(4.715) and xs[37] == pytest.approx(4.885)
    assert (xs[0], xs[-1]) == (pytest.approx(1.57), pytest.approx(6.5))
    for burst in (xs[:18], xs[18:37], xs[37:]):  # one spacing within every burst
        assert all(b - a == pytest.approx(0.085) for a, b in pairwise(burst))


def test_the_same_on_any_trace_and_a_self_contained_figure(result, tmp_path):
    con = trace_db(tmp_path, [step("a", 0, prefix=10, append=5, output=1)])
    again = timeout_miss_pattern.compute(con)
    assert again.tables[0].rows == result.tables[0].rows and again.text == result.text
    # 56 hits average (Σ increments − the miss's 4,006) / 56; the miss appends 81,826
    assert "Step 38, the user's return after the timeout" in result.text
    assert "prefills all 81,826 tokens again" in result.text
    figures = timeout_miss_pattern.plot(result)
    assert [f.name for f in figures] == ["timeout_miss_pattern"]
    assert figures[0].data is result.table("timeout_miss_steps")
    chart = orjson.loads(figures[0].interactive_json())
    prefix, append = chart["data"]
    assert prefix["y"][37] == 0 and append["y"][37] == 81_826
    plt.close("all")


def test_analyze_runs_it_by_id_and_by_category(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACELAB_FIGURE_WORKERS", "0")
    trace = tmp_path / "t.jsonl"
    write_rows([step("a", 0, prefix=10, append=5, output=1)], trace)
    runner = CliRunner()
    # by id with its figure; by category tables only (the category's other figures cost time)
    for only, figures in (
        ("prefix_cache/timeout_miss_pattern", []),
        ("prefix_cache", ["--no-figures"]),
    ):
        out = tmp_path / only.replace("/", "_")
        args = ["analyze", "-i", str(trace), "-o", str(out), "--only", only, *figures]
        got = runner.invoke(app, args)
        assert got.exit_code == 0, got.output
        folder = out / "prefix_cache" / "timeout_miss_pattern"
        for suffix in ("csv", "json", "md"):
            assert (folder / f"timeout_miss_steps.{suffix}").is_file()
        drawn = [(folder / f"timeout_miss_pattern.{s}").is_file() for s in ("png", "svg")]
        assert drawn == [not figures] * 2
        assert (folder / "timeout_miss_pattern.plotly.json").is_file() is not figures
        csv = (folder / "timeout_miss_steps.csv").read_text().splitlines()
        assert len(csv) == 58 and csv[38].startswith("38,3,4.885,user,miss,4006,0,81826,81826")
