"""Where TraceLab keeps per-user state: config (the sanitizing key) and caches (parsed logs).

XDG locations by default; `TRACELAB_CONFIG_DIR` / `TRACELAB_CACHE_DIR` override them (tests and
CI point them at temporary directories so nothing touches the real home).
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The user's TraceLab config directory (not created here)."""
    override = os.environ.get("TRACELAB_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tracelab"


def cache_dir() -> Path:
    """The user's TraceLab cache directory (not created here)."""
    override = os.environ.get("TRACELAB_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tracelab"
