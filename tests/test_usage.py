"""Usage reports (issue 15) on a hand-built trace: every expected row derived by hand below.

The trace (T0 = Monday 2026-01-05 10:00 UTC; New York is UTC−5 in January):

  step  session           at (UTC)            NY local         tokens (prefix/append/output)
  A     claude:s1 r0      Jan 5 10:00         Jan 5 05:00      1000 / 100 / 10
  H     claude:s1 r1      Jan 5 14:50         Jan 5 09:50      2000 / 200 / 20
  I     claude:s1 r2      Jan 5 15:10         Jan 5 10:10      3000 / 300 / 30
  B     claude:s1 r3      Jan 6 00:00         Jan 5 19:00      4000 / 400 / 40
  C     claude:s1/sub r0  Jan 6 00:30         Jan 5 19:30      500 / 50 / 5, writes 30 5m + 20 1h
  F     claude:s3 r0      Jan 5 11:00         Jan 5 06:00      10 / 1 / 1   (unpriced model)
  G     claude:s3 r1      — (no events)       —                20 / 2 / 2   (unpriced model)
  D     codex:s2 r0       Jan 12 10:00        Jan 12 05:00     700 / 70 / 7, reasoning 3
  E     codex:s2 r1       Feb 1 03:00         Jan 31 22:00     800 / 80 / 8, reasoning 4

Projects: s1 and its subagent "/p/a"; s2 and s3 "/p/b". The cost of a step is the one cost
definition (`step_facts.cost_total`, tested in the pricing tests); a report row's cost must be
the sum over the steps listed for it here.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, needs_fixtures
from tracebuilder import T0, ev, step, trace_db
from tracelab.cli import app
from tracelab.io import write_rows
from tracelab.metrics.usage import Query, block_starts, materialize, open_usage, report

NY = "America/New_York"
H = 3600


def _at(seconds: float, first: str = "user_message") -> list[dict]:
    return [ev(first, seconds), ev("text", seconds + 1)]


def _rows() -> list[dict]:
    a = {"project": "/p/a"}
    b = {"project": "/p/b"}
    sub = {"project": "/p/a", "is_subagent": True, "parent_session_id": "claude:s1"}
    mystery = {"model": "mystery-model-9"}
    return [
        {**step("s1", 0, prefix=1000, append=100, output=10, events=_at(0)), **a},
        {**step("s1", 1, prefix=2000, append=200, output=20, events=_at(4 * H + 50 * 60)), **a},
        {**step("s1", 2, prefix=3000, append=300, output=30, events=_at(5 * H + 10 * 60)), **a},
        {**step("s1", 3, prefix=4000, append=400, output=40, events=_at(14 * H)), **a},
        {
            **step(
                "s1/subagents/agent-x",
                0,
                prefix=500,
                append=50,
                output=5,
                uncached=0,
                cache_creation=50,
                events=_at(14.5 * H),
            ),
            "claude_cache_creation_5m_input_tokens": 30,
            "claude_cache_creation_1h_input_tokens": 20,
            **sub,
        },
        {**step("s3", 0, prefix=10, append=1, output=1, events=_at(H), **mystery), **b},
        {**step("s3", 1, prefix=20, append=2, output=2, events=[], **mystery), **b},
        {
            **step(
                "s2",
                0,
                provider="codex",
                prefix=700,
                append=70,
                output=7,
                reasoning=3,
                events=_at(7 * 24 * H),
            ),
            **b,
        },
        {
            **step(
                "s2",
                1,
                provider="codex",
                prefix=800,
                append=80,
                output=8,
                reasoning=4,
                events=_at((26 * 24 + 17) * H),  # Feb 1 03:00 UTC
            ),
            **b,
        },
    ]


#: step name → its round_pk: its 1-based row position in `_rows()`
POS = dict(zip("AHIBCFGDE", range(1, 10), strict=True))


@pytest.fixture(scope="module")
def usage_con(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("usage")
    con = trace_db(tmp, _rows())
    costs = dict(con.execute("SELECT round_pk, cost_total FROM step_facts").fetchall())
    materialize(con, tmp / "usage.duckdb")
    con.close()
    return open_usage(tmp / "usage.duckdb"), costs


def _cost(costs: dict, names: str) -> float:
    return sum(costs[POS[n]] for n in names)


def _run(usage_con, **kw):
    con, _ = usage_con
    return report(con, Query(**kw))


def test_trace_starts_on_a_monday() -> None:
    assert datetime(2026, 1, 5, 10, tzinfo=UTC) == T0 and T0.isoweekday() == 1


def test_daily_in_new_york(usage_con) -> None:
    _con, costs = usage_con
    u = _run(usage_con, report="daily", timezone=NY)
    # NY days: Jan 5 = A H I B C F (B and C are Jan 6 in UTC), Jan 12 = D, Jan 31 = E
    assert [r["period"] for r in u.rows] == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 31)]
    jan5 = u.rows[0]
    assert jan5["steps"] == 6
    assert jan5["prefix"] == 1000 + 2000 + 3000 + 4000 + 500 + 10
    assert jan5["append"] == 100 + 200 + 300 + 400 + 50 + 1
    assert jan5["output"] == 10 + 20 + 30 + 40 + 5 + 1
    assert jan5["tokens"] == 10510 + 1051 + 106
    assert (jan5["write_5m"], jan5["write_1h"]) == (30, 20)  # C's split
    assert jan5["reasoning"] == 0
    assert jan5["priced_share"] == pytest.approx(5 / 6)  # F is unpriced
    assert jan5["cost"] == pytest.approx(_cost(costs, "AHIBC"))
    assert jan5["models"] == ["claude-opus-4-7", "mystery-model-9"]
    assert u.rows[1]["reasoning"] == 3 and u.rows[2]["reasoning"] == 4
    assert u.undated_steps == 1  # G
    assert u.totals["steps"] == 8
    assert u.totals["cost"] == pytest.approx(_cost(costs, "AHIBCDE"))


def test_daily_in_utc_moves_the_evening_steps(usage_con) -> None:
    u = _run(usage_con, report="daily", timezone="UTC")
    # UTC: Jan 5 = A H I F, Jan 6 = B C, Jan 12 = D, Feb 1 = E
    assert [(r["period"].isoformat(), r["steps"]) for r in u.rows] == [
        ("2026-01-05", 4),
        ("2026-01-06", 2),
        ("2026-01-12", 1),
        ("2026-02-01", 1),
    ]


def test_weekly_iso_weeks_from_monday(usage_con) -> None:
    u = _run(usage_con, report="weekly", timezone=NY)
    # Jan 31 (Sat) is in the week of Mon Jan 26
    assert [(r["period"].isoformat(), r["steps"]) for r in u.rows] == [
        ("2026-01-05", 6),
        ("2026-01-12", 1),
        ("2026-01-26", 1),
    ]


def test_monthly_follows_the_zone(usage_con) -> None:
    ny = _run(usage_con, report="monthly", timezone=NY)
    utc = _run(usage_con, report="monthly", timezone="UTC")
    assert [(r["period"].isoformat(), r["steps"]) for r in ny.rows] == [("2026-01-01", 8)]
    assert [(r["period"].isoformat(), r["steps"]) for r in utc.rows] == [
        ("2026-01-01", 7),
        ("2026-02-01", 1),  # E: Feb 1 03:00 UTC
    ]


def test_since_until_are_local_dates_inclusive(usage_con) -> None:
    u = _run(
        usage_con, report="daily", timezone=NY, since=date(2026, 1, 6), until=date(2026, 1, 31)
    )
    assert [r["period"].isoformat() for r in u.rows] == ["2026-01-12", "2026-01-31"]
    u = _run(usage_con, report="daily", timezone="UTC", until=date(2026, 1, 5))
    assert [r["steps"] for r in u.rows] == [4]  # A H I F


def test_provider_and_project_filters(usage_con) -> None:
    u = _run(usage_con, report="monthly", timezone=NY, providers=("codex",))
    assert u.totals["steps"] == 2 and u.totals["reasoning"] == 7
    u = _run(usage_con, report="project", projects=("/p/a",))
    assert [r["project"] for r in u.rows] == ["/p/a"] and u.totals["steps"] == 5


def test_breakdown_per_model(usage_con) -> None:
    _, costs = usage_con
    u = _run(usage_con, report="daily", timezone=NY, breakdown=True)
    parts = {p["model"]: p for p in u.rows[0]["models_breakdown"]}
    assert set(parts) == {"claude-opus-4-7", "mystery-model-9"}
    assert parts["claude-opus-4-7"]["steps"] == 5  # A H I B C
    assert parts["claude-opus-4-7"]["cost"] == pytest.approx(_cost(costs, "AHIBC"))
    assert parts["mystery-model-9"]["steps"] == 1 and parts["mystery-model-9"]["cost"] is None
    assert parts["mystery-model-9"]["priced_share"] == 0


def test_session_rolls_subagents_into_their_parent(usage_con) -> None:
    _, costs = usage_con
    u = _run(usage_con, report="session", timezone=NY)
    rows = {r["session_id"]: r for r in u.rows}
    assert set(rows) == {"claude:s1", "claude:s3", "codex:s2"}  # no row of its own for C
    s1 = rows["claude:s1"]
    assert s1["steps"] == 5 and s1["subagents"] == 1 and s1["subagent_steps"] == 1
    assert s1["subagent_cost"] == pytest.approx(_cost(costs, "C"))
    assert s1["cost"] == pytest.approx(_cost(costs, "AHIBC"))
    assert s1["project"] == "/p/a"
    assert rows["claude:s3"]["steps"] == 2  # G has no time but is still the session's
    assert rows["codex:s2"]["subagents"] == 0 and rows["codex:s2"]["subagent_cost"] is None
    # ordered by last activity: s3 (F at Jan 5 11:00), s1 (C at Jan 6 00:30), s2 (E)
    assert [r["session_id"] for r in u.rows] == ["claude:s3", "claude:s1", "codex:s2"]


def test_project_rows(usage_con) -> None:
    u = _run(usage_con, report="project")
    rows = {r["project"]: r for r in u.rows}
    assert (rows["/p/a"]["steps"], rows["/p/a"]["sessions"]) == (5, 1)  # s1 with its subagent
    assert (rows["/p/b"]["steps"], rows["/p/b"]["sessions"]) == (4, 2)  # F G D E; s3, s2


def test_block_starts_rule() -> None:
    h = [datetime(2026, 1, 5, x, tzinfo=UTC) for x in (10, 11, 14, 15, 19, 20)]
    # 10:00 starts [10, 15); 15:00 is at its end → [15, 20); 20:00 → [20, 01)
    assert [s.hour for s in block_starts(h)] == [10, 15, 20]
    assert block_starts([]) == []


def test_blocks_and_the_active_block(usage_con) -> None:
    _, costs = usage_con
    now = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    u = _run(usage_con, report="blocks", timezone=NY, now=now)
    got = [
        (r["provider"], r["block_start"].astimezone(UTC).strftime("%m-%d %H"), r["steps"])
        for r in u.rows
    ]
    # claude: A(10:00) F(11:00) H(14:50) → block 10:00; I (15:10, only 20 min after H but past
    # 15:00) → block 15:00; B C (≥ 5 h later) → block 00:00; codex: D → 10:00, E → 03:00
    assert got == [
        ("claude", "01-05 10", 3),
        ("claude", "01-05 15", 1),
        ("claude", "01-06 00", 2),
        ("codex", "01-12 10", 1),
        ("codex", "02-01 03", 1),
    ]
    active = u.active_block
    assert active is not None and active["active"] and active["steps"] == 2
    assert [r["active"] for r in u.rows] == [False, False, True, False, False]
    tokens = 4000 + 400 + 40 + 500 + 50 + 5  # B + C
    assert active["tokens"] == tokens
    # B at 00:00 to C at 00:30: 30 minutes; now 02:00, the block ends 05:00: 180 min left
    assert active["tokens_per_minute"] == pytest.approx(tokens / 30)
    assert active["remaining_minutes"] == pytest.approx(180)
    assert active["projected_tokens"] == pytest.approx(tokens + tokens / 30 * 180)
    assert active["cost_per_hour"] == pytest.approx(_cost(costs, "BC") / 30 * 60)
    assert active["projected_cost"] == pytest.approx(_cost(costs, "BC") * 7)
    later = _run(usage_con, report="blocks", timezone=NY, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert later.active_block is None


# --- the command ------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture()
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    write_rows(_rows(), path)
    return path


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, ["usage", *args, "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_cli_json_numbers_are_numbers(trace_file: Path) -> None:
    doc = _json(["-i", str(trace_file), "-z", NY])
    assert doc["report"] == "daily" and doc["timezone"] == NY
    first = doc["rows"][0]
    assert first["period"] == "2026-01-05"
    assert isinstance(first["steps"], int) and first["steps"] == 6
    assert isinstance(first["cost"], float) and isinstance(first["priced_share"], float)
    assert doc["undated_steps"] == 1 and doc["totals"]["steps"] == 8


def test_cli_blocks_json(trace_file: Path) -> None:
    doc = _json(["blocks", "-i", str(trace_file), "-z", NY, "--now", "2026-01-06T02:00:00Z"])
    assert [r["active"] for r in doc["rows"]] == [False, False, True, False, False]
    active = doc["active_block"]
    assert active["block_start"] == "2026-01-05T19:00:00-05:00"  # 00:00 UTC, in New York
    assert active["remaining_minutes"] == 180
    doc = _json(["blocks", "-i", str(trace_file), "--now", "2026-03-01T00:00:00Z"])
    assert doc["active_block"] is None


def test_cli_csv_shape(trace_file: Path) -> None:
    result = runner.invoke(app, ["usage", "weekly", "-i", str(trace_file), "-z", NY, "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["period"] for r in rows] == ["2026-01-05", "2026-01-12", "2026-01-26"]
    assert rows[0]["steps"] == "6" and float(rows[0]["cost"]) > 0
    result = runner.invoke(app, ["usage", "-i", str(trace_file), "-z", NY, "--csv", "--breakdown"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["period"], r["model"], r["steps"]) for r in rows[:2]] == [
        ("2026-01-05", "claude-opus-4-7", "5"),
        ("2026-01-05", "mystery-model-9", "1"),
    ]
    assert rows[1]["cost"] == ""  # unpriced: empty, not 0


def test_cli_table_has_a_totals_row(trace_file: Path) -> None:
    result = runner.invoke(
        app, ["usage", "session", "-i", str(trace_file), "-z", NY], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Total" in result.stdout and "claude:s1" in result.stdout
    assert "1 · " in result.stdout  # s1's one subagent and its cost share
    assert "unpriced model" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hourly"], "unknown report"),
        (["--since", "2026-13-01"], "not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "after --until"),
        (["-z", "Mars/Olympus"], "not an IANA time zone"),
        (["--provider", "cursor"], "--provider takes"),
        (["--json", "--csv"], "either --json or --csv"),
    ],
)
def test_cli_bad_options_are_one_line_errors(trace_file: Path, args, message) -> None:
    result = runner.invoke(app, ["usage", "-i", str(trace_file), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_cli_missing_trace_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["usage", "-i", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2 and "no such file" in result.output


@needs_fixtures
def test_cli_on_the_public_dataset_jsonl() -> None:
    doc = _json(
        ["monthly", "-i", str(FIXTURES / "public-dataset/public-trace.jsonl.gz"), "-z", "UTC"]
    )
    assert doc["totals"]["steps"] + doc["undated_steps"] == 149  # the fixture's 149 steps
    projects = _json(["project", "-i", str(FIXTURES / "public-dataset/public-trace.jsonl.gz")])
    assert sum(r["steps"] for r in projects["rows"]) == 149
    named = [r["project"] for r in projects["rows"] if r["project"]]
    assert named and all(p.startswith("project_") for p in named)  # pseudonyms, filterable
    one = _json(
        [
            "project",
            "-i",
            str(FIXTURES / "public-dataset/public-trace.jsonl.gz"),
            "--project",
            named[0],
        ]
    )
    assert [r["project"] for r in one["rows"]] == [named[0]]


# --- the home, collected: a repeat run on unchanged logs takes the no-op path -------------------


def test_repeat_run_on_unchanged_logs_reuses_everything(tmp_path: Path, monkeypatch) -> None:
    from rawlogs import claude_path, claude_session, write

    home = tmp_path / "home"
    write(claude_path(home), claude_session(3))
    first = _json(["--home", str(home), "-z", "UTC"])
    assert first["collect"]["up_to_date"] is False and first["totals"]["steps"] == 3

    import tracelab.cli as cli

    def no_trace_db(*_a, **_k):
        raise AssertionError("the trace database was opened on unchanged logs")

    monkeypatch.setattr(cli, "_open_trace", no_trace_db)
    again = _json(["--home", str(home), "-z", "UTC"])
    assert again["collect"]["up_to_date"] is True  # collect's no-op manifest
    assert again["rows"] == first["rows"]
    # a grown log is collected and its facts rebuilt
    monkeypatch.undo()
    write(claude_path(home), claude_session(4))
    grown = _json(["--home", str(home), "-z", "UTC"])
    assert grown["collect"]["up_to_date"] is False and grown["totals"]["steps"] == 4


def test_default_trace_is_private(tmp_path: Path) -> None:
    from rawlogs import claude_path, claude_session, write
    from tracelab.usage import default_trace

    home = tmp_path / "home"
    write(claude_path(home), claude_session(1))
    _json(["--home", str(home)])
    trace = default_trace([home])
    assert trace.is_file() and trace.stat().st_mode & 0o777 == 0o600
    assert trace.parent.stat().st_mode & 0o777 == 0o700


def test_no_logs_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["usage", "--home", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no agent session logs" in result.output
