"""The base metric tables (`metrics.steps`): each value worked out by hand from the rows."""

from __future__ import annotations

import pytest

from tracebuilder import ev, step, tool, trace_db
from tracelab.pricing.table import Price, PriceTable


def _facts(con, session: str) -> list[dict]:
    cur = con.execute("SELECT * FROM step_facts WHERE session_id = ? ORDER BY seq", [session])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def con(tmp_path):
    rows = [
        # session s1 (claude): user step, two tool steps, a second request.
        step(
            "s1",
            0,
            prefix=0,
            append=1000,
            output=300,
            first="user_message",
            events=[
                ev("user_message", 0),
                ev("reasoning", 1),
                ev("text", 2),
                ev("tool_call", 4, tool_call_id="t1"),
            ],
            tools=[tool("t1", "Bash", emitted=4, result=10, internal_ms=5000)],
        ),
        step(
            "s1",
            1,
            prefix=1000,
            append=500,
            output=50,
            first="tool_result",
            events=[ev("tool_result", 10, tool_call_id="t1"), ev("text", 13)],
        ),
        # growth 1550 → 900: reduction; fresh clips at 0
        step(
            "s1",
            2,
            prefix=800,
            append=100,
            output=10,
            first="user_message",
            events=[ev("user_message", 73), ev("text", 75)],
        ),
        # growth 900 → 5000: +4100, minus prior output 10 = 4090, clipped to append 3000
        step(
            "s1",
            3,
            prefix=2000,
            append=3000,
            output=10,
            first="tool_result",
            events=[ev("text", 80)],
        ),
        # session s2 (codex): starts with a tool step (request 0), unpriced model
        step(
            "s2",
            0,
            provider="codex",
            model="gpt-9-unknown",
            prefix=0,
            append=100,
            output=5,
            first="tool_result",
            events=[ev("tool_result", 0), ev("text", 1)],
        ),
    ]
    return trace_db(tmp_path, rows)


def test_order_context_growth_and_fresh(con):
    s1 = _facts(con, "claude:s1")
    assert [r["seq"] for r in s1] == [1, 2, 3, 4]
    assert [r["context"] for r in s1] == [1000, 1500, 900, 5000]
    assert [r["growth"] for r in s1] == [None, 500, -600, 4100]
    # fresh = clip(max(0, C_i − C_{i−1}) − O_{i−1}, 0, append)
    # step 1: max(0, 500) − 300 = 200 (≤ append 500) → 200
    # step 2: max(0, −600) − 50 = −50 → clipped to 0
    # step 3: 4100 − 10 = 4090 → clipped to append 3000
    assert [r["fresh"] for r in s1] == [None, 200, 0, 3000]


def test_requests(con):
    s1 = _facts(con, "claude:s1")
    assert [r["request_no"] for r in s1] == [1, 1, 2, 2]
    s2 = _facts(con, "codex:s2")
    assert [r["request_no"] for r in s2] == [0]  # no user message yet: no request
    req = con.execute(
        "SELECT session_id, request_no, steps, user_steps, tool_steps, response_ms "
        "FROM request_facts ORDER BY session_id, request_no"
    ).fetchall()
    # request 1: user_message at 0 → last output of the request (text at 13 s) = 13 000 ms
    # request 2: user_message at 73 → last output (text at 80 s) = 7 000 ms
    # codex:s2's step precedes any opener: it belongs to no request, so request_facts has no row
    # for it (amendments §14.2; request_facts listed it as "request 0" before)
    assert req == [
        ("claude:s1", 1, 2, 1, 1, 13_000.0),
        ("claude:s1", 2, 2, 1, 1, 7_000.0),
    ]


