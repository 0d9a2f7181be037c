"""End-to-end through the `tracelab` command: what a user types, what they get."""

from __future__ import annotations

import gzip
import os
import stat
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
    assert code == 2 and "this writes a trace" in text
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


# --- bad input never ends in a traceback ---------------------------------------------------


def _one_error_line(code: int, text: str, *needles: str) -> None:
    """Exit 2 and a single `error:` line naming the problem (a wrapped long line is one)."""
    assert code == 2, text
    assert "Traceback" not in text
    assert text.lstrip().startswith("error:"), text
    assert text.count("error:") == 1, text
    flat = " ".join(text.split())
    for needle in needles:
        assert needle in flat, text


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic home, its private trace and a built database (shared by the checks)."""
    from tracelab.synth import generate_home

    root = tmp_path_factory.mktemp("small")
    generate_home(root / "home", sessions=3, seed=5, workers=1)
    trace = root / "trace.jsonl"
    assert invoke("collect", "--home", root / "home", "-o", trace, "--no-cache")[0] == 0
    db = root / "trace.duckdb"
    assert invoke("db", "build", trace, "-o", db)[0] == 0
    return {"home": root / "home", "trace": trace, "db": db}


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"garbage\nnot json {\n[1, 2]\n")
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), foreign)
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    return {"garbage": garbage, "foreign": foreign, "empty": empty, "folder": folder}


def test_an_output_path_that_is_a_directory_fails_before_any_work(
    tmp_path: Path, small: dict[str, Path]
) -> None:
    from tracelab.traceinput import db_cache_dir

    trace, db = small["trace"], small["db"]
    out = tmp_path / "out.jsonl"  # a directory, even with a file's suffix
    out.mkdir()
    commands = [
        ("collect", "--home", small["home"], "-o", out),
        ("sanitize", trace, "-o", out),
        ("db", "build", trace, "-o", tmp_path / "out.jsonl"),
        ("report", "-i", trace, "-o", out),
        ("validate", "-i", trace, "-o", out),
        ("export", "replay-csv", "-i", trace, "-o", out),
        ("export", "mooncake", "-i", trace, "-o", out),
        ("export", "vllm-multiturn", "--db", db, "-o", out),
    ]
    for args in commands:
        _one_error_line(*invoke(*args), f"{out} is a directory")
    assert list(out.iterdir()) == []
    # "before any work": the -i commands did not even build the trace's database
    assert not db_cache_dir().exists() or not list(db_cache_dir().iterdir())


def test_an_output_suffix_must_match_what_is_written(tmp_path: Path, small: dict[str, Path]):
    trace = small["trace"]
    cases = [
        (("db", "build", trace, "-o", tmp_path / "x.jsonl"), "DuckDB database", ".duckdb"),
        (("export", "replay-csv", "-i", trace, "-o", tmp_path / "x.parquet"), "CSV", ".csv"),
        (("export", "mooncake", "-i", trace, "-o", tmp_path / "x.csv"), "JSONL", ".jsonl"),
        (("export", "vllm-multiturn", "-i", trace, "-o", tmp_path / "x.jsonl"), "JSON", ".json"),
        (("report", "-i", trace, "-o", tmp_path / "x.pdf"), "HTML", ".html"),
        (("collect", "--home", small["home"], "-o", tmp_path / "x.json"), "trace", ".parquet"),
        (("sanitize", trace, "-o", tmp_path / "x.csv"), "trace", ".jsonl.gz"),
        (("validate", "-i", trace, "-o", tmp_path / "x.txt"), "Markdown", ".md"),
    ]
    for args, what, suffix in cases:
        _one_error_line(*invoke(*args), "this writes", what, suffix)
    assert list(tmp_path.iterdir()) == []


def test_an_output_under_a_file_is_refused(tmp_path: Path, small: dict[str, Path]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, text = invoke("db", "build", small["trace"], "-o", blocker / "sub" / "t.duckdb")
    _one_error_line(code, text, f"{blocker} is a file")


def test_db_build_refuses_what_is_not_a_trace(tmp_path: Path) -> None:
    bad = _bad_files(tmp_path)
    out = tmp_path / "t.duckdb"
    expected = {
        "garbage": "no line is a normalized step row",
        "foreign": "a Parquet file but not a trace",
        "empty": "is empty (0 bytes), not a Parquet file",
        "folder": "is a directory, not a trace file",
    }
    for name, path in bad.items():
        _one_error_line(*invoke("db", "build", path, "-o", out), str(path), expected[name])
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in bad.values())


def test_sanitize_refuses_what_is_not_a_trace(tmp_path: Path) -> None:
    """Before: garbage gave "success, 0 rows", a foreign Parquet file all-null rows."""
    bad = _bad_files(tmp_path)
    out = tmp_path / "public.jsonl"
    for name in ("garbage", "foreign", "folder"):
        _one_error_line(*invoke("sanitize", bad[name], "-o", out), str(bad[name]))
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in bad.values())


def test_sanitize_skips_foreign_records_among_steps(tmp_path: Path, small: dict[str, Path]):
    rows = list(read_rows(small["trace"]))
    mixed = tmp_path / "mixed.jsonl"
    # every real step, one foreign record in the middle, one unparseable line at the end
    lines = [orjson.dumps(r) for r in rows[:2]] + [b'{"a": 1, "b": "x"}']
    lines += [orjson.dumps(r) for r in rows[2:]] + [b"not json"]
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "public.jsonl"
    code, text = invoke("sanitize", mixed, "-o", out, "--json")
    assert code == 0, text
    report = orjson.loads(text)
    assert (report["rows_in"], report["rows_out"]) == (len(rows), len(rows))
    assert report["skipped_lines"] == 2  # the foreign record and the bad line
    assert all(r["session_id"] for r in read_rows(out))


def test_summary_input_errors_are_one_line(tmp_path: Path, small: dict[str, Path]) -> None:
    bad = _bad_files(tmp_path)
    _one_error_line(*invoke("summary", "-i", bad["empty"]), "is empty (0 bytes)")
    _one_error_line(*invoke("summary", "-i", bad["folder"]), "is a directory")
    _one_error_line(*invoke("summary", "-i", bad["foreign"]), "not a trace")
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(small["trace"].read_bytes()))
    _one_error_line(*invoke("summary", "--db", gz), "not a DuckDB database", f"-i {gz}")
    _one_error_line(*invoke("summary", "--db", small["trace"]), "not a DuckDB database")
    _one_error_line(*invoke("summary", "--db", bad["folder"]), "is a directory")
    text_db = tmp_path / "notes.duckdb"
    text_db.write_text("hello")
    _one_error_line(*invoke("summary", "--db", text_db), "not a DuckDB database")


def test_summary_json_gives_numbers_as_numbers(small: dict[str, Path]) -> None:
    code, text = invoke("summary", "--db", small["db"], "--json")
    assert code == 0, text
    trace = orjson.loads(text)["trace"]
    steps = len(list(read_rows(small["trace"])))
    tools = sum(len(r["tools"]) for r in read_rows(small["trace"]))
    assert (trace["rows"], trace["tool_calls"]) == (steps, tools)


@pytest.mark.parametrize(
    "args",
    [
        ("collect", "--workers", "0"),
        ("collect", "--workers", "-3"),
        ("collect", "--workers", "500"),
        ("synth", "-o", "h", "--workers", "0"),
        ("demo", "--sessions", "0"),
        ("demo", "--sessions", "-3"),
        ("serve", "--port", "-1"),
        ("serve", "--port", "70000"),
    ],
)
def test_counts_and_ports_out_of_range_are_refused(tmp_path: Path, args: tuple) -> None:
    result = runner.invoke(app, [*args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "is not in the range" in " ".join(result.output.split())
    assert not (tmp_path / "h").exists()


def test_serve_on_a_port_in_use_is_one_error_line(small: dict[str, Path]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = invoke("serve", "--db", small["db"], "--port", port, "--no-browser")
    _one_error_line(code, text, f"port {port} on 127.0.0.1 is already in use", "--port")
    assert "serving at" not in text


def test_audit_all_and_json_list_every_finding(tmp_path: Path) -> None:
    """1,200 rows with a private path each: 2 findings per row (a private key, a path-like
    value), 2,400 in all — more than the 1,000 listed by default."""
    path = tmp_path / "private.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"cwd": f"/home/u{i}/x"}) + b"\n" for i in range(1200)))
    code, text = invoke("audit", path, "--all")
    assert code == 1
    assert sum(line.startswith("  line ") for line in text.splitlines()) == 2400
    code, text = invoke("audit", path, "--json")
    report = orjson.loads(text)
    assert report["finding_count"] == len(report["findings"]) == 2400
    assert sorted((g["reason"], g["count"]) for g in report["groups"]) == [
        ("path-like value", 1200),
        ("private key", 1200),
    ]
    code, text = invoke("audit", path)  # grouped: counts cover all findings, only 1,000 listed
    assert "cwd: path-like value — 1,200 ×" in text and "cwd: private key — 1,200 ×" in text
    assert "Every finding with its line: --all" in text


# --- private outputs are the owner's only ---------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_outputs_are_readable_by_the_owner_only(tmp_path: Path, small: dict) -> None:
    from tracelab.paths import cache_dir
    from tracelab.traceinput import cached_db_path

    old = os.umask(0)  # the most permissive umask: the modes must not come from it
    try:
        trace, db = tmp_path / "t.jsonl.gz", tmp_path / "t.duckdb"
        assert invoke("collect", "--home", small["home"], "-o", trace, "--no-cache")[0] == 0
        assert invoke("db", "build", trace, "-o", db)[0] == 0
        assert invoke("summary", "-i", trace)[0] == 0  # builds the cached database
    finally:
        os.umask(old)
    assert _mode(trace) == 0o600 and _mode(db) == 0o600
    cached = cached_db_path(trace)
    assert _mode(cached) == 0o600
    assert _mode(cached.parent) == 0o700 and _mode(cache_dir()) == 0o700


def test_out_of_range_options_are_one_error_line(tmp_path: Path) -> None:
    """The `tracelab` command (cli.run) prints a usage error as one `error:` line, exit 2."""
    import subprocess
    import sys

    for args in (
        ["collect", "--workers", "0", "-o", str(tmp_path / "t.jsonl")],
        ["synth", "--workers", "0", "-o", str(tmp_path / "h")],
        ["demo", "--sessions", "-3"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tracelab.cli", *args], capture_output=True, text=True
        )
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)
        assert "Invalid value" in lines[0], lines
        assert "Traceback" not in done.stderr
