"""`tracelab ask`: the SQL sandbox against hostile SQL, the remote refusal, the metric catalog,
and the whole loop (question → tool calls → grounded answer with evidence) with a scripted
chat endpoint — no model anywhere.

The trace (hand-built, `tracebuilder`): Claude session s1 with 3 steps (2 Bash calls, one
failed; 1 Read call that succeeded) and Codex session c1 with 1 step (no tools). So: steps
per provider claude 3, codex 1; tool error rate of Bash 1/2 = 0.5, of Read 0/1 = 0.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ask_endpoint import serving
from tracebuilder import ev, step, tool
from tracelab.ask import catalog
from tracelab.ask.backends import OpenAIBackend, RemoteRefused, is_loopback_url, scripted
from tracelab.ask.loop import Conversation, ungrounded_numbers
from tracelab.ask.sandbox import Sandbox, SandboxError
from tracelab.ask.tools import call_tool
from tracelab.cli import app
from tracelab.io import write_rows
from tracelab.tracedb import build_db


def _rows() -> list[dict]:
    return [
        step("s1", 0, prefix=0, append=1000, output=100, first="user_message",
             events=[ev("user_message", 0), ev("tool_call", 2, tool_call_id="t1")],
             tools=[tool("t1", "Bash", emitted=2, result=4, is_error=True)]),
        step("s1", 1, prefix=1100, append=50, output=20,
             events=[ev("tool_result", 4, tool_call_id="t1"), ev("tool_call", 5)],
             tools=[tool("t2", "Bash", emitted=5, result=6),
                    tool("t3", "Read", emitted=5, result=5.5, index=1)]),
        step("s1", 2, prefix=1170, append=10, output=5,
             events=[ev("tool_result", 6, tool_call_id="t2"), ev("text", 7)]),
        step("c1", 0, provider="codex", prefix=0, append=500, output=50, first="user_message",
             events=[ev("user_message", 0), ev("text", 3)]),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ask")
    rows = _rows()
    rows[0]["cwd"] = "/home/alice/secret-project"
    rows[0]["session_file"] = "/home/alice/.claude/projects/x/s1.jsonl"
    src = root / "trace.jsonl"
    write_rows(rows, src)
    build_db(src, root / "trace.duckdb")
    return root / "trace.duckdb"


@pytest.fixture
def sandbox(trace: Path):
    with Sandbox(trace, timeout_s=1.0) as sb:
        yield sb


# --- the sandbox ----------------------------------------------------------------------------


def test_sandbox_runs_a_query(sandbox: Sandbox) -> None:
    res = sandbox.run("SELECT provider, count(*) AS n FROM step_facts GROUP BY 1 ORDER BY 1")
    assert res.columns == ["provider", "n"]
    assert res.rows == [["claude", 3], ["codex", 1]]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE rounds", "not DROP"),
        ("DELETE FROM rounds", "not DELETE"),
        ("INSERT INTO rounds (round_pk) VALUES (99)", "not INSERT"),
        ("UPDATE rounds SET provider = 'x'", "not UPDATE"),
        ("CREATE TABLE x AS SELECT 1", "not CREATE"),
        ("ATTACH '/tmp/tracelab-ask-attack.duckdb' AS x", "not ATTACH"),
        ("COPY rounds TO '/tmp/tracelab-ask-attack.csv'", "not COPY"),
        ("COPY (SELECT 1) TO '/tmp/tracelab-ask-attack.csv'", "not COPY"),
        ("PRAGMA version", "not PRAGMA"),
        ("CALL pragma_version()", "not CALL"),
        ("SET threads = 4", "not SET"),
        ("INSTALL httpfs", "not LOAD"),
        ("LOAD httpfs", "not LOAD"),
        ("EXPORT DATABASE '/tmp/tracelab-ask-attack'", "not EXPORT"),
        ("SELECT 1; DROP TABLE rounds", "one statement only: got 2"),
        ("SELECT 1; SELECT 2", "one statement only: got 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", "no file, URL or extension"),
        ("SELECT * FROM read_text('/etc/hostname')", "no file, URL or extension"),
        ("SELECT * FROM '/etc/passwd'", "does not exist"),  # replacement scans are off
        ("SELECT * FROM glob('/etc/*')", "no file, URL or extension"),
        ("SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')", "no file, URL"),
        ("SELECT * FROM query('DROP TABLE rounds')", "SQL error"),
        ("SELECT cwd FROM rounds", "SQL error"),
        ("SELECT session_file FROM rounds", "SQL error"),
        ("SELEC 1", "does not parse"),
        ("", "empty query"),
    ],
)
def test_hostile_sql_is_a_clear_error(sandbox: Sandbox, trace: Path, sql: str, message: str):
    before = trace.stat().st_mtime_ns, trace.stat().st_size
    with pytest.raises(SandboxError, match=message.replace("(", r"\(")):
        sandbox.run(sql)
    # the database is untouched and the sandbox still answers
    assert (trace.stat().st_mtime_ns, trace.stat().st_size) == before
    assert sandbox.run("SELECT count(*) FROM rounds").rows == [[4]]
    assert not Path("/tmp/tracelab-ask-attack.csv").exists()


def test_runaway_query_is_interrupted(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="time limit"):
        sandbox.run("SELECT count(*) FROM range(1000000000000) a")
    assert sandbox.run("SELECT 42").rows == [[42]]


def test_configuration_is_locked(sandbox: Sandbox) -> None:
    settings = dict(
        sandbox.run(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('enable_external_access', 'lock_configuration', 'threads', "
            "'autoload_known_extensions', 'autoinstall_known_extensions', 'access_mode')"
        ).rows
    )
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"
    assert settings["threads"] == "1"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["autoinstall_known_extensions"] == "false"


def test_row_cap(trace: Path) -> None:
    with Sandbox(trace, max_rows=5) as sb:
        res = sb.run("SELECT * FROM range(100)")
    assert len(res.rows) == 5 and res.truncated


def test_private_columns_never_reach_the_sandbox(sandbox: Sandbox) -> None:
    cols = {c for cs in sandbox.table_columns().values() for c, _ in cs}
    assert not cols & {"cwd", "session_file", "home", "input"}
    dump = str(sandbox.run("SELECT * FROM rounds").rows)
    assert "alice" not in dump


# --- the catalog ----------------------------------------------------------------------------


def test_metric_tool_uses_the_metric_definitions(sandbox: Sandbox) -> None:
    ev_ = call_tool(sandbox, "metric", {"metric": "tool_error_rate", "group_by": ["tool"]})
    assert ev_.ok, ev_.error
    rates = {r[0]: r[1] for r in ev_.rows}
    assert rates == {"Bash": 0.5, "Read": 0.0}  # Bash: 1 failed of 2 calls; Read 0 of 1
    steps = call_tool(sandbox, "metric", {"metric": "steps", "group_by": "provider"})
    assert steps.rows == [["claude", 3], ["codex", 1]]
    assert steps.chart == {"type": "bar", "x": "provider", "y": ["steps"]}
    only = call_tool(sandbox, "metric", {"metric": "steps", "filters": {"provider": "codex"}})
    assert only.rows == [[1]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"metric": "nope"}, "unknown metric"),
        ({"metric": "steps", "group_by": ["tool"]}, "cannot be grouped by tool"),
        ({"metric": "steps", "filters": {"since": "yesterday"}}, "expected a date"),
        ({"metric": "steps", "filters": {"colour": "red"}}, "unknown filter"),
    ],
)
def test_bad_metric_calls_are_tool_errors(sandbox: Sandbox, args: dict, message: str) -> None:
    ev_ = call_tool(sandbox, "metric", args)
    assert ev_.error is not None and message in ev_.error


def test_catalog_values_are_bound_parameters() -> None:
    q = catalog.build_query("steps", [], {"project": "x'; DROP TABLE rounds; --"})
    assert "DROP" not in q.sql and q.params == ["x'; DROP TABLE rounds; --"]


# --- backends -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.8.9.10/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://192.168.1.10:8000/v1", False),
        ("http://127.0.0.1.example.com/v1", False),
    ],
)
def test_loopback_check(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_remote_backend_is_refused_without_allow_remote() -> None:
    with pytest.raises(RemoteRefused, match="--allow-remote"):
        OpenAIBackend("https://api.openai.com/v1", "gpt-x")
    OpenAIBackend("https://api.openai.com/v1", "gpt-x", allow_remote=True).close()


def test_cli_refuses_a_remote_backend(trace: Path) -> None:
    result = CliRunner().invoke(
        app, ["ask", "steps?", "--db", str(trace), "--base-url", "https://example.com/v1"]
    )
    assert result.exit_code == 2
    assert "--allow-remote" in result.output and "Traceback" not in result.output


# --- the loop -------------------------------------------------------------------------------


def _answer_from_last_result(messages: list[dict]) -> dict:
    """A scripted final turn that states the last tool result (as a model would)."""
    import orjson

    result = orjson.loads(messages[-1]["content"])
    parts = [f"{row[0]}: {row[1]}" for row in result["rows"]]
    return {"content": "Steps per provider — " + ", ".join(parts) + "."}


def test_loop_end_to_end_with_a_scripted_backend(sandbox: Sandbox) -> None:
    backend, endpoint = scripted(
        [
            {"tool_calls": [{"name": "sql", "arguments": {"query": "DROP TABLE rounds"}}]},
            {"tool_calls": [{"name": "metric",
                             "arguments": {"metric": "steps", "group_by": ["provider"]}}]},
            _answer_from_last_result,
        ]
    )  # fmt: skip
    tokens: list[str] = []
    conv = Conversation(sandbox, backend)
    answer = conv.ask(
        "how many steps per provider?", lambda k, p: tokens.append(p) if k == "token" else None
    )
    assert answer.text == "Steps per provider — claude: 3, codex: 1."
    assert "".join(tokens) == answer.text  # streamed piece by piece
    assert len(tokens) > 3
    assert [e.tool for e in answer.evidence] == ["sql", "metric"]
    assert "not DROP" in answer.evidence[0].error
    assert answer.evidence[1].rows == [["claude", 3], ["codex", 1]]
    assert "FROM" in answer.evidence[1].sql
    assert answer.ungrounded == [] and answer.turns == 3 and answer.stopped is None
    # the endpoint received the tools and, after each call, only the tool result
    first = endpoint.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} == {"metric", "sql"}
    tool_msgs = [m for m in endpoint.requests[2]["messages"] if m["role"] == "tool"]
    assert (
        tool_msgs[1]["content"]
        == '{"columns":["provider","steps"],"rows":[["claude",3],["codex",1]]}'
    )


def test_follow_up_sees_the_conversation(sandbox: Sandbox) -> None:
    backend, endpoint = scripted(
        [
            {"tool_calls": [{"name": "metric", "arguments": {"metric": "steps"}}]},
            {"content": "There are 4 steps."},
            {"tool_calls": [{"name": "metric",
                             "arguments": {"metric": "steps", "filters": {"provider": "codex"}}}]},
            {"content": "Codex has 1 step."},
        ]
    )  # fmt: skip
    conv = Conversation(sandbox, backend)
    assert conv.ask("how many steps?").text == "There are 4 steps."
    second = conv.ask("and codex?")
    assert second.text == "Codex has 1 step." and second.ungrounded == []
    contents = [m.get("content") for m in endpoint.requests[2]["messages"]]
    assert "how many steps?" in contents and "There are 4 steps." in contents


def test_ungrounded_numbers_are_flagged(sandbox: Sandbox) -> None:
    backend, _ = scripted(
        [
            {"tool_calls": [{"name": "metric", "arguments": {"metric": "steps"}}]},
            {"content": "There are 4 steps, about 17 per day."},
        ]
    )
    answer = Conversation(sandbox, backend).ask("how many steps?")
    assert answer.ungrounded == ["17"]


def test_turn_limit(sandbox: Sandbox) -> None:
    call = {"tool_calls": [{"name": "metric", "arguments": {"metric": "steps"}}]}
    backend, _ = scripted([call, call, call])
    answer = Conversation(sandbox, backend, max_turns=2).ask("loop forever")
    assert answer.stopped == "turn limit of 2 reached" and answer.tool_calls == 2
    assert answer.text.startswith("(no answer")


def test_grounding_accepts_rounding_and_percent() -> None:
    from tracelab.ask.tools import Evidence

    evidence = [Evidence("sql", {}, columns=["a", "b"], rows=[["x", 0.07469], ["y", 1461]])]
    assert ungrounded_numbers("7.5% and 1,461 and 0.07", evidence) == []
    assert ungrounded_numbers("8.1%", evidence) == ["8.1"]


def test_cli_ask_with_an_endpoint(trace: Path, tmp_path: Path) -> None:
    """The CLI end to end against a loopback OpenAI-compatible server (a scripted stand-in)."""
    turns = [
        {"tool_calls": [{"name": "metric",
                         "arguments": {"metric": "steps", "group_by": ["provider"]}}]},
        {"content": "claude has 3 steps and codex 1."},
    ]  # fmt: skip
    with serving(turns) as endpoint:
        result = CliRunner().invoke(
            app,
            ["ask", "how many steps per provider?", "--db", str(trace), "--base-url", endpoint.url],
        )
    assert result.exit_code == 0, result.output
    assert "claude has 3 steps and codex 1." in result.output
    assert "step_facts" in result.output  # the query is shown


@pytest.mark.parametrize(
    "option",
    [["--max-turns", "0"], ["--max-turns", "21"], ["--timeout", "0"], ["--timeout", "-1"],
     ["--timeout", "901"]],
)  # fmt: skip
def test_cli_limits_out_of_range_are_usage_errors(trace: Path, option: list[str]) -> None:
    """The CLI takes the Ask page's limits (1–20 turns, 0 < seconds ≤ 900): no question runs."""
    args = ["ask", "q", "--db", str(trace), "--base-url", "http://127.0.0.1:9/v1", *option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and option[0] in result.output
    assert "turn(s)" not in result.output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--base-url", "ftp://127.0.0.1/v1"), ("--api-key-env", "sk-live.0123")],
)
def test_cli_bad_backend_settings_are_one_line(trace: Path, option: str, value: str) -> None:
    """The Ask page's rules for a base URL and a key variable, named by the CLI's option."""
    base = [] if option == "--base-url" else ["--base-url", "http://127.0.0.1:9/v1"]
    result = CliRunner().invoke(app, ["ask", "q", "--db", str(trace), *base, option, value])
    assert result.exit_code == 2 and f"error: {option}: " in result.output
    assert "sk-live" not in result.output