def test_request_start_is_the_latest_user_message_before_the_first_output(tmp_path):
    """Amendments §14.2, worked by hand. The old rule (a request = a step whose first input
    event is a user_message, started at that step's first user_message) gives request_no
    [0, 0, 0, 1, 2] and a single timed request of 4 000 ms; the reference's gives the values
    below."""
    rows = [
        # r0: no user_message → no opener; before the first opener → no request (0)
        step("r", 0, first="tool_result", events=[ev("tool_result", 0), ev("text", 1)]),
        # r1: first input is a tool_result, yet user messages at 12 and 15 precede the first
        # output (16) → opens request 1, start = the LATEST such message = 15 s
        step(
            "r",
            1,
            first="tool_result",
            events=[
                ev("tool_result", 10),
                ev("user_message", 12),
                ev("user_message", 15),
                ev("reasoning", 16),
                ev("text", 18),
            ],
        ),
        # r2: its user_message (25) comes after its first output (22) → opens nothing; stays
        # in request 1, whose end is the latest model output over its steps: 30 s
        step(
            "r",
            2,
            first="tool_result",
            events=[ev("tool_result", 20), ev("text", 22), ev("user_message", 25), ev("text", 30)],
        ),
        # r3: opens request 2: 60 → latest output 64 = 4 000 ms
        step(
            "r",
            3,
            first="user_message",
            events=[ev("user_message", 60), ev("text", 61), ev("tool_call", 64)],
        ),
        # r4: opens request 3, but its only output is at the start time: e2e 0 → no response
        step("r", 4, first="user_message", events=[ev("user_message", 70), ev("text", 70)]),
    ]
    con = trace_db(tmp_path, rows)
    assert [r["request_no"] for r in _facts(con, "claude:r")] == [0, 1, 1, 2, 3]
    req = con.execute(
        "SELECT request_no, steps, user_steps, response_ms FROM request_facts ORDER BY 1"
    ).fetchall()
    # request 1: 15 s → 30 s = 15 000 ms (r1 + r2, neither user-initiated)
    assert req == [(1, 2, 0, 15_000.0), (2, 1, 1, 4_000.0), (3, 1, 1, None)]


def test_generation_time_and_gaps(con):
    s1 = _facts(con, "claude:s1")
    # step 0: input user_message at 0 (before first output at 1) → last output at 4: 4 000 ms
    # step 1: tool_result at 10 → text at 13: 3 000 ms; step 3 has no input event: null
    assert [r["gen_ms"] for r in s1] == [4000.0, 3000.0, 2000.0, None]
    # human wait of step 2: previous event (text at 13) → user_message at 73 = 60 s
    assert s1[2]["human_wait_ms"] == 60_000.0
    assert s1[0]["human_wait_ms"] is None  # first event of the session: no predecessor
    # tool step 1 carries the result of t1: internal latency 5000 wins over wall 6000
    assert s1[1]["tool_wait_ms"] == 5000
    assert [r["idle_gap_ms"] for r in s1] == [None, 5000, 60_000.0, None]
    waits = con.execute("SELECT wait_ms FROM human_waits ORDER BY seq").fetchall()
    assert waits == [(None,), (60_000.0,)]


def test_tool_effective_latency(con):
    (eff, wall) = con.execute(
        "SELECT effective_latency_ms, tool_wall_latency_ms FROM tool_facts"
    ).fetchone()
    assert (eff, wall) == (5000, 6000)


def test_cost_claude_cache_writes_and_unpriced(tmp_path):
    rows = [
        step(
            "c",
            0,
            prefix=2_000_000,
            append=1_500_000,
            output=100_000,
            uncached=500_000,
            cache_creation=1_000_000,
            first="user_message",
            events=[ev("user_message", 0)],
        ),
        step(
            "x",
            0,
            provider="codex",
            model="gpt-5.4",
            prefix=1_000_000,
            append=2_000_000,
            output=1_000_000,
            first="user_message",
            events=[ev("user_message", 0)],
        ),
        step("y", 0, provider="codex", model="mystery-model", prefix=1, append=1, output=1),
    ]
    prices = PriceTable(
        [
            Price("claude", "Opus", "claude-opus-4-7*", 5.0, 6.25, 0.5, 25.0),
            Price("codex", "GPT-5.4", "gpt-5.4", 2.5, None, 0.25, 15.0),
        ]
    )
    con = trace_db(tmp_path, rows, prices)
    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT session_id, priced, cost_append, cost_prefix, cost_output, cost_total "
            "FROM step_facts"
        ).fetchall()
    }
    # Claude: append = 0.5 M × $5 + 1.0 M × $6.25 = 2.5 + 6.25 = 8.75; prefix 2 M × 0.5 = 1.0;
    # output 0.1 M × 25 = 2.5; total 12.25
    assert got["claude:c"] == pytest.approx((True, 8.75, 1.0, 2.5, 12.25))
    # Codex: append 2 M × 2.5 = 5.0; prefix 1 M × 0.25 = 0.25; output 1 M × 15 = 15; total 20.25
    assert got["codex:x"] == pytest.approx((True, 5.0, 0.25, 15.0, 20.25))
    # unknown model: unpriced, no cost at all (never zero)
    assert got["codex:y"] == (False, None, None, None, None)


# --- the spec's literal definitions, as naive SQL, against the prepared tables ---------------

