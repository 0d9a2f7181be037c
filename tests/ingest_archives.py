"""Archives for the ingest tests, built member by member so a test can plant exactly the
hostile entry it needs (a `../` name, an absolute path, a link, a device, a bomb)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

#: One member: (name, bytes) for a file, or a ready TarInfo / ZipInfo with its bytes.
Member = tuple[str | zipfile.ZipInfo | tarfile.TarInfo, bytes]


def tree(root: Path, prefix: str = "", only: Iterable[str] | None = None) -> list[Member]:
    """Every file under `root` as members named `<prefix><path relative to root>`;
    `only` keeps the files under those relative directories."""
    keep = tuple(only) if only is not None else None
    out: list[Member] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and (keep is None or rel.startswith(keep)):
            out.append((prefix + rel, path.read_bytes()))
    return out


def rebase(members: list[Member], old: str, new: str) -> list[Member]:
    """Rename members `<old>…` to `<new>…` (e.g. `.claude/projects/` → `projects/`)."""
    return [(new + str(name)[len(old) :], data) for name, data in members]


def make_zip(path: Path, members: Iterable[Member]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: Iterable[Member], gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for name, data in members:
            info = name if isinstance(name, tarfile.TarInfo) else tarfile.TarInfo(str(name))
            if info.isreg():
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def tar_link(name: str, target: str, hard: bool = False) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, b""


def tar_device(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, b""


def zip_symlink(name: str, target: str) -> Member:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix: the mode in external_attr counts
    info.external_attr = (0o120777 << 16) & 0xFFFF0000
    return info, target.encode()
