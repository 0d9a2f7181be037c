"""What several `prefix_cache` experiments share: the provider columns of the per-provider tables
and their lookups, step-count wording, and the log time axis with its duration marks.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.common import providers
from tracelab.experiments.fmt import count, format_value
from tracelab.metrics import cache

KIND_LABELS = {"all": "All steps", "user": "User-initiated", "tool": "Tool-result"}


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Providers present, then 'total' (the column order of the per-provider tables)."""
    return [*providers(con), "total"]


def _lookup(recs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Records of `cache._by_kind_sql` queries keyed by (provider, kind)."""
    return {(r["provider"], r["kind"]): r for r in recs}


def _values(by: dict, keys: list[str], kind: str, field: str) -> list[Any]:
    return [by.get((k, kind), {}).get(field) for k in keys]


def _per_provider(by: dict, keys: list[str], kind: str, field: str, fmt: str) -> str:
    """'claude 95.8%, codex 95.7%' for the providers of `keys` (not 'total')."""
    parts = [
        f"{k} {format_value(by.get((k, kind), {}).get(field), fmt)}" for k in keys if k != "total"
    ]
    return ", ".join(parts)


def _steps(n: int | None, adjective: str = "") -> str:
    """'1 step', '3 steps', '3 session-first steps'."""
    noun = "step" if n == 1 else "steps"
    return f"{count(n)} {adjective} {noun}" if adjective else f"{count(n)} {noun}"


def _duration_label(ms: float) -> str:
    """Short tick label of a round duration: 1s, 5m, 1h, 1d."""
    for unit_ms, unit in ((cache.DAY_MS, "d"), (cache.HOUR_MS, "h"), (cache.MINUTE_MS, "m")):
        if ms >= unit_ms:
            return f"{ms / unit_ms:g}{unit}"
    return f"{ms / cache.SECOND_MS:g}s"


def _time_axis(ax: Any, ticks_ms: tuple[float, ...], label: str) -> None:
    """Log x axis in seconds, ticks at round durations."""
    ax.set_xscale("log")
    ax.set_xticks([t / cache.SECOND_MS for t in ticks_ms])
    ax.set_xticklabels([_duration_label(t) for t in ticks_ms])
    ax.set_xlabel(label)


def _marks(ax: Any, marks_ms: tuple[float, ...], labelled: bool) -> None:
    """Dotted vertical lines at `marks_ms`, labelled above the axes when `labelled`."""
    for m in marks_ms:
        ax.axvline(m / cache.SECOND_MS, color="#555555", ls=":", lw=1)
        if labelled:
            ax.annotate(
                _duration_label(m),
                (m / cache.SECOND_MS, 1),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="#555555",
                annotation_clip=False,
            )
