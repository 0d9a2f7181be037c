"""The pool on disk: one Parquet file per accepted contribution, plus a manifest.

Layout of a pool folder::

    manifest.json            the truth: every contribution, active or withdrawn
    contributions/<id>.parquet   the rows of one active contribution (public schema)
    uploads/<upload id>/     resumable uploads in progress (see `uploads`)
    staging/                 temp files of commits in progress
    pool.key                 the secret behind withdrawal tokens (0600)
    tokens.json              contributor tokens, stored as SHA-256 hashes (see `access`)
    audit.log                one JSON line per request outcome (see `access`)

Why a commit is crash-safe: the Parquet file is written to `staging/`, fsynced, renamed into
`contributions/` and the directory fsynced; only then is the manifest replaced the same way
(temp, fsync, rename, fsync). A contribution exists when, and only when, the manifest names
it, so a kill at any moment leaves the pool as it was before or after the contribution. On
start `recover` deletes what no manifest entry owns (a renamed file whose manifest update never
happened, the file of a withdrawn contribution, staging leftovers).

One process owns a pool at a time (an exclusive `flock` on `pool.lock`); inside it, commits
and withdrawals are serialized by `commit_lock`, so the dedup decisions they rely on stay
true, while readers of the manifest (`lock`) never wait for a commit's fsyncs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tracelab.pool.faults import crash_point

MANIFEST_FORMAT = "tracelab-pool/1"
_TOKEN_MSG = b"tracelab/pool/withdraw/v1\x00"


class PoolError(RuntimeError):
    """The pool folder cannot be used (locked by another process, unreadable manifest)."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def durable_write(target: Path, data: bytes, mode: int = 0o644) -> None:
    """temp file beside `target`, fsync, rename, fsync the directory."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(target.parent)


@dataclass
class Recovery:
    """What `Pool.recover` cleaned on start."""

    removed_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)


class Pool:
    """A pool folder: read the manifest, commit and withdraw contributions atomically."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            if not create:
                raise PoolError(f"{self.root}: no pool here (no such directory)")
            self.root.mkdir(parents=True, mode=0o700)
        for sub in ("contributions", "uploads", "staging"):
            (self.root / sub).mkdir(exist_ok=True, mode=0o700)
        self.lock = threading.RLock()
        #: held by a dedup decision and its commit, and by a withdrawal: what one decides on
        #: (the pool's fingerprints and contents) cannot change under it
        self.commit_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._fingerprints: set[str] | None = None
        self._manifest = self._read_manifest()

    # --- paths ----------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def contributions_dir(self) -> Path:
        return self.root / "contributions"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    def parquet_path(self, contribution_id: str) -> Path:
        return self.contributions_dir / f"{contribution_id}.parquet"

    # --- ownership --------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the pool for this process (a server, a release build reading a snapshot)."""
        fd = os.open(self.root / "pool.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PoolError(f"{self.root}: another process (a pool server?) holds it") from None
        self._lock_fd = fd

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- manifest ---------------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            return {"format": MANIFEST_FORMAT, "contributions": []}
        except orjson.JSONDecodeError as exc:
            raise PoolError(f"{self.manifest_path}: not valid JSON ({exc})") from None
        if data.get("format") != MANIFEST_FORMAT:
            raise PoolError(f"{self.manifest_path}: unknown format {data.get('format')!r}")
        return data

    def reload(self) -> None:
        with self.commit_lock, self.lock:
            self._manifest = self._read_manifest()
            self._fingerprints = None

    def contributions(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Manifest entries in commit order (a copy)."""
        with self.lock:
            entries = self._manifest["contributions"]
            return [dict(e) for e in entries if e["status"] == "active" or not active_only]

    def get(self, contribution_id: str) -> dict[str, Any] | None:
        with self.lock:
            for entry in self._manifest["contributions"]:
                if entry["id"] == contribution_id:
                    return dict(entry)
        return None

    def by_content(self, sha256: str) -> dict[str, Any] | None:
        """The active contribution whose upload had exactly these bytes."""
        with self.lock:
            for entry in self._manifest["contributions"]:
                if entry["status"] == "active" and entry["content_sha256"] == sha256:
                    return dict(entry)
        return None

    def fingerprints(self) -> set[str]:
        """Session fingerprints of every active contribution."""
        with self.lock:
            return set(self._fingerprint_set())

    def has_fingerprint(self, fingerprint: str) -> bool:
        """Whether an active contribution holds a session with this fingerprint (a set kept
        beside the manifest: no scan of every entry per session)."""
        with self.lock:
            return fingerprint in self._fingerprint_set()

    def _fingerprint_set(self) -> set[str]:
        if self._fingerprints is None:
            self._fingerprints = {
                fp
                for entry in self._manifest["contributions"]
                if entry["status"] == "active"
                for fp in entry["fingerprints"]
            }
        return self._fingerprints

    def _write_manifest(self, manifest: dict[str, Any], added: list[str] | None = None) -> None:
        """Replace the manifest on disk, then in memory. The caller holds `commit_lock` (one
        writer); readers (`self.lock`) are not held up by the fsyncs and see the manifest
        before or after, never between. `added`: the only fingerprints that changed."""
        data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        crash_point("manifest.before_replace")
        durable_write(self.manifest_path, data + b"\n", mode=0o600)
        with self.lock:
            self._manifest = manifest
            if added is not None and self._fingerprints is not None:
                self._fingerprints.update(added)  # kept up to date, not rebuilt per commit
            else:
                self._fingerprints = None

    # --- commit / withdraw ------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        return "ctb_" + secrets.token_hex(8)

    @contextlib.contextmanager
    def staged_file(self, suffix: str) -> Iterator[Path]:
        """A fresh path in `staging/`, removed afterwards unless it was committed."""
        path = self.staging_dir / f"{secrets.token_hex(8)}{suffix}"
        try:
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def commit(self, staged: Path, entry: dict[str, Any]) -> dict[str, Any]:
        """Move a staged Parquet file into the pool and record `entry` in the manifest."""
        with self.commit_lock:
            target = self.parquet_path(entry["id"])
            entry = {**entry, "status": "active", "file": f"contributions/{target.name}"}
            fsync_file(staged)
            crash_point("commit.before_rename")
            os.replace(staged, target)
            crash_point("commit.after_rename")
            fsync_dir(self.contributions_dir)
            crash_point("commit.before_manifest")
            with self.lock:
                manifest = {**self._manifest}
                manifest["contributions"] = [*self._manifest["contributions"], entry]
            self._write_manifest(manifest, added=list(entry.get("fingerprints", ())))
            crash_point("commit.after_manifest")
            return dict(entry)

    def withdrawal_token(self, contribution_id: str) -> str:
        """HMAC of the id under the pool's secret: recomputed, never stored."""
        digest = hmac.new(self._secret(), _TOKEN_MSG + contribution_id.encode(), hashlib.sha256)
        return "wd_" + digest.hexdigest()

    def check_withdrawal_token(self, contribution_id: str, token: str) -> bool:
        return hmac.compare_digest(self.withdrawal_token(contribution_id), str(token))

    def withdraw(self, contribution_id: str) -> dict[str, Any]:
        """Mark a contribution withdrawn (its fingerprints dropped), then delete its file."""
        with self.commit_lock:
            entries = self.contributions(active_only=False)
            index = next((i for i, e in enumerate(entries) if e["id"] == contribution_id), None)
            if index is None:
                raise KeyError(contribution_id)
            entry = entries[index]
            if entry["status"] == "withdrawn":
                return dict(entry)
            updated = {
                **entry,
                "status": "withdrawn",
                "withdrawn_at": utc_now(),
                "fingerprints": [],
                "users": [],
            }
            manifest = {**self._manifest, "contributions": [*entries]}
            manifest["contributions"][index] = updated
            crash_point("withdraw.before_manifest")
            self._write_manifest(manifest)
            crash_point("withdraw.after_manifest")
            with contextlib.suppress(FileNotFoundError):
                self.parquet_path(contribution_id).unlink()
            return dict(updated)

    def _secret(self) -> bytes:
        path = self.root / "pool.key"
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            with self.lock:
                if not path.exists():
                    durable_write(path, secrets.token_bytes(32).hex().encode() + b"\n", 0o600)
            return bytes.fromhex(path.read_text().strip())

    # --- start-up -------------------------------------------------------------------------

    def recover(self) -> Recovery:
        """Delete what no manifest entry owns; report active entries whose file is missing."""
        report = Recovery()
        with self.commit_lock, self.lock:
            self._manifest = self._read_manifest()
            self._fingerprints = None
            active = {e["id"] for e in self._manifest["contributions"] if e["status"] == "active"}
            for path in sorted(self.contributions_dir.iterdir()):
                if path.suffix == ".parquet" and path.stem in active:
                    continue
                _remove(path)
                report.removed_files.append(f"contributions/{path.name}")
            for path in sorted(self.staging_dir.iterdir()):
                _remove(path)
                report.removed_files.append(f"staging/{path.name}")
            for path in sorted(self.root.glob(".*.tmp")):
                _remove(path)
                report.removed_files.append(path.name)
            for cid in sorted(active):
                if not self.parquet_path(cid).is_file():
                    report.missing_files.append(f"contributions/{cid}.parquet")
        return report


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
