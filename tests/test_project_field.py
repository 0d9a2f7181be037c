"""The `project` field is the session's working directory (issue 15).

Claude: the `cwd` the records carry, else the project folder name decoded back to a path when
that path exists, else the folder name itself. Codex: `session_meta`'s `cwd`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rawlogs import (
    c_user,
    claude_path,
    claude_session,
    codex_path,
    codex_session,
    run,
    write,
)
from tracelab.sources.claude import decode_project_dir


def _without_cwd(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k != "cwd"} for line in lines]


def test_claude_project_is_the_records_cwd(tmp_path: Path) -> None:
    write(claude_path(tmp_path), claude_session(2))  # every record says cwd "/work/proj"
    _, rows = run(tmp_path)
    assert [r["project"] for r in rows] == ["/work/proj", "/work/proj"]


def test_claude_project_first_cwd_wins(tmp_path: Path) -> None:
    lines = claude_session(2)
    first = next(i for i, line in enumerate(lines) if "cwd" in line)
    lines[first] = {**lines[first], "cwd": "/elsewhere"}  # the session started there
    write(claude_path(tmp_path), lines)
    _, rows = run(tmp_path)
    assert {r["project"] for r in rows} == {"/elsewhere"}


def test_claude_project_without_cwd_decodes_an_existing_folder(tmp_path: Path) -> None:
    # a real directory with no '-' in its path decodes back exactly (pytest's tmp_path has
    # '-' in it; mkdtemp's names do not)
    workdir = Path(tempfile.mkdtemp(prefix="tlproj", dir="/tmp"))
    try:
        assert "-" not in str(workdir)
        folder = str(workdir).replace("/", "-")
        write(claude_path(tmp_path, project=folder), _without_cwd(claude_session(1)))
        _, rows = run(tmp_path)
        assert rows[0]["project"] == str(workdir)
    finally:
        workdir.rmdir()


def test_claude_project_without_cwd_keeps_an_ambiguous_folder_name(tmp_path: Path) -> None:
    # "/nonexistent/my/app" does not exist: the name stays as it is
    folder = "-nonexistent-my-app"
    write(claude_path(tmp_path, project=folder), _without_cwd(claude_session(1)))
    _, rows = run(tmp_path)
    assert rows[0]["project"] == folder
    assert decode_project_dir(None) is None
    assert decode_project_dir("plain") == "plain"


def test_claude_cwd_of_a_bookkeeping_record_is_not_the_project(tmp_path: Path) -> None:
    # only conversation records name the working directory
    lines = [{"type": "summary", "cwd": "/not/this"}, *claude_session(1)]
    write(claude_path(tmp_path), lines)
    _, rows = run(tmp_path)
    assert rows[0]["project"] == "/work/proj"
    assert c_user("x")["cwd"] == "/work/proj"


def test_codex_project_is_the_session_meta_cwd(tmp_path: Path) -> None:
    b = codex_session(2)
    b.lines[0]["payload"]["cwd"] = "/repo/a"  # session_meta; turn_context keeps "/work/proj"
    write(codex_path(tmp_path), b.data())
    _, rows = run(tmp_path)
    assert [r["project"] for r in rows] == ["/repo/a", "/repo/a"]
    assert {r["cwd"] for r in rows} == {"/work/proj"}  # the turn's cwd stays in `cwd`
