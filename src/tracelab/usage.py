"""Where `tracelab usage` gets its steps, so a repeat report on unchanged logs is instant.

Without a trace given, the user's home is collected incrementally (`collect.collect`, its
cache and no-op manifest) into a private trace kept in the cache dir (0600, in a 0700 dir).
The per-step usage facts of a trace (`metrics.usage.materialize`: tokens, tiers, costs — the
fact tables are prepared only for this) are kept in a small DuckDB file beside it, keyed by the
trace file's path, size and mtime, the price source and the format. A repeat run on unchanged
logs is then: discover and stat the logs (the no-op collect), find the facts file, one query —
no Arrow, no trace database, no pricing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tracelab import __version__
from tracelab.paths import cache_dir, private_dir


class UsageError(ValueError):
    """A bad option value (date, zone): one line for the user."""


def usage_dir() -> Path:
    """The private cache folder of `usage` (created 0700)."""
    return private_dir(cache_dir() / "usage")


def default_trace(home_paths: list[Path]) -> Path:
    """The private trace `usage` collects the given homes into (one per set of homes)."""
    key = "\0".join(sorted(str(Path(p).resolve()) for p in home_paths))
    return usage_dir() / f"trace-{_digest(key)}.jsonl"


def collect_homes(homes: list[Any], progress: Callable[[int, int], None] | None = None):
    """Collect `homes` incrementally into their private trace; (report, trace path)."""
    from tracelab.collect import collect

    out = default_trace([h.path for h in homes])
    report, _ = collect(homes, out, cache=True, progress=progress)
    with contextlib.suppress(OSError):
        if out.exists():
            out.chmod(0o600)
    return report, out


def prices_key(prices: str | Path | None) -> str:
    """What identifies a price source in the facts cache, without loading it."""
    if prices is None or not Path(prices).is_file():
        from importlib import metadata

        try:
            genai = metadata.version("genai-prices")
        except metadata.PackageNotFoundError:
            genai = "-"
        return f"{prices or 'default'}:{__version__}:{genai}"
    st = Path(prices).stat()
    return f"file:{Path(prices).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def facts_path(source: Path, prices: str) -> Path:
    """The usage facts file of `source` (a trace or database) as it is now, under `prices`."""
    from tracelab.metrics.usage import USAGE_FORMAT

    resolved = source.resolve()
    st = resolved.stat()
    stamp = f"{st.st_size}\0{st.st_mtime_ns}\0{prices}\0{USAGE_FORMAT}\0{__version__}"
    return usage_dir() / f"facts-{_digest(str(resolved))}-{_digest(stamp)}.duckdb"


@dataclass
class Facts:
    path: Path
    #: the facts were (re)built in this run (the trace changed, or the first run)
    built: bool


def ensure_facts(source: Path, prices: str, open_prepared: Callable[[], Any]) -> Facts:
    """The usage facts of `source`: the cached file, or built from `open_prepared()` (a
    connection with the fact tables prepared) — older builds of the same source removed."""
    from tracelab.metrics.usage import materialize

    target = facts_path(source, prices)
    if target.is_file():
        return Facts(target, built=False)
    con = open_prepared()
    try:
        materialize(con, target)
    finally:
        con.close()
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for other in target.parent.glob(prefix + "*.duckdb"):
        if other != target:
            with contextlib.suppress(OSError):
                other.unlink()
    return Facts(target, built=True)


# --- option values ----------------------------------------------------------------------------


def parse_day(text: str | None, option: str) -> date | None:
    """A `--since` / `--until` date: YYYY-MM-DD or YYYYMMDD."""
    if text is None:
        return None
    raw = text.strip()
    if len(raw) == 8 and raw.isdigit():
        raw = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a date (YYYY-MM-DD or YYYYMMDD)") from None


def check_zone(name: str) -> str:
    """An IANA zone name, checked against the zone database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {name!r}: not an IANA time zone (e.g. Europe/Paris, UTC)"
        ) from None
    return name


def local_zone() -> str:
    """The IANA name of the machine's zone: $TZ, else /etc/localtime's target, else
    /etc/timezone, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in candidates:
        if name:
            with contextlib.suppress(UsageError):
                return check_zone(name)
    return "UTC"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
