"""Pool statistics, from the manifest alone (no row is read, so they are instant and safe to
serve publicly): contributors, sessions, steps, tool calls, the time window, the model mix and
the rows of each contribution."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tracelab.pool.storage import Pool


def pool_stats(pool: Pool) -> dict[str, Any]:
    """Totals over the active contributions (withdrawn ones are counted, not included)."""
    entries = pool.contributions(active_only=False)
    active = [e for e in entries if e["status"] == "active"]
    models: Counter = Counter()
    providers: Counter = Counter()
    for e in active:
        models.update(e["models"])
        providers.update(e["providers"])
    firsts = [e["window"][0] for e in active if e["window"][0]]
    lasts = [e["window"][1] for e in active if e["window"][1]]
    return {
        "contributions": len(active),
        "withdrawn": len(entries) - len(active),
        "contributors": len({e["contributor"] for e in active}),
        "users": len({u for e in active for u in e["users"]}),
        "sessions": sum(e["sessions"] for e in active),
        "steps": sum(e["rows"] for e in active),
        "tool_calls": sum(e["tool_calls"] for e in active),
        "window": [min(firsts) if firsts else None, max(lasts) if lasts else None],
        "models": dict(sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))),
        "providers": dict(sorted(providers.items())),
        "per_contribution": [
            {
                "id": e["id"],
                "committed_at": e["committed_at"],
                "rows": e["rows"],
                "sessions": e["sessions"],
            }
            for e in active
        ],
    }