#: `human_waits` as the spec words it: each user_message event's timestamp minus the previous
#: event's of any type in its session, events ordered by step seq, then event position.
NAIVE_HUMAN_WAITS = """
SELECT round_pk, event_pos, wait_ms FROM (
    SELECT e.round_pk, e.event_pos, e.event_type,
           (epoch_us(e.timestamp) - epoch_us(lag(e.timestamp) OVER w)) / 1000.0 AS wait_ms
    FROM timing_events e JOIN step_facts s USING (round_pk)
    WINDOW w AS (PARTITION BY e.session_id ORDER BY s.seq, e.event_pos)
) WHERE event_type = 'user_message'
"""

#: A step's tool wait: the longest effective latency of the calls whose results it carries.
NAIVE_TOOL_WAIT = """
SELECT e.round_pk, max(coalesce(t.tool_internal_latency_ms, t.tool_wall_latency_ms)) AS ms
FROM timing_events e
JOIN tool_calls t ON e.session_id = t.session_id AND e.tool_call_id = t.tool_call_id
WHERE e.event_type = 'tool_result' GROUP BY e.round_pk
"""

#: A step's generation start (the latest input event by position before its first output event)
#: and request start (the latest user_message timestamped ≤ its earliest output event), each
#: straight from its events (`metrics.steps` takes a shortcut when input precedes output).
NAIVE_STARTS = """
WITH firsts AS (
    SELECT round_pk,
           min(event_pos) FILTER (WHERE event_type IN ('reasoning', 'text', 'tool_call')) AS pos,
           min(timestamp) FILTER (WHERE event_type IN ('reasoning', 'text', 'tool_call')) AS ts
    FROM timing_events GROUP BY round_pk
)
SELECT s.round_pk,
       (SELECT e.timestamp FROM timing_events e
        WHERE e.round_pk = s.round_pk AND e.event_type IN ('user_message', 'tool_result')
          AND e.event_pos < f.pos AND e.timestamp IS NOT NULL
        ORDER BY e.event_pos DESC LIMIT 1) AS gen_start_ts,
       CASE WHEN f.pos IS NOT NULL THEN
           (SELECT max(e.timestamp) FROM timing_events e
            WHERE e.round_pk = s.round_pk AND e.event_type = 'user_message'
              AND e.timestamp <= f.ts)
       END AS request_start_ts
FROM step_facts s LEFT JOIN firsts f USING (round_pk)
"""

#: Steps with an input event after their first output event (the shortcut does not hold).
INPUT_AFTER_OUTPUT = """
SELECT count(DISTINCT i.round_pk) FROM timing_events i JOIN timing_events o USING (round_pk)
WHERE i.event_type IN ('user_message', 'tool_result')
  AND o.event_type IN ('reasoning', 'text', 'tool_call') AND i.event_pos > o.event_pos
"""


def _random_rows(seed: int) -> list[dict]:
    """Sessions with repeated round indexes, steps without events, user messages anywhere in a
    step, events without a timestamp, tool calls answered (or not) in later steps."""
    import random

    rnd = random.Random(seed)
    kinds = ["user_message", "tool_result", "reasoning", "text", "tool_call", "usage_report"]
    rows = []
    for s in range(rnd.randint(1, 4)):
        provider = rnd.choice(["claude", "codex"])
        at = 0.0
        for k in range(rnd.randint(1, 6)):
            events = []
            for _ in range(rnd.choice([0, 0, 1, 2, 3, 5])):
                at += rnd.choice([0, 0.5, 3, 100])
                event = ev(rnd.choice(kinds), at, tool_call_id=rnd.choice(["a", "b", None]))
                if rnd.random() < 0.1:
                    event["timestamp"] = None
                events.append(event)
            calls = [
                tool(rnd.choice("abc"), emitted=at, result=at + rnd.choice([1, 90]),
                     internal_ms=rnd.choice([None, 5]))
                for _ in range(rnd.choice([0, 1, 2]))
            ]  # fmt: skip
            row = step(f"s{s}", rnd.randint(0, 3), provider=provider, events=events, tools=calls,
                       first=rnd.choice([None, "user_message", "tool_result"]))  # fmt: skip
            row["round_id"] = row["trace_key"] = f"{provider}:s{s}:{k}"
            rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_waits_match_the_literal_definitions(tmp_path, seed):
    con = trace_db(tmp_path, _random_rows(seed))
    waits = con.execute("SELECT round_pk, event_pos, wait_ms FROM human_waits ORDER BY ALL")
    assert waits.fetchall() == con.execute(NAIVE_HUMAN_WAITS + " ORDER BY ALL").fetchall()
    tool_waits = con.execute(
        "SELECT round_pk, tool_wait_ms FROM step_facts WHERE tool_wait_ms IS NOT NULL ORDER BY 1"
    ).fetchall()
    naive = con.execute(f"SELECT * FROM ({NAIVE_TOOL_WAIT}) WHERE ms IS NOT NULL ORDER BY 1")
    assert tool_waits == naive.fetchall()


