"""Uploads → traces and a database (tracelab.ingest): what is detected, what an archive may
not do (escape, bomb, flood), and that an uploaded home collects exactly like the home itself."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import orjson
import pytest

from conftest import CLAUDE_REAL, REAL_HOME, needs_fixtures
from ingest_archives import (
    make_tar,
    make_zip,
    rebase,
    tar_device,
    tar_link,
    tree,
    zip_symlink,
)
from rawlogs import CLAUDE_SESSION, claude_session, encode
from tracelab.collect import collect, collect_home
from tracelab.ingest import (
    STAGES,
    ArchiveLimits,
    UploadKind,
    UploadRejected,
    detect_kind,
    process_upload,
    safe_extract,
)
from tracelab.io import read_rows, write_rows
from tracelab.keys import load_or_create_key
from tracelab.privacy import audit_file
from tracelab.sanitize import sanitize_file
from tracelab.sources.discover import Home
from tracelab.synth import generate_home
from tracelab.tracedb import open_db

CLAUDE_DIR = ".claude/projects/-work-proj"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SYNTHETIC home: Claude (with a subagent and a .claude.back copy) and Codex."""
    out = tmp_path_factory.mktemp("ingest") / "home"
    generate_home(out, sessions=4, seed=11, workers=1)
    return out


@pytest.fixture(scope="module")
def rows(home: Path) -> list[dict]:
    return collect_home(home)[1]


def _steps(db: Path) -> int:
    con = open_db(db)
    try:
        return con.execute("SELECT count(*) FROM rounds").fetchone()[0]
    finally:
        con.close()


def _first(home: Path, pattern: str) -> Path:
    return next(iter(sorted(home.glob(pattern))))


