"""Session and human-in-the-loop experiments (`metrics.session`, `experiments.session`,
`experiments.human_in_the_loop`): every expected value worked out by hand from the rows."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.experiments import human_in_the_loop as hitl
from tracelab.experiments.session.compaction import compaction
from tracelab.experiments.session.context_growth import context_growth
from tracelab.experiments.session.cost_distribution import cost_distribution
from tracelab.experiments.session.loop_counts import loop_counts
from tracelab.experiments.session.session_timeline import session_timeline
from tracelab.experiments.session.timing import timing
from tracelab.figures.style import render
from tracelab.metrics.session import MAJOR_DROP, prepare_session

ALL = [
    loop_counts,
    context_growth,
    compaction,
    cost_distribution,
    timing,
    session_timeline,
    hitl.human_wait_cdf,
    hitl.response_time,
]


def contexts(name: str, cs: list[int], provider: str = "claude", users: tuple[int, ...] = ()):
    """A session whose step k has total input cs[k] (all append); steps in `users` are
    user-initiated, the others tool-initiated."""
    return [
        step(name, k, append=c, provider=provider,
             first="user_message" if k in users else "tool_result")
        for k, c in enumerate(cs)
    ]  # fmt: skip


def row(table, **match):
    """The one record of `table` whose columns equal `match`."""
    found = [r for r in table.records() if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, table.records())
    return found[0]


def metric(table, name: str) -> dict:
    return row(table, metric=name)


# --- Compaction ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compaction_con(tmp_path_factory):
    rows = [
        # a: drop of exactly 65,536 (200,000 → 134,464) at the session peak; next step 140,000
        #    < 0.75 × 200,000 = 150,000 → compaction (tool-initiated)
        *contexts("a", [200_000, 134_464, 140_000]),
        # b: drop of 65,535 — one token short: an ordinary reduction, no compaction
        *contexts("b", [200_000, 134_465, 140_000]),
        # c: drop 200,000 → 100,000 but the session later peaks at 300,000:
        #    200,000 < 0.75 × 300,000 = 225,000 → major, no compaction
        *contexts("c", [200_000, 100_000, 110_000, 120_000, 130_000, 300_000]),
        # d3: rebound at step +3 to 150,000 = 0.75 × 200,000 (≥ counts) → no compaction
        *contexts("d3", [200_000, 50_000, 60_000, 70_000, 150_000]),
        # d4 (codex): rebound only at step +4 → compaction (tool-initiated)
        *contexts("d4", [200_000, 50_000, 60_000, 70_000, 80_000, 160_000], provider="codex"),
        # e: drop at the session's last step: no step follows → no compaction
        *contexts("e", [200_000, 50_000]),
        # u: compaction at a user-initiated step (200,000 → 20,000)
        *contexts("u", [200_000, 20_000, 30_000], users=(1,)),
        # m: two compactions (steps 2 and 7); 140,000 at step +3 stays below 150,000
        *contexts("m", [200_000, 10_000, 50_000, 100_000, 140_000, 200_000, 10_000, 20_000]),
    ]
    con = trace_db(tmp_path_factory.mktemp("compaction"), rows)
    prepare_session(con)
    return con


def test_compaction_flags_per_step(compaction_con):
    flagged = compaction_con.execute(
        "SELECT session_id, seq FROM context_changes WHERE is_compaction ORDER BY ALL"
    ).fetchall()
    assert flagged == [
        ("claude:a", 2),
        ("claude:m", 2),
        ("claude:m", 7),
        ("claude:u", 2),
        ("codex:d4", 2),
    ]
    changes = dict(
        compaction_con.execute(
            "SELECT session_id, change FROM context_changes WHERE seq = 2 "
            "AND session_id IN ('claude:a', 'claude:b', 'claude:c', 'claude:e')"
        ).fetchall()
    )
    # a: 65,536 is major (same ≥ threshold as a compaction); b: 65,535 is ordinary
    assert changes == {
        "claude:a": "major",
        "claude:b": "ordinary",
        "claude:c": "major",
        "claude:e": "major",
    }
    assert MAJOR_DROP == 65_536


def test_table4_compactions(compaction_con):
    result = compaction.compute(compaction_con)
    t4 = result.table("table4_compactions")
    assert t4.columns == ["metric", "claude", "codex", "total"]
    # claude sessions a, b, c, d3, e, u, m = 7; codex d4 = 1
    assert metric(t4, "Sessions")["total"] == 8
    # major: a, c, d3, e, u, m×2 = 7 (claude) + d4 = 8
    assert metric(t4, "Major reductions (drop ≥ 65,536)") == {
        "metric": "Major reductions (drop ≥ 65,536)", "claude": 7, "codex": 1, "total": 8,
    }  # fmt: skip
    # compactions: a, u, m×2 = 4 (claude) + d4 = 5; shares 4/7, 1/1, 5/8
    assert metric(t4, "Compactions")["total"] == 5
    share = metric(t4, "Compactions, % of major reductions")
    assert share["claude"] == pytest.approx(4 / 7) and share["total"] == pytest.approx(5 / 8)
    # sessions with ≥ 1: a, u, m (claude, 3 of 7), d4 (codex, 1 of 1) → 4 of 8
    assert metric(t4, "Sessions with ≥ 1 compaction")["total"] == 4
    assert metric(t4, "Sessions with ≥ 1 compaction, % of sessions")["claude"] == pytest.approx(
        3 / 7
    )
    # per session, all: claude 4/7, total 5/8; with ≥ 1: claude [1, 1, 2] → 4/3
    assert metric(t4, "Compactions per session, avg (all sessions)")["total"] == pytest.approx(
        5 / 8
    )
    assert metric(t4, "Compactions per session, avg (sessions with ≥ 1)")[
        "claude"
    ] == pytest.approx(4 / 3)
    # p90 of [1, 1, 2]: position 0.9 × 2 = 1.8 → 1 + 0.8 × (2 − 1) = 1.8
    # p90 of [1, 1, 1, 2] (total): position 0.9 × 3 = 2.7 → 1 + 0.7 × 1 = 1.7
    p90 = metric(t4, "Compactions per session, p90 (sessions with ≥ 1)")
    assert p90["claude"] == pytest.approx(1.8) and p90["total"] == pytest.approx(1.7)
    # triggers: user = u; tool = a, m×2, d4
    assert metric(t4, "User-initiated compactions")["total"] == 1
    assert metric(t4, "Tool-initiated compactions")["total"] == 4
    assert metric(t4, "Tool-initiated, % of compactions")["total"] == pytest.approx(4 / 5)
    events = result.table("compaction_events")
    assert row(events, session="claude:u")["trigger"] == "user"
    assert row(events, session="claude:a")["drop"] == 65_536
    assert "5 (62.5%) are compactions" in result.text


# --- Context growth --------------------------------------------------------------------------


def test_table3_growth_buckets(tmp_path):
    # growth per step: +100, 0, −1,024, −1,025, −65,535, −65,536
    cs = [200_000, 200_100, 200_100, 199_076, 198_051, 132_516, 66_980]
    con = trace_db(tmp_path, contexts("g", cs, users=(2, 4)))
    result = context_growth.compute(con)
    t3 = result.table("table3_context_growth")
    everything = row(t3, provider="claude", **{"steps of": "all"})
    # 6 steps with a predecessor: 1 positive, 1 zero (neither), 4 negative:
    # micro: −1,024 (≤ 1,024); ordinary: −1,025 and −65,535; major: −65,536
    assert everything["steps"] == 6
    assert everything["positive %"] == pytest.approx(1 / 6)
    assert everything["negative %"] == pytest.approx(4 / 6)
    assert everything["micro %"] == pytest.approx(1 / 6)
    assert everything["ordinary %"] == pytest.approx(2 / 6)
    assert everything["major %"] == pytest.approx(1 / 6)
    assert everything["avg positive growth"] == 100
    # user-initiated steps 2 (growth 0) and 4 (−1,025): 0 positive, 1 of 2 negative (ordinary)
    user = row(t3, provider="claude", **{"steps of": "user"})
    assert (user["steps"], user["positive %"], user["negative %"]) == (2, 0, 0.5)
    assert user["avg positive growth"] is None
    # tool-initiated: +100, −1,024, −65,535, −65,536 → 1/4 positive, 3/4 negative
    tool_row = row(t3, provider="claude", **{"steps of": "tool"})
    assert (tool_row["positive %"], tool_row["negative %"]) == (0.25, 0.75)
    hist = result.table("growth_histogram")
    # |growth| 100 → bin [64, 128); 1,024 → [1,024, 2,048); 65,535 → [32,768, 65,536)
    assert row(hist, direction="growth")["from tokens"] == 64
    reductions = {
        r["from tokens"]: r["steps"] for r in hist.records() if r["direction"] != "growth"
    }
    assert reductions == {1024: 2, 32768: 1, 65536: 1}
    assert row(hist, direction="growth")["share of steps"] == pytest.approx(1 / 6)


# --- Loop counts -----------------------------------------------------------------------------


def test_table2_loop_counts_steps_before_the_first_request(tmp_path):
    def tools(n: int, k: int) -> list:
        return [tool(f"t{k}-{i}", index=i) for i in range(n)]

    def events(first: str | None, k: int) -> list:
        """A user step's message precedes its output, so it opens a request (§14.2)."""
        at = 10 * k
        return [ev(first, at), ev("text", at + 1)] if first else [ev("text", at + 1)]

    kinds = ["tool_result", "user_message", "tool_result", "tool_result", "user_message",
             "tool_result"]  # fmt: skip
    calls = [1, 2, 0, 1, 0, 3]
    rows = [
        step("A", k, first=f, tools=tools(n, k), events=events(f, k))
        for k, (f, n) in enumerate(zip(kinds, calls, strict=True))
    ]
    # B (codex): user (1 call), tool (0), a step without input event (neither kind, 0 calls)
    rows += [
        step("B", 0, provider="codex", first="user_message", tools=tools(1, 10),
             events=events("user_message", 0)),
        step("B", 1, provider="codex", first="tool_result", events=events("tool_result", 1)),
        step("B", 2, provider="codex", first=None, events=events(None, 2)),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    result = loop_counts.compute(con)
    t2 = result.table("table2_loop_counts")

    def get(unit: str, name: str) -> dict:
        return row(t2, unit=unit, metric=name)

    # requests: A's first (tool) step precedes any request — it belongs to none (amendments
    # §14.2; it used to be "request 0", counted as a request) — then requests 1 and 2 → 2;
    # B has 1 → [2, 1]
    requests = get("Per session", "Requests")
    assert requests["avg"] == 1.5
    assert requests["p25"] == pytest.approx(1.25)  # 1 + 0.25 × (2 − 1)
    # per request user steps: A1 1, A2 1, B1 1 → avg 1
    assert get("Per request", "User-initiated steps")["avg"] == 1
    # per request tool steps: A1 2, A2 1, B1 1 (B's step without input is neither) → 4/3
    assert get("Per request", "Tool-initiated steps")["avg"] == pytest.approx(4 / 3)
    # per request tool calls: A1 2+0+1 = 3, A2 0+3 = 3, B1 1+0+0 = 1 → avg 7/3
    assert get("Per request", "Tool calls")["avg"] == pytest.approx(7 / 3)
    # per session (every step, the one before A's first request included): A 7, B 1 tool
    # calls; tool steps A 4, B 1
    assert get("Per session", "Tool calls")["avg"] == 4
    assert get("Per session", "Tool-initiated steps")["avg"] == 2.5
    # per step: 8 calls over 9 steps
    assert get("Per step", "Tool calls")["avg"] == pytest.approx(8 / 9)
    by_provider = result.table("table2_loop_counts_by_provider")
    assert row(by_provider, provider="codex", unit="Per session", metric="Requests")["avg"] == 1
    # tool-initiated share: 5 tool / (3 user + 5 tool)
    assert "62.5%" in result.text


# --- Cost ------------------------------------------------------------------------------------


def test_table5_cost_priced_steps_only(tmp_path):
    # claude-opus-4-7: $5 input, $0.50 cache read, $25 output per million tokens
    rows = [
        # X0: append 200k × $5 = $1.00; output 10k × $25 = $0.25 → $1.25
        step("X", 0, append=200_000, output=10_000, first="user_message",
             events=[ev("user_message", 0), ev("text", 1)]),  # opens a request (§14.2)
        # X1: prefix 1M × $0.50 = $0.50; output 40k × $25 = $1.00 → $1.50
        step("X", 1, prefix=1_000_000, output=40_000),
        # Y0: prefix 2M × $0.50 = $1.00
        step("Y", 0, prefix=2_000_000, first="user_message",
             events=[ev("user_message", 0), ev("text", 1)]),
        # Z0: an unpriced model: no cost, left out
        step("Z", 0, provider="codex", model="gpt-9-unknown", append=1_000_000),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    result = cost_distribution.compute(con)
    t5 = result.table("table5_cost")
    session_total = row(t5, unit="Per session", metric="Total")
    # sessions X $2.75, Y $1.00 (Z has no priced step)
    assert session_total["avg"] == pytest.approx(1.875)
    assert session_total["p50"] == pytest.approx(1.875)
    # steps $1.25, $1.50, $1.00
    assert row(t5, unit="Per step", metric="Total")["avg"] == pytest.approx(1.25)
    # total $3.75: append $1.00, prefix $1.50 (40%), output $1.25
    prefix = row(t5, unit="Per session", metric="Prefix tokens")
    assert prefix["% of cost"] == pytest.approx(0.4)
    assert row(t5, unit="Per step", metric="Append tokens")["% of cost"] == pytest.approx(1 / 3.75)
    # requests: X1 = X0 + X1 = $2.75, Y1 = $1.00
    assert row(t5, unit="Per request", metric="Total")["avg"] == pytest.approx(1.875)
    assert "of 4 steps 3 priced exactly, 0 by family fallback, 1 unpriced" in result.text
    assert not [r for r in result.table("table5_cost_by_provider").rows if r[0] == "codex"]


# --- Timing, human waits, response time ------------------------------------------------------


@pytest.fixture(scope="module")
def timing_con(tmp_path_factory):
    rows = [
        # request 1: user message at 0 s, generation 0 → 4 s, tool t1 (internal 5 s, wall 6 s)
        step("s", 0, first="user_message",
             events=[ev("user_message", 0), ev("text", 2), ev("tool_call", 4, tool_call_id="t1")],
             tools=[tool("t1", emitted=4, result=10, internal_ms=5000)]),
        # tool step: generation 10 → 13 s; t2 has a negative wall latency (clock skew): ignored
        step("s", 1, first="tool_result",
             events=[ev("tool_result", 10, tool_call_id="t1"), ev("text", 13)],
             tools=[tool("t2", emitted=13, result=12.5)]),
        # request 2: the user answers 2 h after the last event (13 s → 7,213 s); generation 2 s
        step("s", 2, first="user_message", events=[ev("user_message", 7213), ev("text", 7215)]),
    ]  # fmt: skip
    return trace_db(tmp_path_factory.mktemp("timing"), rows)


def test_table7_timing(timing_con):
    result = timing.compute(timing_con)
    t7 = result.table("table7_timing")

    def get(unit: str, name: str) -> dict:
        return row(t7, unit=unit, metric=name)

    # session: elapsed 0 → 7,215 s; human 7,200 s; generation 4 + 3 + 2 = 9 s; tool 5 s
    assert get("Per session", "Total elapsed")["avg"] == 7_215_000
    assert get("Per session", "Human thinking")["avg"] == 7_200_000
    assert get("Per session", "LLM generation")["avg"] == 9_000
    assert get("Per session", "Tool execution")["avg"] == 5_000
    # shares of the elapsed total 7,215 s (amendments §14.1; they were of the sum of the parts)
    assert get("Per session", "Human thinking")["% time"] == pytest.approx(7200 / 7215)
    # capped: the wait counts 1 h; total = 3,600 + 9 + 5 = 3,614 s (amendments §14.1; it was
    # the elapsed time minus what the cap removed, 7,215 − 3,600 = 3,615 s)
    capped = "Per session, human capped (1h)"
    assert get(capped, "Total")["avg"] == 3_614_000
    assert get(capped, "Human thinking")["% time"] == pytest.approx(3600 / 3614)
    # requests: 0 → 13 s (gen 7 s, tool 5 s) and 7,213 → 7,215 s (gen 2 s): shares of 15 s
    assert get("Per request", "Total (response time)")["avg"] == 7_500
    assert get("Per request", "Tool execution")["% time"] == pytest.approx(5 / 15)
    assert get("Per request", "LLM generation")["% time"] == pytest.approx(9 / 15)
    # steps: generation [4, 3, 2] s, tool [5, 0, 0] s → tool share 5 / 14
    assert get("Per step", "Tool execution")["avg"] == pytest.approx(5000 / 3)
    assert get("Per step", "Tool execution")["% time"] == pytest.approx(5 / 14)
    # individual latencies: one positive wait, three generation spans, one tool (t2 ignored)
    assert get("Per individual latency", "Human thinking")["p50"] == 7_200_000
    assert get("Per individual latency", "LLM generation")["avg"] == 3_000
    assert get("Per individual latency", "Tool execution")["p99"] == 5_000
    assert "of the session time" in result.text


def test_table7_session_scope_capped_total_and_empty_sessions(tmp_path):
    """Amendments §14.1, worked by hand: a session belongs to its first step's provider, a
    session with no positive span is dropped, the capped total is capped human + generation +
    tool, and shares are Σ component / Σ block total."""
    second = step(
        "m",
        1,
        provider="claude",
        first="user_message",
        events=[ev("user_message", 5000), ev("text", 5003)],
        tools=[tool("t1", emitted=5003, result=5013)],  # wall 10 s
    )
    second["session_id"] = "codex:m"  # the session started on codex, continues on claude
    rows = [
        step("m", 0, provider="codex", first="user_message",
             events=[ev("user_message", 0), ev("text", 2)]),
        second,
        # a single instant: span 0 → left out of both session blocks
        step("z", 0, first="user_message", events=[ev("user_message", 100), ev("text", 100)]),
    ]  # fmt: skip
    con = trace_db(tmp_path, rows)
    result = timing.compute(con)

    def get(unit: str, name: str, table: str = "table7_timing", **key) -> dict:
        return row(result.table(table), unit=unit, metric=name, **key)

    # session codex:m: events 0 → 5,003 s; human wait 5,000 − 2 = 4,998 s (capped 3,600 s);
    # generation 2 + 3 = 5 s; tool 10 s. Old rule: z counted (avg elapsed 2,501.5 s), m split
    # into a codex and a claude session, capped total 5,003 − 1,398 = 3,605 s.
    assert get("Per session", "Total elapsed")["avg"] == 5_003_000
    capped = "Per session, human capped (1h)"
    assert get(capped, "Total")["avg"] == 3_615_000  # 3,600 + 5 + 10
    assert get(capped, "Human thinking")["% time"] == pytest.approx(3600 / 3615)
    # uncapped shares of the elapsed 5,003 s: 4,998 + 5 + 10 = 5,013 s, so they sum above 100%
    assert get("Per session", "Human thinking")["% time"] == pytest.approx(4998 / 5003)
    assert get("Per session", "Tool execution")["% time"] == pytest.approx(10 / 5003)
    by_provider = result.table("table7_timing_by_provider")
    providers = {r["provider"] for r in by_provider.records() if r["unit"] == "Per session"}
    assert providers == {"codex"}
    # steps: every step is a unit, zeros kept: generation [2, 3, 0] s, tool [0, 10, 0] s
    assert get("Per step", "LLM generation")["avg"] == pytest.approx(5000 / 3)
    assert get("Per step", "Tool execution")["% time"] == pytest.approx(10 / 15)


def test_human_wait_and_response_time(timing_con):
    waits = hitl.human_wait_cdf.compute(timing_con)
    all_row = row(waits.table("human_waits"), provider="all")
    # the session's first user message has no predecessor; the other waits 7,200 s
    assert (all_row["waits"], all_row["p50"], all_row["> 5m"], all_row["> 1h"]) == (
        1, 7_200_000, 1.0, 1.0,
    )  # fmt: skip
    curve = waits.table("human_wait_curve")
    assert {r[1] for r in curve.rows} == {7200.0}  # seconds
    responses = hitl.response_time.compute(timing_con)
    r = row(responses.table("response_times"), provider="claude")
    # 13 s and 2 s → 2 requests, total 15 s, avg 7.5 s
    assert (r["requests"], r["total"], r["avg"]) == (2, 15_000, 7_500)
    assert "2 requests took 15.0s" in responses.text


# --- Session timeline ------------------------------------------------------------------------


def test_session_timeline_choice_and_gaps(tmp_path):
    def session(name: str, n: int, append: int, users: tuple[int, ...], gap_at: int = -1):
        out, t = [], 0.0
        for k in range(n):
            t += 600 if k == gap_at else 1
            first = "user_message" if k in users else "tool_result"
            out.append(
                step(name, k, prefix=1000 * k, append=append, first=first,
                     events=[ev(first, t), ev("text", t + 0.5)])
            )  # fmt: skip
            t += 0.5
        return out

    rows = [
        *session("small", 15, 100, (0, 5)),
        *session("chosen", 15, 200, (0, 7), gap_at=7),  # largest append among qualifying
        *session("long", 81, 10_000, (0, 5)),  # more than 80 steps
        *session("lonely", 20, 10_000, (0,)),  # one user-initiated step only
    ]
    con = trace_db(tmp_path, rows)
    result = session_timeline.compute(con)
    steps = result.table("fig10_session_steps")
    assert {r["session"] for r in steps.records()} == {"claude:chosen"}
    assert len(steps.rows) == 15
    s8 = row(steps, step=8)
    # step 8 (index 7) waits 600 s after the previous text event; prefix 7,000 of 7,200
    assert s8["initiated by"] == "user" and s8["idle gap"] == 600_000
    assert s8["hit ratio"] == pytest.approx(7000 / 7200)
    assert "10.0m" in result.text


# --- Edge cases and end-to-end ----------------------------------------------------------------


def _png(fig) -> bytes:
    """A quick low-resolution PNG of the figure (the drawing is the same as `render`'s)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=30)
    plt.close(fig)
    return buf.getvalue()


def _run_all(con) -> dict:
    """Compute and plot every experiment; returns id → (result, its figures, their PNGs)."""
    out = {}
    for e in ALL:
        result = e.compute(con)
        assert result.text.strip()
        figures = e.plot(result) if e.plot else []
        out[e.id] = (result, figures, [_png(f.figure) for f in figures])
    return out


def test_empty_trace_gives_empty_tables_and_sentences(tmp_path):
    outputs = _run_all(trace_db(tmp_path, []))
    for _, _, pngs in outputs.values():
        assert all(png[:4] == b"\x89PNG" for png in pngs)
    assert outputs["session/compaction"][0].table("table4_compactions").rows == []
    assert "no steps" in outputs["session/loop_counts"][0].text
    assert "no positive human" in outputs["human_in_the_loop/human_wait_cdf"][0].text


def test_tool_steps_only_no_events_no_user_messages(tmp_path):
    # a codex-free, user-message-free trace without tool calls or timing events
    outputs = _run_all(trace_db(tmp_path, contexts("t", [1000, 2000, 1500])))
    growth = outputs["session/context_growth"][0].table("table3_context_growth")
    assert row(growth, **{"steps of": "all"})["steps"] == 2
    assert outputs["human_in_the_loop/response_time"][0].table("response_times").rows == []
    timing = outputs["session/timing"][0].table("table7_timing")
    assert row(timing, unit="Per session", metric="Total elapsed")["avg"] is None
    assert "no request" in outputs["human_in_the_loop/response_time"][0].text


def test_all_experiments_end_to_end(compaction_con, timing_con):
    # the figures with numbers to show: context changes (compaction trace), times (timing trace)
    with_data = {
        "session/context_growth": {compaction_con},
        "session/session_timeline": {compaction_con, timing_con},
        "human_in_the_loop/human_wait_cdf": {timing_con},
        "human_in_the_loop/response_time": {timing_con},
    }
    for con in (compaction_con, timing_con):
        outputs = _run_all(con)
        for exp_id, (result, figures, pngs) in outputs.items():
            assert result.tables, exp_id
            assert all(png[:4] == b"\x89PNG" and len(png) > 1000 for png in pngs), exp_id
            has_data = con in with_data.get(exp_id, set())
            assert all(bool(f.data.rows) == has_data for f in figures), exp_id
    timeline = outputs["session/session_timeline"][1][0]
    assert timeline.interactive is not None
    png, svg = render(session_timeline.plot(outputs["session/session_timeline"][0])[0].figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and svg.lstrip().startswith(b"<?xml")
