"""From an uploaded file to an analyzable DuckDB: the job behind the Analyze (upload) page.

Why a library function and not web code: the steps are exactly the CLI's — collect, sanitize,
db build — so they run through the same functions (`collect.collect`, `sanitize.sanitize_file`,
`tracedb.build_db`) and give the same rows as `tracelab collect` on the same home. The upload
decides where to start: raw logs run all three, a normalized trace is sanitized and built,
a sanitized trace (ours or the public dataset) is only built. Every output is written
atomically by those functions, so a failed run never leaves a half-written trace behind.

Problems of the uploaded bytes end as `UploadRejected` (one line for the user); problems
inside otherwise good logs (a truncated last line, invalid UTF-8) are kept as counts and
`problems`, exactly as the collector reports them; anything else (a full disk, a bug) bubbles.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelab.collect import collect
from tracelab.ingest.archive import ArchiveLimits, ExtractReport, inflate_gzip, safe_extract
from tracelab.ingest.errors import UploadRejected
from tracelab.ingest.sniff import Sniffed, UploadKind, sniff
from tracelab.io import TraceFormatError, atomic_path
from tracelab.keys import load_or_create_key
from tracelab.sanitize import SanitizeAuditError, sanitize_file
from tracelab.sources.discover import Home
from tracelab.tracedb import build_db, open_db

#: The stages `progress` reports, in order.
STAGES = ("detect", "extract", "collect", "sanitize", "database", "done")
#: `progress(stage, fraction)`: fraction in [0, 1], or None while a stage cannot measure it.
ProgressFn = Callable[[str, float | None], None]

NORMALIZED_NAME = "trace.jsonl.gz"
SANITIZED_NAME = "trace.public.jsonl.gz"
DB_NAME = "trace.duckdb"
HOME_DIR = "home"
UPLOAD_USER = "upload"

_SAFE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,199}\.jsonl")
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_FMT_SUFFIX = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "parquet": ".parquet"}


@dataclass
class IngestResult:
    """What an upload became: the files to download and open, and what was in them.

    `normalized` is None when the upload was already sanitized (`sanitized` is then the upload
    itself, hard-linked or copied into the workdir as `trace.public.<fmt>`; an uploaded
    normalized trace likewise becomes `trace.<fmt>`). Every path lies in the workdir, so the
    caller may delete the upload afterwards. `files` counts raw session
    files (0 for a trace upload); `skipped_lines` the unreadable lines kept out of the trace.
    """

    kind: UploadKind
    normalized: Path | None
    sanitized: Path
    db: Path
    files: int = 0
    sessions: int = 0
    steps: int = 0
    tool_calls: int = 0
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)
    extract: ExtractReport | None = None


def process_upload(
    path: Path,
    workdir: Path,
    progress: ProgressFn | None = None,
    *,
    limits: ArchiveLimits | None = None,
    key_file: Path | None = None,
    original_name: str | None = None,
    keep_extracted: bool = False,
) -> IngestResult:
    """Turn the uploaded file `path` into traces and a database under `workdir`.

    Writes `trace.jsonl.gz` (normalized, raw uploads only), `trace.public.jsonl.gz`
    (sanitized, unless the upload already is) and `trace.duckdb`. `original_name` is the
    file name the user uploaded (names a single session log); `key_file` is the sanitizing
    key (default: the user's key, as `tracelab sanitize`); the raw logs extracted to
    `workdir/home` are removed at the end unless `keep_extracted`.
    Raises `UploadRejected` for an upload TraceLab cannot or must not process.
    """
    path, workdir = Path(path), Path(workdir)
    report = _reporter(progress)
    report("detect", None)
    sniffed = sniff(path)
    report("detect", 1.0)
    workdir.mkdir(parents=True, exist_ok=True)
    result = IngestResult(
        kind=sniffed.kind,
        normalized=None,
        sanitized=workdir / SANITIZED_NAME,
        db=workdir / DB_NAME,
    )
    if sniffed.kind.is_raw:
        result.normalized = workdir / NORMALIZED_NAME
        home_root = workdir / HOME_DIR
        shutil.rmtree(home_root, ignore_errors=True)
        try:
            homes = _raw_homes(path, sniffed, home_root, limits, original_name, result, report)
            _collect(homes, home_root, result, report)
        finally:
            if not keep_extracted:
                shutil.rmtree(home_root, ignore_errors=True)
        _sanitize(result.normalized, result, key_file, report)
    elif sniffed.kind is UploadKind.NORMALIZED:
        result.normalized = _adopt(path, workdir / f"trace{_FMT_SUFFIX[sniffed.fmt or '']}")
        _sanitize(result.normalized, result, key_file, report)
    else:
        result.sanitized = _adopt(path, workdir / f"trace.public{_FMT_SUFFIX[sniffed.fmt or '']}")
    _build(result, report)
    report("done", 1.0)
    return result


#: Smallest change of a stage's fraction worth reporting (a 20,000-member zip is not 20,000
#: page updates).
PROGRESS_STEP = 0.01


def _reporter(progress: ProgressFn | None) -> ProgressFn:
    """`progress`, throttled: a stage's start, its end (1.0) and every PROGRESS_STEP between."""
    last: list[Any] = [None, None]  # stage, fraction last reported

    def report(stage: str, fraction: float | None) -> None:
        if progress is None:
            return
        prev_stage, prev = last
        if stage == prev_stage and (
            fraction == prev
            or (
                fraction is not None
                and prev is not None
                and prev <= fraction < 1.0
                and fraction - prev < PROGRESS_STEP
            )
        ):
            return
        last[:] = [stage, fraction]
        progress(stage, fraction)

    return report


# --- raw logs -----------------------------------------------------------------------------


def _raw_homes(
    path: Path,
    sniffed: Sniffed,
    home_root: Path,
    limits: ArchiveLimits | None,
    original_name: str | None,
    result: IngestResult,
    report: ProgressFn,
) -> list[Home]:
    """Lay the raw logs out as home directories the collector reads."""
    if sniffed.kind.is_archive:
        report("extract", 0.0)
        extracted = safe_extract(path, home_root, limits, lambda f: report("extract", f))
        result.extract = extracted
        result.problems.extend(extracted.problems)
        if not extracted.extracted:
            raise UploadRejected(
                f"the archive holds no Claude Code or Codex session logs "
                f"({extracted.members} member(s) looked at; expected ~/.claude/projects/**.jsonl "
                "or ~/.codex/sessions/**/rollout-*.jsonl)"
            )
        report("extract", 1.0)
        return extracted.homes
    target = home_root / _log_location(sniffed, original_name, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if sniffed.fmt == "jsonl.gz":
        inflate_gzip(path, target, limits)
    else:
        _link_or_copy(path, target)
    return [Home(home_root, UPLOAD_USER)]


def _log_location(sniffed: Sniffed, original_name: str | None, path: Path) -> Path:
    """Where one uploaded session file goes: Claude's `projects/<cwd as dir>/<session>.jsonl`
    (the session id comes from the file name, as for the agent), Codex's `sessions/…`."""
    given = re.split(r"[\\/]", original_name or "")[-1]
    given = given[: -len(".gz")] if given.endswith(".jsonl.gz") else given
    records = sniffed.records
    if sniffed.kind is UploadKind.CLAUDE_LOG:
        session = _first(records, "sessionId", _SAFE_ID_RE)
        name = _pick(given, f"{session}.jsonl" if session else None, path.name, "session.jsonl")
        cwd = _first(records, "cwd", None)
        project = re.sub(r"[^A-Za-z0-9]", "-", cwd)[:200] if cwd else UPLOAD_USER
        return Path(".claude", "projects", project, name)
    name = _pick(given, None, path.name, "rollout-upload.jsonl")
    return Path(".codex", "sessions", name)


def _first(records: tuple[dict[str, Any], ...], key: str, pattern: re.Pattern | None) -> str | None:
    for record in records:
        value = record.get(key)
        if isinstance(value, str) and value and (pattern is None or pattern.fullmatch(value)):
            return value
    return None


def _pick(*names: str | None) -> str:
    return next(n for n in names if n and _SAFE_NAME_RE.fullmatch(n))


def _link_or_copy(src: Path, dst: Path) -> None:
    """`dst` becomes `src`'s bytes, atomically: a hard link costs nothing (the upload and the
    workdir normally share a file system), else a copy."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _collect(homes: list[Home], home_root: Path, result: IngestResult, report: ProgressFn) -> None:
    report("collect", 0.0)
    collected, _rows = collect(
        homes,
        result.normalized,
        cache=False,  # an upload's temp files must not enter the user's collect cache
        progress=lambda done, total: report("collect", done / total if total else None),
    )
    result.files = collected.files
    result.skipped_lines += collected.skipped_lines
    for skipped in collected.skipped_files:
        result.problems.append(f"{_shown(skipped.path, home_root)}: {skipped.reason}")
    for file, problems in collected.file_problems.items():
        result.problems.append(f"{_shown(file, home_root)}: {'; '.join(problems)}")
    if not collected.rows:
        raise UploadRejected(
            f"found {collected.files} session file(s) but no LLM steps in them "
            "(no assistant responses with token usage)"
        )
    report("collect", 1.0)


def _shown(file: str, root: Path) -> str:
    """A path as the user knows it (relative to their home), not our temp folder."""
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return file


# --- traces -------------------------------------------------------------------------------


def _adopt(path: Path, target: Path) -> Path:
    """An uploaded trace as a file of the workdir, named by its sniffed format.

    Why not use the upload where it lies: the readers choose the format by suffix and a browser
    upload may be called anything, and the caller may delete the upload once processed while
    the result's files must stay (a hard link makes this free).
    """
    if Path(path).resolve() != target.resolve():
        _link_or_copy(path, target)
    return target


def _sanitize(src: Path, result: IngestResult, key_file: Path | None, report: ProgressFn) -> None:
    report("sanitize", None)  # sanitize_file has no progress hook: the page shows it busy
    try:
        done = sanitize_file(src, result.sanitized, load_or_create_key(key_file))
    except SanitizeAuditError as exc:
        raise UploadRejected(
            "the sanitized trace failed the privacy audit, so it was not written: "
            + (exc.report.audit.summary().splitlines()[0] if exc.report.audit else "no audit")
        ) from None
    result.skipped_lines += done.skipped_lines
    result.problems.extend(done.problems)
    report("sanitize", 1.0)


def _build(result: IngestResult, report: ProgressFn) -> None:
    report("database", None)
    try:
        built = build_db(result.sanitized, result.db)
    except TraceFormatError as exc:
        message = str(exc).replace(str(result.sanitized), result.sanitized.name)
        raise UploadRejected(message) from None
    result.steps, result.tool_calls = built.rows, built.tool_calls
    result.skipped_lines += built.skipped_lines
    if not built.rows:
        raise UploadRejected("the trace holds no step rows")
    con = open_db(result.db)
    try:
        (result.sessions,) = con.execute("SELECT count(DISTINCT session_id) FROM rounds").fetchone()
    finally:
        con.close()
    report("database", 1.0)
