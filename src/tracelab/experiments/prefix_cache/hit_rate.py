"""`prefix_cache/hit_rate` (Table 11): the token-weighted prefix cache hit rate, overall and per
step type.
"""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.fmt import pct
from tracelab.experiments.prefix_cache._shared import (
    KIND_LABELS,
    _columns,
    _lookup,
    _per_provider,
    _values,
)
from tracelab.experiments.registry import experiment
from tracelab.metrics import cache

TOKEN_FIELDS = ("steps", "prefix", "append", "hit_rate")


@experiment(
    "prefix_cache/hit_rate",
    title="Prefix cache hit rate by step type",
    question="What share of input tokens is served from the prefix cache, overall and for "
    "user-initiated versus tool-initiated steps?",
    definitions="""
- **Prefix hit rate** of a set of steps = Σ prefix / Σ (prefix + append), token-weighted (one
  long step weighs by its tokens, not as one vote) — the same definition as Table 1.
- **User-initiated** step: its first input event is a `user_message`; **tool-result** step: a
  `tool_result`. Steps with neither count only in the overall row.
- Every step counts, including session-first steps (their prefix is whatever the provider
  cached before the session, e.g. the system prompt).
""",
    study_item="Table 11",
)
def hit_rate(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    recs = cache.hit_rates(con)
    by = _lookup(recs)
    labels = {
        "all": "Prefix cache-hit rate",
        "user": "Prefix hit rate (user-initiated)",
        "tool": "Prefix hit rate (tool-result)",
    }
    table = Table(
        name="table11_prefix_hit_rate",
        title="Table 11 — token-weighted prefix cache hit rate by step type",
        columns=["metric", *keys],
        rows=[[labels[k], *_values(by, keys, k, "hit_rate")] for k in cache.KINDS],
        row_kinds=["pct"] * len(cache.KINDS),
        latex=True,
    )
    detail = Table(
        name="prefix_hit_rate_tokens",
        title="The token sums behind Table 11",
        columns=["provider", "steps of type", "steps", "prefix tokens", "append tokens", "hit"],
        rows=[[r["provider"], KIND_LABELS[r["kind"]], *(r[f] for f in TOKEN_FIELDS)] for r in recs],
        kinds={"steps": "int", "prefix tokens": "tokens", "append tokens": "tokens", "hit": "pct"},
    )
    return Result([table, detail], _hit_rate_text(by, keys))


def _hit_rate_text(by: dict, keys: list[str]) -> str:
    total = by.get(("total", "all"), {})
    if total.get("hit_rate") is None:
        return "The trace has no input tokens, so there is no prefix hit rate."
    user = by.get(("total", "user"), {}).get("hit_rate")
    tool = by.get(("total", "tool"), {}).get("hit_rate")
    text = (
        f"{pct(total['hit_rate'])} of all input tokens are served from the prefix cache "
        f"({_per_provider(by, keys, 'all', 'hit_rate', 'pct')})."
    )
    if user is not None and tool is not None:
        text += (
            f" User-initiated steps hit {pct(user)} and tool-result steps {pct(tool)}, so "
            f"user-initiated steps prefill {pct(1 - user)} of their input tokens against "
            f"{pct(1 - tool)} for tool-result steps."
        )
    return text
