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


def _user_dir(override_var: str, xdg_var: str, default: str) -> Path:
    override = os.environ.get(override_var)
    if override:
        return Path(override)
    base = os.environ.get(xdg_var) or str(Path.home() / default)
    return Path(base) / "tracelab"
