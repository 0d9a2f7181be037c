"""End-to-end through the `tracelab` command: what a user types, what they get."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest
from typer.testing import CliRunner

from conftest import REAL_HOME, needs_fixtures
from tracelab.cli import app
from tracelab.io import read_rows

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@needs_fixtures
def test_collect_json_report_counts_the_real_sessions(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    code, text = invoke("collect", "--home", REAL_HOME, "-o", out, "--json")
    assert code == 0, text
    report = orjson.loads(text)
    groups = {g["provider"]: g for g in report["groups"]}
    # The fixture README: one Claude session of 10 API calls / 9 tool calls, one Codex session
    # of 9 model calls / 10 tool calls.
    assert (groups["claude"]["sessions"], groups["claude"]["steps"]) == (1, 10)
    assert groups["claude"]["tool_calls"] == 9
    assert (groups["codex"]["sessions"], groups["codex"]["steps"]) == (1, 9)
    assert groups["codex"]["tool_calls"] == 10
    assert len(list(read_rows(out))) == 19


@needs_fixtures
def test_collect_table_and_second_run_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl.gz"
    code, text = invoke("collect", "--home", REAL_HOME, "-o", out)
    assert code == 0, text
    assert "Collected sessions" in text and "claude" in text and "codex" in text
    stamp = out.stat().st_mtime_ns
    code, text = invoke("collect", "--home", REAL_HOME, "-o", out)
    assert code == 0
    assert "nothing changed" in text
    assert out.stat().st_mtime_ns == stamp


def test_collect_all_users_scans_every_home(tmp_path: Path) -> None:
    from tracelab.synth import generate_home

    root = tmp_path / "home"
    alice = generate_home(root / "alice", sessions=3, seed=1, providers=("claude",))
    bob = generate_home(root / "bob", sessions=2, seed=2, providers=("codex",))
    (root / "carol").mkdir()  # a home with no agent store is not listed
    code, text = invoke("collect", "--all-users", "--home-root", root, "--json")
    assert code == 0, text
    groups = {(g["user"], g["provider"]): g for g in orjson.loads(text)["groups"]}
    assert set(groups) == {("alice", "claude"), ("bob", "codex")}
    assert groups["alice", "claude"]["steps"] == alice.steps["claude"]
    assert groups["bob", "codex"]["steps"] == bob.steps["codex"]


def test_bad_arguments_fail_with_a_clear_error(tmp_path: Path) -> None:
    code, text = invoke("collect", "--home", tmp_path / "missing")
    assert code == 2 and "not a directory" in text
    code, text = invoke("collect", "--home", tmp_path, "-o", tmp_path / "trace.csv")
    assert code == 2 and "unknown trace format" in text
    code, text = invoke("sanitize", tmp_path / "nope.jsonl", "-o", tmp_path / "p.jsonl")
    assert code == 2 and "no such file" in text
    code, text = invoke("synth", "-o", tmp_path / "h", "--providers", "gemini")
    assert code == 2 and "gemini" in text


def test_pipeline_synth_collect_sanitize_audit_db(tmp_path: Path) -> None:
    home, trace, public = tmp_path / "home", tmp_path / "t.parquet", tmp_path / "p.jsonl.gz"
    code, text = invoke("synth", "-o", home, "--sessions", "6", "--seed", "3")
    assert code == 0 and "SYNTHETIC" in text
    code, text = invoke("collect", "--home", home, "-o", trace)
    assert code == 0, text
    code, text = invoke("sanitize", trace, "-o", public)
    assert code == 0 and "audit passed" in text, text
    code, text = invoke("audit", public)
    assert code == 0, text
    # The private trace itself must fail the audit: it carries paths and tool inputs.
    code, text = invoke("audit", trace)
    assert code == 1 and "FAILED" in text
    db = tmp_path / "t.duckdb"
    code, text = invoke("db", "build", public, "-o", db)
    assert code == 0, text
    con = duckdb.connect(str(db), read_only=True)
    n_rows = con.execute("SELECT count(*) FROM rounds").fetchone()[0]
    assert n_rows == len(list(read_rows(trace)))


@pytest.mark.parametrize("sessions", [8])
def test_demo_runs_every_stage(tmp_path: Path, sessions: int) -> None:
    code, text = invoke("demo", "--dir", tmp_path / "demo", "--sessions", str(sessions))
    assert code == 0, text
    for stage in ("synth", "collect", "sanitize", "audit", "db build", "Headline summary"):
        assert stage in text
    assert "prefix hit rate" in text
    assert (tmp_path / "demo" / "trace.duckdb").is_file()
    # it ends with the report of the synthetic trace and says where it is
    report = tmp_path / "demo" / "report.html"
    assert report.is_file() and "Open the report" in text
    assert "report.html" in text.replace("\n", "")
    assert (tmp_path / "demo" / "analysis" / "index.md").is_file()
    assert "failed" not in text


def test_collect_with_no_logs_says_where_it_looked(tmp_path: Path) -> None:
    code, text = invoke("collect", "--home", tmp_path)
    assert code == 0
    assert "No agent session logs found" in text and str(tmp_path) in text
    assert "tracelab demo" in text