def _claude_log(tmp_path: Path, name: str = "log.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(encode(claude_session(3)))
    return path


# --- detection --------------------------------------------------------------------------------


def test_detects_raw_logs_by_content_not_suffix(home: Path, tmp_path: Path) -> None:
    claude = _first(home, ".claude/projects/*/*.jsonl")
    codex = _first(home, ".codex/sessions/**/rollout-*.jsonl")
    assert detect_kind(claude) is UploadKind.CLAUDE_LOG
    assert detect_kind(codex) is UploadKind.CODEX_LOG
    # A browser upload may be called anything: the bytes decide.
    renamed = tmp_path / "upload.bin"
    shutil.copyfile(codex, renamed)
    assert detect_kind(renamed) is UploadKind.CODEX_LOG
    gz = tmp_path / "session.jsonl.gz"
    gz.write_bytes(gzip.compress(claude.read_bytes()))
    assert detect_kind(gz) is UploadKind.CLAUDE_LOG


@needs_fixtures
def test_detects_the_real_claude_log_past_its_bookkeeping_lines() -> None:
    # Its first three lines are mode / permission-mode / file-history-snapshot records.
    assert detect_kind(CLAUDE_REAL) is UploadKind.CLAUDE_LOG


def test_detects_archives(home: Path, tmp_path: Path) -> None:
    members = tree(home)
    assert detect_kind(make_zip(tmp_path / "h.zip", members)) is UploadKind.ZIP
    assert detect_kind(make_tar(tmp_path / "h.tar", members)) is UploadKind.TAR
    assert detect_kind(make_tar(tmp_path / "h.tar.gz", members, gz=True)) is UploadKind.TAR_GZ
    assert detect_kind(make_tar(tmp_path / "h.tgz", members, gz=True)) is UploadKind.TAR_GZ
    assert detect_kind(make_zip(tmp_path / "zip-named.jsonl", members)) is UploadKind.ZIP


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_detects_normalized_and_sanitized_traces(rows: list[dict], tmp_path: Path, suffix: str):
    normalized = tmp_path / f"trace{suffix}"
    write_rows(rows, normalized)
    assert detect_kind(normalized) is UploadKind.NORMALIZED
    public = tmp_path / f"trace.public{suffix}"
    sanitize_file(normalized, public, load_or_create_key())
    assert detect_kind(public) is UploadKind.SANITIZED
    # Sanitized rows whose ids are not TraceLab's keyed pseudonyms: another tool's sanitized
    # trace, such as the public dataset.
    foreign = [
        {**row, "session_id": f"claude:sess{i}", "trace_key": None}
        for i, row in enumerate(read_rows(public))
    ]
    other = tmp_path / f"dataset{suffix}"
    write_rows(foreign, other)
    assert detect_kind(other) is UploadKind.PUBLIC_DATASET


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\nnot json\n", "not a session log, trace or archive"),
        (b'{"a": 1}\n{"b": 2}\n', "none looks like a Claude Code or Codex record"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-not-deflate", "corrupt gzip"),
        (b"\x1f\x8b\x08", "corrupt gzip"),
        (b"PAR1 not really parquet PAR1", "corrupt Parquet"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not JSON lines"),
    ],
    ids=["empty", "text", "other-json", "corrupt-gzip", "cut-gzip", "bad-parquet", "binary"],
)
def test_rejects_what_it_cannot_read(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(UploadRejected, match=message) as info:
        detect_kind(path)
    assert "\n" not in str(info.value)  # one line for the page


def test_rejects_a_duckdb_file_with_advice(rows: list[dict], tmp_path: Path) -> None:
    from tracelab.tracedb import build_db

    write_rows(rows, tmp_path / "t.jsonl")
    build_db(tmp_path / "t.jsonl", tmp_path / "t.duckdb")
    with pytest.raises(UploadRejected, match=r"DuckDB database.*--db"):
        detect_kind(tmp_path / "t.duckdb")


# --- archive safety ---------------------------------------------------------------------------

LINE = encode(claude_session(2))


def _rejected(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        safe_extract(archive, dest, limits)
    assert not dest.exists()  # everything written so far is removed
    return info.value


@pytest.mark.parametrize(
    "name",
    ["../evil.jsonl", "a/../../evil.jsonl", "..\\evil.jsonl", "/tmp/evil.jsonl", "C:/x.jsonl"],
)
def test_zip_slip_is_rejected(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "slip.zip", [(f"{CLAUDE_DIR}/ok.jsonl", LINE), (name, LINE)])
    error = _rejected(archive, tmp_path / "out" / "x")
    assert "absolute path" in str(error) or "'..'" in str(error)
    assert not (tmp_path / "out" / "evil.jsonl").exists() and not (tmp_path / "evil.jsonl").exists()


def test_tar_slip_and_absolute_names_are_rejected(tmp_path: Path) -> None:
    for name in ("../evil.jsonl", "/evil.jsonl"):
        archive = make_tar(tmp_path / "slip.tar", [(name, LINE)])
        _rejected(archive, tmp_path / "out")


@pytest.mark.parametrize(
    ("link", "hard"),
    [("/etc/passwd", False), ("../../../../etc/passwd", False), ("../outside.jsonl", True)],
)
def test_tar_links_pointing_outside_are_rejected(tmp_path: Path, link: str, hard: bool) -> None:
    archive = make_tar(
        tmp_path / "links.tar",
        [tar_link(f"{CLAUDE_DIR}/s.jsonl", link, hard), (f"{CLAUDE_DIR}/s.jsonl/x.jsonl", LINE)],
    )
    error = _rejected(archive, tmp_path / "out")
    assert "link pointing outside" in str(error)


def test_links_inside_the_archive_are_skipped_never_created(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "inner.tar",
        [(f"{CLAUDE_DIR}/real.jsonl", LINE), tar_link(f"{CLAUDE_DIR}/alias.jsonl", "real.jsonl")],
    )
    report = safe_extract(archive, tmp_path / "out")
    files = [p for p in (tmp_path / "out").rglob("*") if not p.is_dir()]
    assert [p.name for p in files] == ["real.jsonl"] and not any(p.is_symlink() for p in files)
    assert (report.extracted, report.ignored) == (1, 1)
    zipped = make_zip(tmp_path / "l.zip", [zip_symlink(f"{CLAUDE_DIR}/e.jsonl", "/etc/passwd")])
    assert "link pointing outside" in str(_rejected(zipped, tmp_path / "zout"))


def test_device_files_are_rejected(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "dev.tar", [tar_device(f"{CLAUDE_DIR}/null.jsonl")])
    assert "device" in str(_rejected(archive, tmp_path / "out"))


def test_zip_bomb_hits_the_ratio_cap(tmp_path: Path) -> None:
    # 8 MiB of one repeated line deflates about 1000:1; the default cap is 200:1 past 1 MiB.
    bomb = b'{"type":"user"}\n' * (512 << 10)
    archive = make_zip(tmp_path / "bomb.zip", [(f"{CLAUDE_DIR}/bomb.jsonl", bomb)])
    assert os.path.getsize(archive) < len(bomb) / 200
    error = _rejected(archive, tmp_path / "out")
    assert error.cap == "ratio" and "200:1" in str(error)


def test_a_bomb_that_is_not_a_session_log_is_never_inflated(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "b.zip", [("big.bin", bytes(64 << 20)), (f"{CLAUDE_DIR}/s.jsonl", LINE)]
    )
    report = safe_extract(archive, tmp_path / "out")
    assert (report.extracted, report.ignored, report.bytes_written) == (1, 1, len(LINE))


def test_tar_gz_bomb_hits_the_ratio_cap_on_the_stream(tmp_path: Path) -> None:
    # The zeros are in a member we would skip: the gzip stream is still inflated, so it counts.
    archive = make_tar(tmp_path / "bomb.tgz", [("zeros.bin", bytes(16 << 20))], gz=True)
    assert _rejected(archive, tmp_path / "out").cap == "ratio"


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_member_count_cap(tmp_path: Path, fmt: str) -> None:
    members = [(f"{CLAUDE_DIR}/s{i}.jsonl", LINE) for i in range(11)]
    make = make_zip if fmt == "zip" else make_tar
    archive = make(tmp_path / f"many.{fmt}", members)
    error = _rejected(archive, tmp_path / "out", ArchiveLimits(max_members=10))
    assert error.cap == "members" and "10 members" in str(error)
    assert safe_extract(archive, tmp_path / "ok", ArchiveLimits(max_members=11)).extracted == 11


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_total_size_cap(tmp_path: Path, fmt: str) -> None:
    members = [(f"{CLAUDE_DIR}/s{i}.jsonl", os.urandom(40 << 10)) for i in range(3)]
    make = make_zip if fmt == "zip" else make_tar
    archive = make(tmp_path / f"big.{fmt}", members)
    error = _rejected(archive, tmp_path / "out", ArchiveLimits(max_total_bytes=100 << 10))
    assert error.cap == "total_bytes" and "100 KiB" in str(error)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_per_member_size_cap(tmp_path: Path, fmt: str) -> None:
    members = [
        (f"{CLAUDE_DIR}/small.jsonl", LINE),
        (f"{CLAUDE_DIR}/big.jsonl", os.urandom(200_000)),
    ]
    archive = (
        make_zip(tmp_path / "m.zip", members)
        if fmt == "zip"
        else make_tar(tmp_path / "m.tgz", members, gz=True)
    )
    error = _rejected(archive, tmp_path / "out", ArchiveLimits(max_member_bytes=100_000))
    assert error.cap == "member_bytes" and "big.jsonl" in str(error)


def test_truncated_archive_keeps_the_members_before_the_damage(home: Path, tmp_path: Path):
    members = [(f"{CLAUDE_DIR}/a.jsonl", LINE), (f"{CLAUDE_DIR}/b.jsonl", os.urandom(1 << 20))]
    whole = make_tar(tmp_path / "t.tgz", members, gz=True).read_bytes()
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(whole[: len(whole) // 2])
    report = safe_extract(cut, tmp_path / "out")
    assert (tmp_path / "out" / CLAUDE_DIR / "a.jsonl").read_bytes() == LINE
    assert report.problems and "damaged" in report.problems[-1]
    cut.write_bytes(whole[:40])  # not even the first header
    assert "corrupt or truncated" in str(_rejected(cut, tmp_path / "out2"))


# --- layout: where members go -----------------------------------------------------------------


def _collected(homes: list[Home]) -> list[tuple]:
    _report, got = collect(homes, cache=False, keep_rows=True)
    return sorted((r["trace_key"], r["output_tokens"]) for r in got)


def test_archive_of_projects_and_sessions_folders_collects_like_the_home(home: Path, tmp_path):
    only = tmp_path / "only"  # the same home without the .claude.back store
    for sub in (".claude/projects", ".codex/sessions"):
        shutil.copytree(home / sub, only / sub)
    members = rebase(tree(home, only=[".claude/projects"]), ".claude/projects/", "projects/")
    members += rebase(tree(home, only=[".codex/sessions"]), ".codex/sessions/", "sessions/")
    report = safe_extract(make_zip(tmp_path / "p.zip", members), tmp_path / "out")
    assert report.providers == {"claude": 4, "codex": 2}
    assert _collected(report.homes) == _collected([Home(only, "me")])


def test_members_without_a_store_are_placed_by_their_records(home: Path, tmp_path: Path):
    # The *contents* of ~/.claude/projects and ~/.codex/sessions, mixed in one archive.
    members = rebase(tree(home, only=[".claude/projects"]), ".claude/projects/", "")
    members += rebase(tree(home, only=[".codex/sessions"]), ".codex/sessions/", "")
    members += [("notes/todo.jsonl", b'{"task": "not a session"}\n'), ("README.md", b"hi")]
    report = safe_extract(make_zip(tmp_path / "c.zip", members), tmp_path / "out")
    assert report.providers == {"claude": 4, "codex": 2} and report.ignored == 2
    assert {p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").iterdir()} == {
        ".claude",
        ".codex",
    }


def test_homes_keep_their_owner_and_non_session_files_are_skipped(home: Path, tmp_path: Path):
    members = tree(home, prefix="alice/") + tree(home, prefix="bob/", only=[".codex"])
    members += [("alice/.codex/history.jsonl", b'{"session_id": "x"}\n')]
    report = safe_extract(make_tar(tmp_path / "h.tar", members), tmp_path / "out")
    assert [h.user for h in report.homes] == ["alice", "bob"]
    assert not (tmp_path / "out/alice/.codex/history.jsonl").exists()
    assert report.extracted == 7 + 2


# --- process_upload ---------------------------------------------------------------------------


def test_zip_of_a_home_gives_the_same_steps_as_collecting_it(home: Path, tmp_path: Path):
    direct, direct_rows = collect_home(home)
    archive = make_zip(tmp_path / "home.zip", tree(home, prefix="me/"))
    seen: list[tuple[str, float | None]] = []
    result = process_upload(archive, tmp_path / "work", lambda s, f: seen.append((s, f)))

    assert result.kind is UploadKind.ZIP
    assert result.steps == direct.rows == _steps(result.db) > 0
    assert result.files == direct.files
    assert result.sessions == len({r["session_id"] for r in direct_rows})
    assert result.tool_calls == sum(len(r["tools"] or ()) for r in direct_rows)
    assert sorted(r["trace_key"] for r in read_rows(result.normalized)) == sorted(
        r["trace_key"] for r in direct_rows
    )
    assert audit_file(result.sanitized).ok
    assert not (tmp_path / "work" / "home").exists()  # the extracted copy is gone

    stages = [s for s, _ in seen]
    assert stages == sorted(stages, key=STAGES.index)  # in order, none repeated after it ends
    assert set(stages) == set(STAGES)
    extract = [f for s, f in seen if s == "extract" and f is not None]
    assert extract == sorted(extract) and extract[-1] == 1.0 and len(extract) > 3
    assert all(f is None or 0 <= f <= 1 for _, f in seen)


def test_single_raw_log_with_bad_lines_loses_no_good_row(tmp_path: Path) -> None:
    # Invalid UTF-8 inside a line (repaired), a garbage line (skipped, counted) and a truncated
    # last line (left out): the collector's tolerance, unchanged by the upload path.
    lines = encode(claude_session(4))
    broken = lines.replace(b'"hi"', b'"h\xff\xfe"') + b"not json\n" + b'{"type": "assist'
    upload = tmp_path / "upload-7f3a.bin"
    upload.write_bytes(broken)
    direct_home = tmp_path / "direct"
    (direct_home / CLAUDE_DIR).mkdir(parents=True)
    (direct_home / CLAUDE_DIR / f"{CLAUDE_SESSION}.jsonl").write_bytes(broken)
    direct, direct_rows = collect_home(direct_home)

    result = process_upload(
        upload, tmp_path / "work", original_name=f"C:\\x\\{CLAUDE_SESSION}.jsonl"
    )
    assert result.kind is UploadKind.CLAUDE_LOG
    assert result.steps == direct.rows == 4
    assert result.skipped_lines == direct.skipped_lines == 1
    assert any("not valid JSON" in p for p in result.problems)
    sessions = {r["session_id"] for r in read_rows(result.normalized)}
    assert sessions == {r["session_id"] for r in direct_rows} == {f"claude:{CLAUDE_SESSION}"}
    # The name the user uploaded names the session (Claude's id is its file name).
    renamed = process_upload(upload, tmp_path / "w2", original_name="agent-a1b2.jsonl")
    assert {r["session_id"] for r in read_rows(renamed.normalized)} == {"claude:agent-a1b2"}


def test_normalized_trace_upload_is_sanitized_and_built(rows: list[dict], tmp_path: Path):
    upload = tmp_path / "upload.bin"  # a Parquet trace under a name the readers do not know
    write_rows(rows, tmp_path / "t.parquet")
    shutil.copyfile(tmp_path / "t.parquet", upload)
    result = process_upload(upload, tmp_path / "work")
    assert result.kind is UploadKind.NORMALIZED
    assert result.normalized is not None and result.normalized.suffix == ".parquet"
    assert result.steps == len(rows) and result.files == 0
    assert audit_file(result.sanitized).ok


def test_sanitized_upload_is_only_built(rows: list[dict], tmp_path: Path) -> None:
    write_rows(rows, tmp_path / "t.jsonl")
    public = tmp_path / "t.public.jsonl.gz"
    sanitize_file(tmp_path / "t.jsonl", public, load_or_create_key())
    result = process_upload(public, tmp_path / "work")
    assert result.kind is UploadKind.SANITIZED
    # Not sanitized again: the upload's own bytes, in the workdir (the app deletes uploads).
    assert result.normalized is None
    assert result.sanitized == tmp_path / "work" / "trace.public.jsonl.gz"
    assert result.sanitized.read_bytes() == public.read_bytes()
    public.unlink()
    assert result.steps == len(rows) == _steps(result.db)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "trace.duckdb",
        "trace.public.jsonl.gz",
    ]


def test_archive_without_session_logs_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "x.zip", [("photos/cat.jpg", b"\xff\xd8"), ("a.txt", b"x")])
    with pytest.raises(UploadRejected, match="no Claude Code or Codex session logs"):
        process_upload(archive, tmp_path / "work")


def test_logs_without_steps_are_rejected(tmp_path: Path) -> None:
    upload = tmp_path / "s.jsonl"
    upload.write_bytes(encode([{"type": "summary", "summary": "x", "leafUuid": "u"}]))
    with pytest.raises(UploadRejected, match="no LLM steps"):
        process_upload(upload, tmp_path / "work")


@needs_fixtures
def test_real_fixture_home_as_tar_gz(tmp_path: Path) -> None:
    direct, _ = collect_home(REAL_HOME)
    archive = make_tar(tmp_path / "real.tgz", tree(REAL_HOME), gz=True)
    result = process_upload(archive, tmp_path / "work")
    # The fixture README: 10 Claude API calls and 9 Codex model calls.
    assert result.steps == direct.rows == 19
    assert result.sessions == 2


def test_gzipped_raw_log_is_inflated_under_the_caps(tmp_path: Path) -> None:
    upload = tmp_path / "log.jsonl.gz"
    upload.write_bytes(gzip.compress(_claude_log(tmp_path).read_bytes()))
    assert process_upload(upload, tmp_path / "work").steps == 3
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(encode(claude_session(3)) + b"\n" * (8 << 20)))
    with pytest.raises(UploadRejected, match="compression-ratio cap"):
        process_upload(bomb, tmp_path / "work2")


def test_progress_none_is_fine_and_outputs_are_jsonl_gz(tmp_path: Path) -> None:
    result = process_upload(_claude_log(tmp_path), tmp_path / "work")
    assert result.normalized is not None
    assert [r["round_index"] for r in read_rows(result.normalized)] == [0, 1, 2]
    first = orjson.loads(gzip.decompress(result.sanitized.read_bytes()).splitlines()[0])
    assert "cwd" not in first and first["session_id"].startswith("claude:s_")


def test_a_one_row_trace_without_final_newline_is_still_a_trace(rows: list[dict], tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_bytes(orjson.dumps(rows[0]))
    assert detect_kind(path) is UploadKind.NORMALIZED
    path.write_bytes(orjson.dumps(rows[0])[:-10])  # only a truncated line: nothing readable
    with pytest.raises(UploadRejected, match="not JSON lines"):
        detect_kind(path)


@pytest.mark.parametrize(
    ("member", "provider", "where"),
    [
        ("me/.claude/projects/-p/s.jsonl", "claude", "me/.claude/projects/-p/s.jsonl"),
        (".claude.back/projects/-p/s.jsonl", "claude", ".claude.back/projects/-p/s.jsonl"),
        ("archived_sessions/rollout-x.jsonl", "codex", ".codex/archived_sessions/rollout-x.jsonl"),
        ("sessions/2026/01/02/r.jsonl", "codex", ".codex/sessions/2026/01/02/r.jsonl"),
        ("projects\\-p\\s.jsonl", "claude", ".claude/projects/-p/s.jsonl"),  # a Windows zip
        ("-p/s.jsonl", "codex", ".codex/sessions/-p/s.jsonl"),  # the records decide
        (".codex/history.jsonl", None, None),  # the collector never reads it there
        (".claude/projects/-p/notes.txt", None, None),
    ],
)
def test_layout_places_members_where_the_collector_looks(member, provider, where) -> None:
    from tracelab.ingest.layout import member_parts, place

    placement = place(member_parts(member))
    if where is None:
        assert placement is None
    else:
        assert placement is not None
        assert "/".join(placement.resolved(provider)) == where
