"""Where an archive member goes so the collector finds it exactly as on the user's machine.

Why: `collect` discovers `<home>/.claude/projects/**.jsonl`, `<home>/.claude.back/projects/…`
and `<home>/.codex/{sessions,archived_sessions}/**.jsonl` (`sources.discover.STORE_LAYOUT`).
Users archive different levels of that tree — a whole home (or several, `alice/.claude/…`),
just `~/.claude/projects` (members `projects/…`), or the *contents* of `projects/` (members
`<project>/<session>.jsonl`). A member inside a store keeps its store, so an uploaded home
collects to exactly what collecting that home directly gives; a member whose store cannot be
read from its path is placed by the shape of its records (Claude vs Codex).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracelab.ingest.errors import UploadRejected
from tracelab.sources.discover import STORE_LAYOUT

#: (store, subdir) → provider, for members whose path names their store.
_STORES = {(store, subdir): provider for store, subdir, provider in STORE_LAYOUT}
_STORE_NAMES = frozenset(store for store, _subdir, _provider in STORE_LAYOUT)
#: Bare session folders (an archive of `~/.claude/projects` or `~/.codex/sessions` itself).
_BARE = {subdir: (store, subdir) for store, subdir, _provider in reversed(STORE_LAYOUT)}
#: Where a member of unknown store goes, by the provider its records show.
DEFAULT_STORE = {"claude": (".claude", "projects"), "codex": (".codex", "sessions")}
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Placement:
    """A member's destination: home (by the path before the store), store, path inside it.

    `store`/`subdir` are None when only the records can tell the provider; `hint` is then the
    bare session folder the member was found under (`projects`, `sessions`), if any.
    """

    home: tuple[str, ...]
    rel: tuple[str, ...]
    store: str | None = None
    subdir: str | None = None
    hint: str | None = None

    @property
    def provider(self) -> str | None:
        """The provider the member's store implies (None: its records must tell)."""
        if self.store is None or self.subdir is None:
            return None
        return _STORES[(self.store, self.subdir)]

    def resolved(self, provider: str) -> tuple[str, ...]:
        """Path parts below the extraction root: `<home…>/<store>/<subdir>/<rel…>`."""
        store, subdir = (self.store, self.subdir)
        if store is None or subdir is None:
            store, subdir = DEFAULT_STORE[provider]
            if self.hint and _BARE[self.hint][0] == store:  # keep `archived_sessions`
                store, subdir = _BARE[self.hint]
        return (*self.home, store, subdir, *self.rel)


def member_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive member name, or `UploadRejected` if it would escape.

    Rejects absolute names (`/x`, `C:\\x`), `..` components and NUL bytes; backslashes count
    as separators (Windows zip tools write them), so `..\\x` is caught too.
    """
    shown = name if len(name) <= 120 else name[:117] + "..."
    if "\x00" in name:
        raise UploadRejected(f"archive member {shown!r} has a NUL byte in its name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE_RE.match(unified):
        raise UploadRejected(
            f"archive member {shown!r} has an absolute path; refusing to extract outside the "
            "upload folder"
        )
    parts = tuple(p for p in unified.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UploadRejected(
            f"archive member {shown!r} climbs out with '..'; refusing to extract outside the "
            "upload folder"
        )
    return parts


def place(parts: tuple[str, ...]) -> Placement | None:
    """Where a `.jsonl` member goes, or None when the collector would never read it there
    (inside a store but outside its session folders, e.g. `.codex/history.jsonl`)."""
    if not parts or not parts[-1].endswith(".jsonl"):
        return None
    for i in range(len(parts) - 2):
        provider = _STORES.get((parts[i], parts[i + 1]))
        if provider is not None:
            return Placement(parts[:i], parts[i + 2 :], parts[i], parts[i + 1])
    if _STORE_NAMES & set(parts[:-1]):
        return None
    for i, part in enumerate(parts[:-1]):
        if part in _BARE:
            return Placement(parts[:i], parts[i + 1 :], hint=part)
    return Placement((), parts)
