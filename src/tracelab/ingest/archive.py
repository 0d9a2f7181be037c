"""Extract the session logs of an uploaded .zip / .tar / .tar.gz without trusting the archive.

Why each rule (the web app extracts archives from strangers, on the user's machine):

* **No path escapes.** Member names are validated (`layout.member_parts`: no absolute paths,
  no `..`), destinations are computed by us and re-checked to lie inside `dest`, and links are
  never created: a symlink or hardlink whose target leaves the archive, or a device file / FIFO,
  rejects the upload (a link inside it is just skipped).
* **Caps counted on the bytes actually inflated**, never on header sizes (a zip bomb lies in
  its headers): member count, total bytes written, bytes per member, and the compression ratio
  (per zip member; for a .tar.gz over the whole gzip stream, since skipped members are inflated
  too) beyond a small allowance. Hitting one stops at once and names the cap.
* **Only what matters is written**: `.jsonl` files where the collector would look for them
  (`layout.place`), so a whole-home archive costs no disk for the rest of the home.

A damaged archive keeps the members before the damage (as the collector keeps the lines
before a truncated one) and says so in `ExtractReport.problems`; with nothing before the damage
it is rejected.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tracelab.ingest.errors import UploadRejected, human_bytes
from tracelab.ingest.layout import Placement, member_parts, place
from tracelab.ingest.sniff import provider_of
from tracelab.io import atomic_path
from tracelab.sources.discover import Home

CHUNK = 1 << 20
_LINK_TARGET_MAX = 4096
DEFAULT_USER = "upload"


@dataclass(frozen=True)
class ArchiveLimits:
    """Safety caps of one extraction (defaults fit years of one person's agent logs)."""

    max_members: int = 20_000
    max_total_bytes: int = 2 << 30
    max_member_bytes: int = 512 << 20
    #: inflated : compressed; JSONL logs compress about 5-20:1, bombs 1000:1 and more
    max_ratio: float = 200.0
    #: bytes a member (or a .tar.gz stream) may inflate to before the ratio applies
    ratio_allowance: int = 1 << 20


@dataclass
class ExtractReport:
    """What `safe_extract` did: members seen, session files written, where the homes are."""

    members: int = 0
    extracted: int = 0
    ignored: int = 0
    bytes_written: int = 0
    providers: Counter = field(default_factory=Counter)
    homes: list[Home] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Damaged(Exception):
    """The archive's bytes stop making sense (truncated, corrupt); carries the reason."""


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]


