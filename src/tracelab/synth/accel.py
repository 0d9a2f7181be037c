"""Compiled twins of the synthesizer's hot modules, used only while they match the sources.

Writing raw logs is a flat profile of small record splices: about 85 % of the time goes to
the interpreter itself, so no single Python-level change buys much. Compiled by Cython from
the very same `.py` files, the writers run about a quarter faster and write the same bytes.
The build hook (`hatch_build.py`, run by `uv sync`) compiles them into `_compiled/` next to a
manifest holding each source's SHA-256; `install()` serves them under the modules' own names
only while every hash still matches and the interpreter is the one they were built for. An
edited source is therefore never shadowed by a stale binary: it runs as plain Python until the
next build. Without a C compiler the build skips this step and everything runs as Python.

This module is imported by the build hook straight from its file, so it uses the standard
library only.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from pathlib import Path

#: The hot modules of `tracelab.synth`, compiled in this order (each imports only earlier ones).
MODULES = ("profile", "common", "workload", "claude_tools", "claude", "codex")
PACKAGE = "tracelab.synth"
COMPILED_DIR = "_compiled"
MANIFEST = "manifest.json"
#: Set (to anything but empty or 0) to run the pure-Python modules even when compiled ones match.
PURE_ENV = "TRACELAB_SYNTH_PURE"
FORMAT = 2

_HERE = Path(__file__).resolve().parent
_status = "pure Python: not checked yet"


def forced_pure() -> bool:
    """Whether `TRACELAB_SYNTH_PURE` asks for the pure-Python modules (or no build)."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def ext_suffix() -> str:
    """The file suffix of this interpreter's extension modules (e.g. `.cpython-311-…so`)."""
    return sysconfig.get_config_var("EXT_SUFFIX") or importlib.machinery.EXTENSION_SUFFIXES[0]


def source_hashes(src_dir: Path) -> dict[str, str]:
    """SHA-256 of each hot module's source in `src_dir`."""
    return {
        name: hashlib.sha256((src_dir / f"{name}.py").read_bytes()).hexdigest() for name in MODULES
    }


def write_manifest(src_dir: Path, hashes: dict[str, str], compiler: str) -> None:
    """Record what `src_dir/_compiled/` was built from (written last, atomically: the files are
    used only once it exists)."""
    target = src_dir / COMPILED_DIR / MANIFEST
    manifest = {
        "format": FORMAT,
        "ext_suffix": ext_suffix(),
        "compiler": compiler,
        "sha256": hashes,
    }
    tmp = target.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, target)


def check(src_dir: Path = _HERE) -> tuple[dict[str, Path] | None, str]:
    """(compiled file by module, or None; a one-line status) for the modules in `src_dir`."""
    if forced_pure():
        return None, f"pure Python: {PURE_ENV} is set"
    try:
        manifest = json.loads((src_dir / COMPILED_DIR / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "pure Python: the compiled modules are not built (no C compiler at install?)"
    if not (
        isinstance(manifest, dict)
        and manifest.get("format") == FORMAT
        and isinstance(manifest.get("sha256"), dict)
    ):
        return None, "pure Python: the compiled modules' manifest has another format"
    built = manifest["sha256"]
    suffix = ext_suffix()
    if manifest.get("ext_suffix") != suffix:
        return None, f"pure Python: the compiled modules are for {manifest.get('ext_suffix')}"
    try:
        hashes = source_hashes(src_dir)
    except OSError as exc:
        return None, f"pure Python: cannot read the sources ({exc})"
    files: dict[str, Path] = {}
    for name in MODULES:
        if built.get(name) != hashes[name]:
            return None, f"pure Python: {name}.py changed since the compiled modules were built"
        path = src_dir / COMPILED_DIR / f"{name}{suffix}"
        if not path.is_file():
            return None, f"pure Python: {path.name} is missing"
        files[name] = path
    return files, f"compiled ({manifest.get('compiler', 'Cython')})"


class _CompiledFinder:
    """Finds `tracelab.synth.<hot module>` as its compiled file (a meta-path finder)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = {f"{PACKAGE}.{name}": path for name, path in files.items()}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> bool:
    """Serve the compiled modules from now on if they match the sources; True if they do.

    Called by `tracelab.synth` before it imports any hot module (a module already imported
    stays what it is)."""
    global _status
    if any(isinstance(f, _CompiledFinder) for f in sys.meta_path):
        return active()
    files, _status = check()
    if files is None:
        return False
    loaded = [f"{PACKAGE}.{name}" for name in MODULES if f"{PACKAGE}.{name}" in sys.modules]
    if loaded:
        _status = f"pure Python: {', '.join(loaded)} imported before the compiled modules"
        return False
    sys.meta_path.insert(0, _CompiledFinder(files))
    return True


def active() -> bool:
    """Whether the hot modules run compiled in this process."""
    return _status.startswith("compiled")


def status() -> str:
    """How the hot modules run here, in one line (for benchmarks and `tracelab synth`)."""
    return _status