def test_cli_ask_prices_the_cost_metric_with_prices(trace: Path, tmp_path: Path) -> None:
    """`ask --prices FILE` prices the cost facts the model queries, as every other command does."""
    table = tmp_path / "prices.csv"
    table.write_text(
        "provider,model_group,model_glob,match,input,cache_write_5m,cache_read,output\n"
        "claude,Test,claude-*,exact,1000,0,0,0\n"
    )
    turns = [
        {"tool_calls": [{"name": "metric",
                         "arguments": {"metric": "cost_usd", "group_by": ["provider"]}}]},
        {"content": "claude cost 1.06 USD."},
    ]  # fmt: skip
    with serving(turns) as endpoint:
        args = ["ask", "cost?", "--db", str(trace), "--base-url", endpoint.url]
        result = CliRunner().invoke(app, [*args, "--prices", str(table)])
    assert result.exit_code == 0, result.output
    # By hand: claude appends 1000 + 50 + 10 uncached tokens at $1000 per million = $1.06; the
    # codex step has no row in the file, so it is unpriced.
    assert "1.06" in result.output and "numbers not found" not in result.output
    bad = CliRunner().invoke(app, ["ask", "q", "--db", str(trace), "--prices", str(tmp_path)])
    assert bad.exit_code == 2 and "price table" in bad.output


