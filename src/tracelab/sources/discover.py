"""Find the raw session files of every agent store in one or more home directories.

Order is part of the contract (spec §5): per home `.claude`, `.claude.back`, then `.codex`, files
in sorted path order, because dedup keeps the first row of each `trace_key`. Symlinks are never
followed out of their store, so a link to `/etc` or another user's home is reported, not read.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tracelab.sources.common import SourceContext

#: (store name, subdirectory with sessions, provider), in scan order.
STORE_LAYOUT = (
    (".claude", "projects", "claude"),
    (".claude.back", "projects", "claude"),
    (".codex", "sessions", "codex"),
    (".codex", "archived_sessions", "codex"),
)


@dataclass(frozen=True)
class Home:
    """A home directory to scan and the user name its rows are attributed to."""

    path: Path
    user: str


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def current_home() -> Home:
    return Home(Path.home(), getpass.getuser())


def home_for(path: Path) -> Home:
    """A home given by path; its user is the directory name (as in /home/<user>)."""
    path = Path(path).expanduser()
    return Home(path, path.resolve().name or "root")


def distinct_users(homes: list[Home]) -> list[Home]:
    """Homes whose folders share a name (`/a/alice`, `/b/alice`) are different people: each
    such user becomes `<name>#<6 hex of the home's absolute path>`. A name no other home uses,
    and the same home given twice, keep the plain name."""
    paths: dict[str, set[str]] = {}
    for home in homes:
        paths.setdefault(home.user, set()).add(_identity(home.path))
    clashing = {user for user, found in paths.items() if len(found) > 1}
    if not clashing:
        return homes
    out = []
    for home in homes:
        if home.user in clashing:
            digest = hashlib.sha256(_identity(home.path).encode("utf-8", "surrogateescape"))
            home = Home(home.path, f"{home.user}#{digest.hexdigest()[:6]}")
        out.append(home)
    return out


def _identity(path: Path) -> str:
    return os.path.realpath(path)


def all_homes(root: Path) -> list[Home]:
    """Every directory under `root` that holds an agent store, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"home root {root} is not a directory")
    homes = []
    for entry in sorted(root.iterdir()):
        try:
            if entry.is_dir() and any((entry / store).is_dir() for store, *_ in STORE_LAYOUT):
                homes.append(Home(entry, entry.name))
        except PermissionError:
            continue
    return homes


def _walk_jsonl(root: Path, skipped: list[SkippedFile]) -> list[str]:
    """Sorted `.jsonl` files below `root`; links that leave `root` are skipped and reported.

    Sorted as paths (component by component, as `sorted(Path…)` would), not as strings, with
    the `.jsonl` suffix left out of the key, so a Claude session file `<s>.jsonl` comes before
    its own subagent files `<s>/subagents/…`: a step a side-question agent replays from its
    parent is then a replay of the parent's first occurrence (spec §7), not the other way round.
    """
    found: list[str] = []
    real_root = os.path.realpath(root)

    def onerror(err: OSError) -> None:
        skipped.append(SkippedFile(str(err.filename), f"unreadable directory ({err.strerror})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                dirnames.remove(d)
                skipped.append(SkippedFile(full, "symlinked directory not followed"))
        for name in filenames:
            if not name.endswith(".jsonl"):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not target.startswith(real_root + os.sep):
                    skipped.append(SkippedFile(full, "symlink points outside the store"))
                    continue
            found.append(full)
    found.sort(key=lambda p: p[: -len(".jsonl")].split(os.sep))
    return found


def discover(homes: list[Home], skipped: list[SkippedFile]) -> Iterator[SourceContext]:
    """Yield one SourceContext per raw session file, in the dedup order of spec §5."""
    for home in distinct_users(homes):
        for store, subdir, provider in STORE_LAYOUT:
            root = home.path / store / subdir
            if not root.is_dir():
                continue
            prefix = len(str(root)) + 1
            for path in _walk_jsonl(root, skipped):
                rel = path[prefix:]
                name = os.path.basename(path)
                ctx = SourceContext(
                    path=path,
                    provider=provider,
                    store=store,
                    home=str(home.path),
                    user=home.user,
                    file_stem=name[: -len(".jsonl")],
                )
                if provider == "claude":
                    project, sep, key = rel.partition(os.sep)
                    if sep:
                        ctx.project = project
                        ctx.session_key = key[: -len(".jsonl")]
                    else:
                        ctx.session_key = ctx.file_stem
                yield ctx
