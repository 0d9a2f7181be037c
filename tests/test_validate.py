"""`tracelab validate`: a clean hand-built trace passes every check; a trace made of one broken
copy of it per check breaks every check exactly once — each in its own copy, so a break that
also tripped another check would show up as a count of 2 there."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace

import pytest
from rich.console import Console

from tracebuilder import ev, step, tool, trace_db
from tracelab.display import validation_report
from tracelab.io import write_rows
from tracelab.tracedb import build_db, open_db
from tracelab.validate import CHECKS, LONG_GAP_DAYS, ORDER_TOLERANCE_MS, run_checks

DAY = 86_400


def clean_rows(tag: str = "") -> list[dict]:
    """Two sessions, four steps, one tool call — every invariant holds.

    claude:<tag>s1 step 0: user 0 s → text 2 s → tool_call t1 3 s (t1 result at 5 s)
                   step 1: tool_result 5 s → text 7 s
    codex:<tag>s2  step 0: user 10 s → reasoning 11 s → text 12 s
                   step 1: user 20 s → text 22 s
    """
    s1, s2 = f"{tag}s1", f"{tag}s2"
    return [
        step(
            s1,
            0,
            prefix=0,
            append=1000,
            output=100,
            first="user_message",
            events=[ev("user_message", 0), ev("text", 2), ev("tool_call", 3, tool_call_id="t1")],
            tools=[tool("t1", "Bash", emitted=3, result=5, internal_ms=1500)],
        ),
        step(
            s1,
            1,
            prefix=1000,
            append=200,
            output=50,
            first="tool_result",
            events=[ev("tool_result", 5, tool_call_id="t1"), ev("text", 7)],
        ),
        step(
            s2,
            0,
            provider="codex",
            prefix=0,
            append=500,
            output=20,
            reasoning=5,
            first="user_message",
            events=[ev("user_message", 10), ev("reasoning", 11), ev("text", 12)],
        ),
        step(
            s2,
            1,
            provider="codex",
            prefix=500,
            append=100,
            output=10,
            first="user_message",
            events=[ev("user_message", 20), ev("text", 22)],
        ),
    ]


# --- one break per check: each takes a fresh clean copy and breaks exactly one thing ----------


def _claude_total(rows):
    rows[0]["input_tokens_total"] = 1001  # prefix 0 + append 1000 ≠ 1001
    return rows


def _claude_split(rows):
    rows[1]["claude_cache_read_input_tokens"] = 999  # prefix 1000 ≠ cache_read 999
    return rows


def _codex_append(rows):
    rows[2]["newly_append_tokens"] = 400  # max(0, input 500 − prefix 0) = 500 ≠ 400
    return rows


def _negative(rows):
    rows[3]["output_tokens"] = -5
    return rows


def _wall(rows):
    rows[0]["tools"][0]["tool_wall_latency_ms"] = 0
    return rows


def _internal(rows):
    rows[0]["tools"][0]["tool_internal_latency_ms"] = -20
    return rows


def _generation(rows):
    # user_message and text at the same instant: generation time 22 − 22 = 0
    rows[3]["timing_events"] = [ev("user_message", 22), ev("text", 22)]
    return rows


def _later_copy(row: dict) -> dict:
    """A copy of a codex:s2 step as a third step, its events after step 1 (nothing else breaks)."""
    dup = copy.deepcopy(row)
    dup["round_index"] = 2
    dup["timing_events"] = [ev("user_message", 30), ev("text", 32)]
    return dup


def _trace_key(rows):
    dup = _later_copy(rows[3])
    dup["round_id"] = "other"  # same trace_key, but another round_id
    return [*rows, dup]


def _round_id(rows):
    dup = _later_copy(rows[3])
    dup["trace_key"] += ":unique"  # same round_id, another trace_key
    return [*rows, dup]


def _round_index(rows):
    dup = _later_copy(rows[3])
    dup["round_index"] = 1  # step 1's index again, with its own round_id and trace_key
    dup["round_id"] = "other"
    dup["trace_key"] += ":unique"
    return [*rows, dup]


def _tool_call(rows):
    # step 1 repeats step 0's call t1 (a copied call): 1 copy among 2 calls with an id
    rows[1]["tools"] = [tool("t1", "Bash", emitted=3, result=5, internal_ms=1500)]
    return rows


def _event_order(rows):
    assert ORDER_TOLERANCE_MS == 1000
    # text 2.0 → text 1.5 (0.5 s back: tolerated) → tool_call 0.4 (1.1 s back: flagged)
    rows[0]["timing_events"] = [
        ev("user_message", 0),
        ev("text", 2),
        ev("text", 1.5),
        ev("tool_call", 0.4, tool_call_id="t1"),
    ]
    return rows


def _no_events(rows):
    rows[3]["timing_events"] = []
    return rows


def _no_first_input(rows):
    rows[1]["first_input_event_type"] = None
    return rows


def _backward(rows):
    # codex step 0 ended at 12 s; step 1 now starts at 8 s: 4 s back (> 1 s tolerance)
    rows[3]["timing_events"] = [ev("user_message", 8), ev("text", 9)]
    return rows


def _long_gap(rows):
    start = 12 + (LONG_GAP_DAYS + 1) * DAY  # 8 days after codex step 0 ended (12 s)
    rows[3]["timing_events"] = [ev("user_message", start), ev("text", start + 2)]
    return rows


BREAKS: dict[str, tuple[Callable[[list[dict]], list[dict]], str, str]] = {
    # check id: (break, session of the offending step, expected example detail)
    "tokens.claude_total": (
        _claude_total,
        "s1",
        "input_tokens_total 1001 ≠ prefix 0 + append 1000",
    ),
    "tokens.claude_split": (
        _claude_split,
        "s1",
        "append 200 vs uncached 200 + creation 0; prefix 1000 vs cache_read 999",
    ),
    "tokens.codex_append": (_codex_append, "s2", "append 400 vs max(0, 500 − 0)"),
    "tokens.negative": (_negative, "s2", "output_tokens -5"),
    "latency.tool_wall": (_wall, "s1", "Bash t1: 0 ms"),
    "latency.tool_internal": (_internal, "s1", "Bash t1: -20 ms"),
    "latency.generation": (_generation, "s2", "generation time 0.0 s"),
    "duplicates.trace_key": (_trace_key, "s2", "copy of round_pk {pk}"),
    "duplicates.round_id": (_round_id, "s2", "round_id {tag}s2-r1 first at round_pk {pk}"),
    "duplicates.round_index": (_round_index, "s2", "round_index 1 first at round_pk {pk}"),
    "duplicates.tool_call": (_tool_call, "s1", "Bash t1 first in round_pk {pk}"),
    "timing.event_order": (
        _event_order,
        "s1",
        "event 3 (tool_call) is 1.1 s before the previous text",
    ),
    "timing.no_events": (_no_events, "s2", "no timing events"),
    "timing.no_first_input": (_no_first_input, "s1", "2 events, no input event"),
    "sessions.backward_jump": (_backward, "s2", "step 2 starts 4.0 s before step 1 ended"),
    "sessions.long_gap": (_long_gap, "s2", "step 2 starts 8.0 days after step 1"),
}

#: Index, within a copy, of the step the duplicates point back to (rows[3] / rows[0]).
FIRST_COPY = {
    "duplicates.trace_key": 3,
    "duplicates.round_id": 3,
    "duplicates.round_index": 3,
    "duplicates.tool_call": 0,
}


def _tag(check_id: str) -> str:
    return check_id.replace(".", "_") + "-"


@pytest.fixture(scope="module")
def all_broken(tmp_path_factory):
    """One trace: a broken copy per check (2 sessions each); also where each copy starts."""
    rows, starts = [], {}
    for check_id, (breaker, _, _) in BREAKS.items():
        starts[check_id] = len(rows)
        rows += breaker(clean_rows(_tag(check_id)))
    return run_checks(trace_db(tmp_path_factory.mktemp("broken"), rows)), starts


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return run_checks(trace_db(tmp_path_factory.mktemp("clean"), clean_rows()))


def test_every_check_has_a_break():
    assert list(BREAKS) == [c.id for c in CHECKS]


def test_clean_trace_passes_every_check(clean):
    assert clean.ok
    assert [c.status for c in clean.checks] == ["PASS"] * len(CHECKS)
    den = {c.spec.id: c.denominator for c in clean.checks}
    # 2 Claude steps, 2 Codex steps (both with input and prefix counts), 4 steps in all
    assert (den["tokens.claude_total"], den["tokens.codex_append"], den["tokens.negative"]) == (
        2,
        2,
        4,
    )
    # events after another timestamped event of their step: (3−1) + (2−1) + (3−1) + (2−1) = 6
    assert den["timing.event_order"] == 6
    # one tool call; 4 steps with a generation time; 2 sessions with ≥ 2 timed steps
    assert den["latency.tool_wall"] == 1
    assert den["latency.generation"] == 4
    assert den["sessions.backward_jump"] == 2


@pytest.mark.parametrize("check_id", list(BREAKS))
def test_each_check_is_broken_exactly_once_by_its_own_copy(all_broken, check_id):
    result, starts = all_broken
    _, session, detail = BREAKS[check_id]
    check = result.check(check_id)
    assert check.count == 1
    (example,) = check.examples
    tag = _tag(check_id)
    provider = "claude" if session == "s1" else "codex"
    assert example["session_id"] == f"{provider}:{tag}{session}"
    first_pk = starts[check_id] + FIRST_COPY.get(check_id, 0) + 1  # round_pk is 1-based
    assert example["detail"] == detail.format(tag=tag, pk=first_pk)
    assert example["trace_key"].startswith(f"{provider}:{provider}:{tag}{session}:")
    assert check.status == check.spec.severity.upper()  # ERROR, WARNING or INFO


def test_denominators_of_the_broken_trace(all_broken):
    result, _ = all_broken
    den = {c.spec.id: c.denominator for c in result.checks}
    # 16 copies × 4 steps, + 1 extra step in each of the three duplicate-step copies = 67
    assert den["tokens.negative"] == 16 * 4 + 3
    # 16 copies × 1 call, + the copied call of duplicates.tool_call = 17
    assert den["duplicates.tool_call"] == 17
    # 16 × 6, + 1 event in the event-order copy (4 events), + 1 event in each duplicate-step
    # copy (2 events), − 1 in the copy whose step lost its 2 events = 96 + 1 + 3 − 1 = 99
    assert den["timing.event_order"] == 99
    # 32 sessions with ≥ 2 timed steps, except timing.no_events' codex session (1 timed step)
    assert den["sessions.long_gap"] == 31
    assert result.check("latency.tool_wall").by_provider == {"claude": (1, 17)}
    assert not result.ok


def test_warnings_alone_do_not_fail_the_trace(tmp_path):
    result = run_checks(trace_db(tmp_path, _wall(clean_rows())))
    assert [c.spec.id for c in result.checks if c.count] == ["latency.tool_wall"]
    assert result.check("latency.tool_wall").status == "WARNING"
    assert result.ok
    assert result.counts() == {"error": 0, "warning": 1, "info": 0}


def test_out_of_order_events_are_a_warning_not_an_error(tmp_path):
    # real CLI logs always have some events written out of order: shown, but the trace is ok
    result = run_checks(trace_db(tmp_path, _event_order(clean_rows())))
    assert [c.spec.id for c in result.checks if c.count] == ["timing.event_order"]
    assert result.check("timing.event_order").status == "WARNING"
    assert result.ok and result.counts() == {"error": 0, "warning": 1, "info": 0}


def test_severity_must_be_known():
    with pytest.raises(ValueError, match="severity"):
        replace(CHECKS[0], severity="fail-ish")


def test_examples_are_capped_at_five(tmp_path):
    rows = [step("s9", i, first=None, events=[ev("text", i)]) for i in range(7)]
    result = run_checks(trace_db(tmp_path, rows))
    check = result.check("timing.no_first_input")
    assert (check.count, check.denominator, len(check.examples)) == (7, 7, 5)


def test_empty_trace_passes_with_zero_denominators(tmp_path):
    src, db = tmp_path / "empty.jsonl", tmp_path / "empty.duckdb"
    write_rows([], src)
    build_db(src, db)
    result = run_checks(open_db(db))
    assert result.ok
    assert all((c.count, c.denominator) == (0, 0) for c in result.checks)
    assert "| PASS | 0 / 0 | – |" in result.markdown()  # no share of nothing


def test_markdown_report(all_broken):
    result, _ = all_broken
    md = result.markdown()
    assert md.startswith("# TraceLab integrity checks")
    # errors: the 4 token checks; info: no_first_input = 1; the other 11 (the 4 duplicate-key
    # checks (public-dataset.md: warnings), 2 tool latencies, generation, event_order,
    # no_events, 2 session jumps) warn
    assert "**ERRORS**: 16 checks; findings: 4 errors, 11 warnings, 1 info." in md
    # claude_total: 1 of the 32 Claude steps (16 copies × 2)
    assert "| [tokens.claude_total](#tokensclaude_total) Claude input total" in md
    assert "| ERROR | 1 / 32 | 3.1% |" in md
    assert md.count("\n## ") == len(CHECKS)
    assert "| round_pk | session_id | trace_key | detail |" in md


def test_markdown_escapes_table_cells(tmp_path):
    rows = _claude_total(clean_rows())
    for r in rows[:2]:
        r["session_id"] = "claude:a|b"
    md = run_checks(trace_db(tmp_path, rows)).markdown()
    assert "| claude:a\\|b |" in md  # the | does not open a new column


def test_json_and_display(all_broken):
    result, _ = all_broken
    doc = result.to_json()
    assert doc["ok"] is False
    assert doc["constants"] == {"order_tolerance_ms": 1000, "long_gap_days": 7}
    first = doc["checks"][0]
    assert (first["id"], first["status"], first["count"], first["denominator"]) == (
        "tokens.claude_total",
        "ERROR",
        1,
        32,
    )
    console = Console(record=True, width=140)
    validation_report(console, result, None)
    text = console.export_text()
    assert "tokens.claude_total" in text and "1 / 32" in text
    assert "ERRORS: 16 checks; findings: 4 errors, 11 warnings, 1 info." in text
    assert doc["findings"] == {"error": 4, "warning": 11, "info": 1}


def _db(tmp_path, rows) -> str:
    src, db = tmp_path / "t.jsonl", tmp_path / "t.duckdb"
    write_rows(rows, src)
    build_db(src, db)
    return str(db)


def test_cli_exit_codes_markdown_and_json(tmp_path):
    from typer.testing import CliRunner

    from tracelab.cli import app

    runner = CliRunner()
    clean_db = _db(tmp_path / "clean", clean_rows())
    result = runner.invoke(app, ["validate", "--db", clean_db], catch_exceptions=False)
    assert result.exit_code == 0
    assert "OK: 16 checks; findings: 0 errors, 0 warnings, 0 info." in result.output

    broken_db = _db(tmp_path / "broken", _claude_total(clean_rows()))
    md = tmp_path / "checks.md"
    result = runner.invoke(
        app, ["validate", "--db", broken_db, "-o", str(md)], catch_exceptions=False
    )
    assert result.exit_code == 1  # an "error" check found something
    assert "ERRORS: 16 checks; findings: 1 error, 0 warnings, 0 info." in result.output
    assert "| ERROR | 1 / 2 | 50.0% |" in md.read_text()

    result = runner.invoke(app, ["validate", "--db", broken_db, "--json"], catch_exceptions=False)
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["ok"] is False
    assert doc["checks"][0]["examples"][0]["round_pk"] == 1  # the first step (1-based)


def test_duplicate_keys_warn_unless_strict(tmp_path):
    """The public release keeps duplicated steps: a warning with counts (exit 0), and a failure
    only with --strict. One step copied twice more (same trace_key, round_id, round_index and
    tool call): 2 copies for each key check."""
    from typer.testing import CliRunner

    from tracelab.cli import app

    rows = clean_rows()
    rows += [copy.deepcopy(rows[0]), copy.deepcopy(rows[0])]  # step 0 of s1, twice more
    db = _db(tmp_path, rows)
    key_checks = [c.id for c in CHECKS if c.key]
    assert key_checks == [
        "duplicates.trace_key",
        "duplicates.round_id",
        "duplicates.round_index",
        "duplicates.tool_call",
    ]
    result = run_checks(open_db(db))
    assert result.ok
    for check_id in key_checks:
        check = result.check(check_id)
        assert (check.status, check.count) == ("WARNING", 2), check_id
    strict = run_checks(open_db(db), strict=True)
    assert not strict.ok
    assert {c.spec.id for c in strict.checks if c.status == "ERROR"} == set(key_checks)

    runner = CliRunner()
    out = runner.invoke(app, ["validate", "--db", db, "--json"], catch_exceptions=False)
    assert out.exit_code == 0
    doc = json.loads(out.output)
    counts = {c["id"]: (c["status"], c["count"]) for c in doc["checks"]}
    assert counts["duplicates.trace_key"] == ("WARNING", 2)
    out = runner.invoke(app, ["validate", "--db", db, "--strict"], catch_exceptions=False)
    assert out.exit_code == 1


# --- the cheaper formulations against the literal ones -------------------------------------

#: The checks as first written: windows over every row (duplicates: the first row of each key
#: by PARTITION BY; event order: lag per step; session jumps: lag over the timed steps; steps
#: without timed events: every event counted).
_LITERAL = {
    "duplicates.trace_key": """
        SELECT round_pk, 'copy of round_pk ' || first_pk AS detail
        FROM (SELECT round_pk, min(round_pk) OVER (PARTITION BY trace_key) AS first_pk
              FROM rounds WHERE trace_key IS NOT NULL) WHERE round_pk <> first_pk""",
    "duplicates.round_id": """
        SELECT round_pk, 'round_id ' || coalesce(round_id::VARCHAR, 'null') || ' first at round_pk '
               || first_pk AS detail
        FROM (SELECT round_pk, round_id,
                     min(round_pk) OVER (PARTITION BY session_id, round_id) AS first_pk
              FROM rounds WHERE round_id IS NOT NULL) WHERE round_pk <> first_pk""",
    "duplicates.round_index": """
        SELECT round_pk, 'round_index ' || round_index || ' first at round_pk ' || first_pk
        FROM (SELECT round_pk, round_index,
                     min(round_pk) OVER (PARTITION BY session_id, round_index) AS first_pk
              FROM rounds WHERE round_index IS NOT NULL) WHERE round_pk <> first_pk""",
    "duplicates.tool_call": """
        SELECT round_pk, coalesce(tool_name::VARCHAR, 'null') || ' ' || tool_call_id
               || ' first in round_pk ' || first_pk
        FROM (SELECT round_pk, tool_name, tool_call_id,
                     min(round_pk) OVER (PARTITION BY session_id, tool_call_id) AS first_pk
              FROM tool_calls WHERE tool_call_id IS NOT NULL) WHERE round_pk <> first_pk""",
    "timing.event_order": """
        SELECT round_pk, event_pos, event_type, prev_type
        FROM (SELECT round_pk, event_pos, event_type, timestamp,
                     lag(timestamp) OVER (PARTITION BY round_pk ORDER BY event_pos) AS prev_ts,
                     lag(event_type) OVER (PARTITION BY round_pk ORDER BY event_pos) AS prev_type
              FROM timing_events WHERE timestamp IS NOT NULL)
        WHERE prev_ts IS NOT NULL
          AND (epoch_us(prev_ts) - epoch_us(timestamp)) / 1000.0 > 1000""",
    "timing.no_events": """
        SELECT r.round_pk, coalesce(e.events, 0)
        FROM rounds r
        LEFT JOIN (SELECT round_pk, count(*) AS events, count(timestamp) AS timed
                   FROM timing_events GROUP BY round_pk) e USING (round_pk)
        WHERE coalesce(e.timed, 0) = 0""",
}
_LITERAL_TIMED_STEPS = """
    SELECT round_pk, session_id, seq,
           (epoch_us(started_at) - epoch_us(lag(ended_at) OVER w)) / 1000.0 AS gap_ms
    FROM step_facts WHERE started_at IS NOT NULL AND ended_at IS NOT NULL
    WINDOW w AS (PARTITION BY session_id ORDER BY seq)