def test_not_a_trace_database(tmp_path: Path) -> None:
    bad = tmp_path / "x.duckdb"
    duckdb.connect(str(bad)).close()
    result = CliRunner().invoke(
        app, ["ask", "q", "--db", str(bad), "--base-url", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 2 and "not a TraceLab trace database" in result.output


# --- the QA benchmark's grader --------------------------------------------------------------


def test_grader_rules() -> None:
    from tracelab.ask.grading import grade

    assert grade("There are 1,461 steps.", [[1461]], "exact").correct
    assert not grade("There are 1,460 steps.", [[1461]], "exact").correct
    assert grade("The rate is 5.0%.", [[0.05026]], "numeric").correct
    assert not grade("The rate is 6%.", [[0.05026]], "numeric").correct
    rows = [["claude", 3], ["codex", 1]]
    assert grade("codex: 1, claude: 3", rows, "set").correct
    assert not grade("claude: 3", rows, "set").correct
    assert grade("Bash, then Read", [["Bash"], ["Read"]], "ordered").correct
    assert not grade("Read, then Bash", [["Bash"], ["Read"]], "ordered").correct
    assert not grade("3 and 1", rows, "set", tool_used=False).correct


def test_benchmark_scripted_backend_scores_100_percent(trace: Path) -> None:
    """Every task's recorded tool call, stated back, must match its canonical query."""
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "ask_qa.py"
    spec = importlib.util.spec_from_file_location("ask_qa", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tasks = bench.load_tasks()
    assert len(tasks) >= 30
    assert {t["difficulty"] for t in tasks} == {"easy", "medium", "hard"}

    def factory(task):
        call = task["scripted"]
        turn = {"tool_calls": [{"name": call["tool"], "arguments": call["arguments"]}]}
        return scripted([turn, bench.state_last_result])[0]

    def wrong(task):  # states nothing: the grader must fail every task
        call = task["scripted"]
        turn = {"tool_calls": [{"name": call["tool"], "arguments": call["arguments"]}]}
        return scripted([turn, {"content": "I do not know."}])[0]

    with Sandbox(trace) as sb:
        results = bench.run(sb, tasks, factory, max_turns=4, timeout=60)
        failed = [(r["task"]["id"], r["grade"].reason) for r in results if not r["grade"].correct]
        # on this tiny trace some canonical queries return no rows: those cannot be graded
        gradable = [r for r in results if r["expected"]]
        assert len(gradable) >= 25
        assert [f for f in failed if "no rows" not in f[1]] == []
        assert all(not r["grade"].correct for r in bench.run(sb, tasks, wrong, 4, 60))
