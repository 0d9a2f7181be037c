"""Where TraceLab keeps per-user state: config (the sanitizing key) and caches (parsed logs).

XDG locations by default; `TRACELAB_CONFIG_DIR` / `TRACELAB_CACHE_DIR` override them (tests and
CI point them at temporary directories so nothing touches the real home).
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The user's TraceLab config directory (not created here)."""
    return _user_dir("TRACELAB_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    """The user's TraceLab cache directory (not created here)."""
    return _user_dir("TRACELAB_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def private_dir(path: Path) -> Path:
    """Create folder `path` (and missing parents) readable by the owner only (0700, whatever
    the umask): the caches hold databases and pages built from private traces."""
    path = Path(path)
    missing = [path, *(p for p in path.parents if not p.exists())] if not path.is_dir() else []
    path.mkdir(parents=True, exist_ok=True)
    root = cache_dir()  # our cache root too, whoever created it first (it holds these folders)
    for folder in {path, *missing, *([root] if root in path.parents else [])}:
        os.chmod(folder, 0o700)
    return path


def _user_dir(override_var: str, xdg_var: str, default: str) -> Path:
    override = os.environ.get(override_var)
    if override:
        return Path(override)
    base = os.environ.get(xdg_var) or str(Path.home() / default)
    return Path(base) / "tracelab"
