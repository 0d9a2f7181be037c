"""Build a release of the public dataset from the pool (`tracelab pool release`).

A release folder holds, in the public dataset's format (spec `public-dataset.md`):

* `syfi_coding_trace.jsonl.gz` — every row of every active contribution, contributions in
  commit order and rows in their stored order, keys in schema order, a gzip header with no
  name and mtime 0: the same pool and version give the same bytes.
* `syfi_coding_trace.duckdb` — built from that file by `tracedb.build_db`.
* `DATASHEET.md` — counts, window, model mix, users, licence, how the data was collected;
  computed from the rows written, dated by the newest included commit (never the wall clock).
* `SHA256SUMS` — the JSONL.gz and the datasheet. DuckDB files are not byte-reproducible
  (DuckDB writes random bytes into every file's headers; two builds of the same rows differ in
  ~100 bytes), so the database's checksum is in `syfi_coding_trace.duckdb.sha256`, beside it,
  and the reproducible part of the release is what SHA256SUMS lists.

Withdrawn contributions are absent: only the manifest's active entries are read. The release
is built in a hidden folder beside `DIR` and renamed into place when complete, so a killed
build leaves no half release (leftovers are removed by the next build).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelab.io import deterministic_gzip, dumps_row, read_rows
from tracelab.pool.faults import crash_point
from tracelab.pool.storage import Pool, PoolError, fsync_dir

BASENAME = "syfi_coding_trace"
LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,39}")


@dataclass
class ReleaseReport:
    """What a release holds (all computed from the rows written)."""

    version: str
    out_dir: Path
    contributions: int = 0
    contributors: int = 0
    rows: int = 0
    sessions: int = 0
    tool_calls: int = 0
    users: int = 0
    first: str | None = None
    last: str | None = None
    as_of: str | None = None
    models: Counter = field(default_factory=Counter)
    providers: Counter = field(default_factory=Counter)
    withdrawn: int = 0
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "out_dir": str(self.out_dir),
            "contributions": self.contributions,
            "contributors": self.contributors,
            "rows": self.rows,
            "sessions": self.sessions,
            "tool_calls": self.tool_calls,
            "users": self.users,
            "window": [self.first, self.last],
            "as_of": self.as_of,
            "models": dict(self.models.most_common()),
            "providers": dict(sorted(self.providers.items())),
            "withdrawn_excluded": self.withdrawn,
            "sha256": self.files,
        }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _write_jsonl(pool: Pool, entries: list[dict], target: Path, report: ReleaseReport) -> None:
    sessions: set[tuple[str, str]] = set()
    users: set[str] = set()
    with deterministic_gzip(open(target, "wb"), compresslevel=9) as out:
        for entry in entries:
            path = pool.parquet_path(entry["id"])
            if not path.is_file():
                raise PoolError(f"{path}: missing (the pool changed during the release?)")
            for row in read_rows(path):
                out.write(dumps_row(row))
                report.rows += 1
                report.tool_calls += len(row.get("tools") or ())
                sessions.add((row.get("provider"), row.get("session_id")))
                if row.get("user"):
                    users.add(row["user"])
                report.models[row.get("model") or "(none)"] += 1
                report.providers[row.get("provider") or "(none)"] += 1
                for event in row.get("timing_events") or ():
                    stamp = event.get("timestamp")
                    if stamp:
                        report.first = stamp if report.first is None else min(report.first, stamp)
                        report.last = stamp if report.last is None else max(report.last, stamp)
    report.sessions = len(sessions)
    report.users = len(users)


def datasheet(report: ReleaseReport) -> str:
    """The release's datasheet (Markdown), from the report's numbers only."""
    lines = [
        f"# TraceLab public coding-agent trace — release {report.version}",
        "",
        "## Contents",
        "",
        f"- steps (rows): {report.rows:,}",
        f"- sessions: {report.sessions:,}",
        f"- tool calls: {report.tool_calls:,}",
        f"- contributions: {report.contributions:,} from {report.contributors:,} contributors "
        f"({report.users:,} distinct user pseudonyms)",
        f"- window: {report.first or '-'} to {report.last or '-'} (UTC)",
        f"- pool state as of: {report.as_of or '-'} (newest included contribution)",
        f"- withdrawn contributions excluded: {report.withdrawn:,}",
        "",
        "## Providers",
        "",
        "| provider | steps |",
        "|---|---:|",
        *(f"| {p} | {n:,} |" for p, n in sorted(report.providers.items())),
        "",
        "## Model mix",
        "",
        "| model | steps | share |",
        "|---|---:|---:|",
        *(
            f"| {m} | {n:,} | {100 * n / max(report.rows, 1):.1f}% |"
            for m, n in sorted(report.models.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        "",
        "## Licence",
        "",
        f"{LICENCE}. Every contributor consented to this licence when contributing.",
        "",
        "## How it was collected",
        "",
        "Developers ran `tracelab contribute` on traces of their own Claude Code and Codex CLI "
        "sessions. Each trace was sanitized on the contributor's machine (allow-listed fields, "
        "keyed HMAC pseudonyms for users, projects, sessions, rounds and tool calls; no prompts, "
        "tool inputs or outputs, paths or host names) and audited before upload. The pool "
        "server validated every upload again (schema, allow-list, privacy audit), dropped "
        "sessions already in the pool (fingerprints of each session's token series), and "
        "removed contributions their contributors withdrew.",
        "",
        "## Files",
        "",
        f"- `{BASENAME}.jsonl.gz`: one JSON object per step (normalized format, sanitized); "
        "`round_pk` is the 1-based line number.",
        f"- `{BASENAME}.duckdb`: the same rows as tables `rounds`, `tool_calls`, "
        "`timing_events` (built with `tracelab db build`; its checksum is in "
        f"`{BASENAME}.duckdb.sha256`, since DuckDB files are not byte-reproducible).",
        "- `SHA256SUMS`: checksums of the reproducible files (`sha256sum -c SHA256SUMS`).",
        "",
    ]
    return "\n".join(lines)


def build_release(pool_dir: Path, version: str, out_dir: Path) -> ReleaseReport:
    """Write release `version` of the pool into `out_dir` (replaced only when complete)."""
    from tracelab.tracedb import build_db

    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"version {version!r}: use letters, digits, '.', '_', '-' (e.g. v0.1.0)")
    pool = Pool(pool_dir, create=False)
    if not pool.manifest_path.is_file():
        raise PoolError(f"{pool.root}: no manifest.json; is this a pool folder?")
    all_entries = pool.contributions(active_only=False)
    entries = [e for e in all_entries if e["status"] == "active"]
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for old in out_dir.parent.glob(f".{out_dir.name}.release-*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = out_dir.parent / f".{out_dir.name}.release-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o755)
    report = ReleaseReport(version=version, out_dir=out_dir)
    report.contributions = len(entries)
    report.contributors = len({e["contributor"] for e in entries})
    report.withdrawn = len(all_entries) - len(entries)
    report.as_of = max((e["committed_at"] for e in entries), default=None)
    try:
        jsonl = staging / f"{BASENAME}.jsonl.gz"
        _write_jsonl(pool, entries, jsonl, report)
        crash_point("release.after_jsonl")
        db = staging / f"{BASENAME}.duckdb"
        build_db(jsonl, db)
        crash_point("release.after_db")
        (staging / "DATASHEET.md").write_text(datasheet(report), encoding="utf-8")
        for name in (jsonl.name, "DATASHEET.md"):
            report.files[name] = _sha256(staging / name)
        sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(report.files.items()))
        (staging / "SHA256SUMS").write_text(sums, encoding="ascii")
        db_digest = _sha256(db)
        (staging / f"{db.name}.sha256").write_text(f"{db_digest}  {db.name}\n", encoding="ascii")
        report.files[db.name] = db_digest
        for path in staging.iterdir():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        crash_point("release.before_swap")
        _swap_in(staging, out_dir)
        crash_point("release.after_swap")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Rename the complete release over `out_dir` (the old one removed after)."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.release-old-{secrets.token_hex(4)}"
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    fsync_dir(out_dir.parent)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