def test_generation_and_request_starts_match_the_literal_definitions(tmp_path):
    """Over traces whose steps put input events anywhere (after an output event too, with and
    without timestamps): the shortcut and its exact fallback give the literal values."""
    fallback_steps = 0
    for seed in range(16):
        con = trace_db(tmp_path / str(seed), _random_rows(seed))
        got = con.execute(
            "SELECT round_pk, gen_start_ts, request_start_ts FROM step_facts ORDER BY 1"
        ).fetchall()
        assert got == con.execute(NAIVE_STARTS + " ORDER BY 1").fetchall()
        fallback_steps += con.execute(INPUT_AFTER_OUTPUT).fetchone()[0]
    assert fallback_steps > 0  # the random traces do reach the fallback


def test_tool_and_request_facts_are_built_on_request(tmp_path):
    """`prepare(con, tables=…)` builds only what is asked (and what step_facts is made of);
    the tables built later are those a full prepare builds at once."""
    from tracelab.metrics.steps import STEP_TABLES, prepare
    from tracelab.tracedb import open_db

    full = trace_db(tmp_path, _random_rows(3))
    con = open_db(tmp_path / "trace.duckdb")

    def temp_tables() -> set[str]:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        return {name for (name,) in rows}

    prepare(con, tables=STEP_TABLES)
    assert set(STEP_TABLES) <= temp_tables()
    assert not {"tool_facts", "request_facts"} & temp_tables()
    prepare(con, tables=("request_facts",))
    assert "request_facts" in temp_tables() and "tool_facts" not in temp_tables()
    prepare(con)
    for table, key in (("tool_facts", "round_pk, tool_pos"), ("request_facts", "1, 2, 3")):
        sql = f"SELECT * FROM {table} ORDER BY {key}"
        assert con.execute(sql).fetchall() == full.execute(sql).fetchall()
    with pytest.raises(ValueError, match="no fact table 'tool_fact'"):
        prepare(con, tables=("tool_fact",))


def test_the_dashboard_tables_need_no_step_facts(tmp_path):
    """`step_costs`, `tool_facts` and the generation times (`GENERATION_FROM`) are built
    without `step_facts`, with the values `step_facts` holds; the tables built only for others
    are dropped once every reader exists, and built again if one is asked for later."""
    from tracelab.metrics.costs import STEP_COST_COLUMNS
    from tracelab.metrics.steps import GENERATION_FROM, GENERATION_TABLES, prepare
    from tracelab.tracedb import open_db

    full = trace_db(tmp_path, _random_rows(5))
    con = open_db(tmp_path / "trace.duckdb")

    def temp_tables() -> set[str]:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        return {name for (name,) in rows}

    prepare(con, tables=("step_costs", "tool_facts", *GENERATION_TABLES))
    assert "step_facts" not in temp_tables()
    assert "step_order" in temp_tables()  # tool_facts read it; human_waits, step_facts will
    columns = ", ".join(("round_pk", "provider", "session_id", "context", *STEP_COST_COLUMNS))
    sql = f"SELECT {columns} FROM {{}} ORDER BY round_pk"
    costs = con.execute(sql.format("step_costs")).fetchall()
    assert costs == full.execute(sql.format("step_facts")).fetchall()
    assert any(row[-1] is not None for row in costs)  # some steps are priced
    gen = f"SELECT round_pk, provider, gen_ms FROM {GENERATION_FROM} ORDER BY 1"
    facts = "SELECT round_pk, provider, gen_ms FROM step_facts WHERE gen_ms IS NOT NULL ORDER BY 1"
    got = [row for row in con.execute(gen).fetchall() if row[2] is not None]
    assert got == full.execute(facts).fetchall() and got
    sql = "SELECT * FROM tool_facts ORDER BY round_pk, tool_pos"
    assert con.execute(sql).fetchall() == full.execute(sql).fetchall()
    prepare(con)  # every reader of step_order and step_tool_wait now exists
    assert not {"step_order", "step_tool_wait"} & temp_tables()
    con.execute("DROP TABLE tool_facts")
    prepare(con, tables=("tool_facts",))  # step_order is built again for it, then dropped
    assert con.execute(sql).fetchall() == full.execute(sql).fetchall()
    assert "step_order" not in temp_tables()
    with pytest.raises(ValueError, match="no fact table 'step_order'"):
        prepare(con, tables=("step_order",))  # built only for others