class _Budget:
    """Counts inflated bytes against the caps, before they are written."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.total = 0

    def charge(
        self, name: str, member_bytes: int, n: int, compressed: int | None, dry: bool = False
    ) -> None:
        """Account `n` more bytes of member `name` (`dry`: only check them)."""
        lim = self.limits
        after = member_bytes + n
        if after > lim.max_member_bytes:
            raise UploadRejected(
                f"archive member {name!r} inflates to more than "
                f"{human_bytes(lim.max_member_bytes)} (the per-member size cap)",
                cap="member_bytes",
            )
        if self.total + n > lim.max_total_bytes:
            raise UploadRejected(
                f"the archive's session logs inflate to more than "
                f"{human_bytes(lim.max_total_bytes)} in total (the total-size cap)",
                cap="total_bytes",
            )
        bomb = after > lim.ratio_allowance and after > lim.max_ratio * max(compressed or 0, 1)
        if compressed is not None and bomb:
            raise _ratio_rejection(f"archive member {name!r}", lim)
        if not dry:
            self.total += n


def _ratio_rejection(what: str, lim: ArchiveLimits) -> UploadRejected:
    return UploadRejected(
        f"{what} expands more than {lim.max_ratio:g}:1 (the compression-ratio cap; "
        "this looks like a zip bomb)",
        cap="ratio",
    )


class _Extraction:
    """One run: the destination, the staging dir, the homes found, the report."""

    def __init__(self, dest: Path, staging: Path, limits: ArchiveLimits, size: int) -> None:
        self.archive_bytes = size
        self.dest = dest
        self.real_dest = os.path.realpath(dest)
        self.staging = staging
        self.limits = limits
        self.budget = _Budget(limits)
        self.report = ExtractReport()
        self.homes: dict[tuple[str, ...], Home] = {}

    def count_member(self) -> None:
        self.report.members += 1
        if self.report.members > self.limits.max_members:
            raise self.too_many()

    def too_many(self) -> UploadRejected:
        return UploadRejected(
            f"the archive has more than {self.limits.max_members:,} members (the member-count cap)",
            cap="members",
        )

    def check_link(self, name: str, parts: tuple[str, ...], target: str, relative: bool) -> None:
        """Reject a link that points outside the archive; skip one that does not."""
        unified = target.replace("\\", "/")
        base = list(parts[:-1]) if relative else []
        escapes = unified.startswith("/") or bool(unified[1:2] == ":")
        for part in unified.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not base:
                    escapes = True
                    break
                base.pop()
            else:
                base.append(part)
        if escapes:
            raise UploadRejected(
                f"archive member {name!r} is a link pointing outside the archive ({target!r}); "
                "TraceLab does not extract links — archive ~/.claude/projects and "
                "~/.codex/sessions instead"
            )
        self.report.ignored += 1

    def write(
        self,
        name: str,
        placement: Placement,
        read: Callable[[int], bytes],
        compressed: int | None,
    ) -> None:
        """Stream one member into staging under the caps, then move it where it belongs."""
        fd, tmp_name = tempfile.mkstemp(dir=self.staging, suffix=".jsonl")
        tmp = Path(tmp_name)
        written = 0
        damage: _Damaged | None = None
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    try:
                        chunk = read(CHUNK)
                    except _Damaged as exc:
                        damage = exc
                        break
                    if not chunk:
                        break
                    self.budget.charge(name, written, len(chunk), compressed)
                    out.write(chunk)
                    written += len(chunk)
            if damage is not None:
                self.report.problems.append(f"{name}: damaged ({damage}); kept what was readable")
            self._settle(name, placement, tmp, written)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if damage is not None and not isinstance(damage, _MemberDamaged):
            raise damage

    def _settle(self, name: str, placement: Placement, tmp: Path, size: int) -> None:
        provider = placement.provider or (provider_of(tmp) if size else None)
        if provider is None:
            self.report.ignored += 1
            return
        parts = placement.resolved(provider)
        final = self.dest.joinpath(*parts)
        if not os.path.realpath(final.parent).startswith(self.real_dest + os.sep):
            raise UploadRejected(f"archive member {name!r} would land outside the upload folder")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise UploadRejected(
                f"archive member {name!r} clashes with another member's path"
            ) from None
        self.report.extracted += 1
        self.report.bytes_written += size
        self.report.providers[provider] += 1
        home = placement.home
        if home not in self.homes:
            user = home[-1] if home else DEFAULT_USER
            self.homes[home] = Home(self.dest.joinpath(*home), user)

    def finish(self) -> ExtractReport:
        self.report.homes = [self.homes[k] for k in sorted(self.homes)]
        return self.report


class _MemberDamaged(_Damaged):
    """Only this member is bad (a zip CRC error): later members can still be read."""


# --- zip ------------------------------------------------------------------------------------


def _zip_read(fh: IO[bytes]) -> Callable[[int], bytes]:
    def read(n: int) -> bytes:
        try:
            return fh.read(n)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise _MemberDamaged(_why(exc)) from None

    return read


def _extract_zip(archive: Path, run: _Extraction, progress: Callable[[float], None] | None):
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UploadRejected(f"not a readable zip archive: {_why(exc)}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > run.limits.max_members:  # the central directory says so: fail early
            raise run.too_many()
        for done, info in enumerate(infos, 1):
            run.count_member()
            _zip_member(zf, info, run)
            if progress is not None:
                progress(done / len(infos))


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, run: _Extraction) -> None:
    name = info.filename
    parts = member_parts(name)
    # File types live in the Unix mode; other systems' attribute bits mean something else.
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if info.is_dir():
        run.report.ignored += 1
        return
    if kind == stat.S_IFLNK:
        try:
            with zf.open(info) as fh:
                target = fh.read(_LINK_TARGET_MAX).decode("utf-8", "replace")
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, OSError):
            run.report.problems.append(f"{name}: a link whose target is unreadable; skipped")
            run.report.ignored += 1  # never created, so it cannot lead anywhere
            return
        run.check_link(name, parts, target, relative=True)
        return
    if kind and kind != stat.S_IFREG:
        raise UploadRejected(f"archive member {name!r} is a device file, FIFO or socket")
    placement = place(parts)
    if placement is None:
        run.report.ignored += 1
        return
    if info.flag_bits & 0x1:
        raise UploadRejected(f"archive member {name!r} is encrypted; upload it unencrypted")
    try:
        fh = zf.open(info)
    except NotImplementedError as exc:
        raise UploadRejected(f"archive member {name!r}: {_why(exc)}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        run.report.problems.append(f"{name}: unreadable ({_why(exc)}); skipped")
        run.report.ignored += 1
        return
    with fh:
        # A header may overstate its compressed size to pass the ratio cap: the file bounds it.
        compressed = min(info.compress_size, run.archive_bytes)
        run.write(name, placement, _zip_read(fh), compressed)


# --- tar ------------------------------------------------------------------------------------


class _Inflating:
    """The tar byte stream (gunzipped if needed), counted: the ratio cap applies to the whole
    gzip stream, because members we skip are inflated too."""

    def __init__(self, raw: IO[bytes], gz: bool, limits: ArchiveLimits) -> None:
        self.raw = raw
        self.gz = gz
        self.inner: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        self.limits = limits
        self.inflated = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.inner.read(n)
        except (OSError, EOFError, zlib.error) as exc:
            raise _Damaged(_why(exc)) from None
        self.inflated += len(data)
        lim = self.limits
        out = self.inflated
        if self.gz and out > lim.ratio_allowance and out > lim.max_ratio * max(self.raw.tell(), 1):
            raise _ratio_rejection("the .tar.gz archive", lim)
        return data


def _extract_tar(
    archive: Path, gz: bool, run: _Extraction, progress: Callable[[float], None] | None
) -> None:
    size = max(archive.stat().st_size, 1)
    with open(archive, "rb") as raw:
        stream = _Inflating(raw, gz, run.limits)
        try:
            tf = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 (closed below)
        except (tarfile.TarError, EOFError) as exc:
            raise _Damaged(_why(exc)) from None
        with tf:
            while True:
                try:
                    member = tf.next()
                except (tarfile.TarError, _Damaged, EOFError) as exc:
                    raise _Damaged(_why(exc)) from None
                if member is None:
                    break
                run.count_member()
                _tar_member(tf, member, run)
                if progress is not None:
                    progress(min(raw.tell() / size, 1.0))


def _tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo, run: _Extraction) -> None:
    name = member.name
    parts = member_parts(name)
    if member.issym() or member.islnk():
        run.check_link(name, parts, member.linkname, relative=member.issym())
        return
    if member.ischr() or member.isblk() or member.isfifo():
        raise UploadRejected(f"archive member {name!r} is a device file or FIFO")
    placement = place(parts) if member.isfile() else None
    if placement is None:
        run.report.ignored += 1
        return
    # The header's size only lets us fail early; the bytes are counted while streaming.
    run.budget.charge(name, 0, min(member.size, run.limits.max_member_bytes + 1), None, dry=True)
    fh = tf.extractfile(member)
    if fh is None:
        run.report.ignored += 1
        return

    def read(n: int) -> bytes:
        try:
            return fh.read(n)
        except (tarfile.TarError, EOFError) as exc:
            raise _Damaged(_why(exc)) from None

    run.write(name, placement, read, None)


# --- the entry point --------------------------------------------------------------------------


def safe_extract(
    archive: Path,
    dest: Path,
    limits: ArchiveLimits | None = None,
    progress: Callable[[float], None] | None = None,
) -> ExtractReport:
    """Extract the session logs of a .zip / .tar / .tar.gz `archive` into `dest`.

    `dest` must not exist or be empty. Members are laid out as homes the collector reads
    (`ExtractReport.homes`). `progress(fraction)` follows members (zip) or bytes read (tar).
    Raises `UploadRejected` — after removing everything it wrote — on a path escape, an
    escaping link, a device file, a cap, or an archive unreadable from its first byte.
    """
    archive, dest = Path(archive), Path(dest)
    limits = limits or ArchiveLimits()
    with open(archive, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        kind = "zip"
    elif head.startswith(b"\x1f\x8b"):
        kind = "tar.gz"
    elif head[257:262] == b"ustar":
        kind = "tar"
    else:
        raise UploadRejected("not a .zip, .tar or .tar.gz archive")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest}: extraction folder is not empty")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    run = _Extraction(dest, staging, limits, archive.stat().st_size)
    try:
        try:
            if kind == "zip":
                _extract_zip(archive, run, progress)
            else:
                _extract_tar(archive, kind == "tar.gz", run, progress)
        except _Damaged as exc:
            if not run.report.extracted:
                raise UploadRejected(f"corrupt or truncated {kind} archive: {exc}") from None
            run.report.problems.append(
                f"the archive is damaged after {run.report.members} member(s) ({exc}); "
                "kept the session logs before the damage"
            )
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run.finish()


def inflate_gzip(src: Path, dst: Path, limits: ArchiveLimits | None = None) -> int:
    """Decompress a gzipped upload (a raw log someone gzipped) into `dst` under the same
    per-member, total and ratio caps as an archive member; returns the bytes written.

    A stream that breaks off keeps what was decompressed before the damage (the collector
    then stops at the last complete line); one that is unreadable from the start is rejected.
    """
    limits = limits or ArchiveLimits()
    budget = _Budget(limits)
    compressed = Path(src).stat().st_size
    written = 0
    with gzip.open(src, "rb") as fin, atomic_path(Path(dst)) as tmp, open(tmp, "wb") as out:
        while True:
            try:
                chunk = fin.read(CHUNK)
            except (OSError, EOFError, zlib.error) as exc:
                if not written:
                    raise UploadRejected(f"corrupt gzip data: {_why(exc)}") from None
                break
            if not chunk:
                break
            budget.charge(Path(src).name, written, len(chunk), compressed)
            out.write(chunk)
            written += len(chunk)
    return written