"""
_LITERAL_JUMPS = {
    "sessions.backward_jump": "gap_ms < -1000",
    "sessions.long_gap": f"gap_ms > {LONG_GAP_DAYS} * 86400000.0",
}


def _jumbled_rows(seed: int) -> list[dict]:
    """Random sessions (repeated round indexes, untimed steps and events, tool calls) with
    copied steps (duplicate keys and tool call ids) and events 5 s or 9 days off."""
    import random

    from test_metrics_steps import _random_rows

    rnd = random.Random(seed)
    rows = _random_rows(seed)
    for row in rows:
        timed = [e for e in row["timing_events"] if e["timestamp"] is not None]
        if timed and rnd.random() < 0.4:
            event = rnd.choice(timed)
            event["timestamp"] = ev("text", rnd.choice([-5, -9 * DAY, 9 * DAY]))["timestamp"]
    rows += [copy.deepcopy(rnd.choice(rows)) for _ in range(rnd.randint(0, 2))]
    return rows


def test_cheaper_checks_match_the_literal_definitions(tmp_path):
    """Counts and examples of the reformulated checks equal those of the literal windows, on
    16 random traces."""
    found = 0
    for seed in range(16):
        con = trace_db(tmp_path / str(seed), _jumbled_rows(seed))
        result = {c.spec.id: c for c in run_checks(con).checks}
        for check_id, sql in _LITERAL.items():
            expected = [
                pk for (pk,) in con.execute(f"SELECT round_pk FROM ({sql}) ORDER BY 1").fetchall()
            ]
            assert result[check_id].count == len(expected), check_id
            assert [e["round_pk"] for e in result[check_id].examples] == expected[:5], check_id
            found += len(expected)
        for check_id, condition in _LITERAL_JUMPS.items():
            expected = [
                pk
                for (pk,) in con.execute(
                    f"SELECT round_pk FROM ({_LITERAL_TIMED_STEPS}) WHERE {condition} QUALIFY "
                    "row_number() OVER (PARTITION BY session_id ORDER BY seq) = 1 ORDER BY 1"
                ).fetchall()
            ]
            assert result[check_id].count == len(expected), check_id
            assert [e["round_pk"] for e in result[check_id].examples] == expected[:5], check_id
            found += len(expected)
    assert found  # the traces break these checks: the comparison is not of zeros
