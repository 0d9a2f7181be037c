"""`prefix_cache/fresh_tokens` (Table 12): append vs truly fresh tokens, and how much the deployed
cache amplifies prefill.
"""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.fmt import count, format_value, pct, tokens
from tracelab.experiments.prefix_cache._shared import (
    KIND_LABELS,
    _columns,
    _lookup,
    _per_provider,
    _values,
)
from tracelab.experiments.registry import experiment
from tracelab.metrics import cache


@experiment(
    "prefix_cache/fresh_tokens",
    title="Append tokens versus truly fresh tokens (gap to optimal)",
    question="How many of the prefilled (append) tokens are truly new, and how much does the "
    "deployed cache amplify prefill over an eviction-free cache?",
    definitions="""
- **Qualifying steps** (amendments §14.3): a step whose first timing event is a `user_message`
  (*user-initiated* here) or a `tool_result` (*tool-result*) and that has a predecessor P — the
  previous step of its session in **file order**.
- **Fresh tokens** = Σ over qualifying steps S of max(0, C_S − C_P) − O_P (C = prefix + append;
  O = output), **not clipped per step** (a step whose context shrank counts −O_P): the context
  growth that is not the previous step's output — user prompts and tool results the system
  has never seen. (The eviction sweep, Fig. 12, clips each step to [0, append] instead.)
- **Fresh % of append** = Σ fresh / Σ append; **prefill amplification** = Σ append / Σ fresh,
  both over the same qualifying steps: how many times more tokens are prefilled than a
  perfect, never-evicting cache would need.
- Left out (second table): session-first steps (no predecessor: their append is prefill no
  cache could have avoided) and steps whose first timing event is neither; Table 1's append
  total includes them.
""",
    study_item="Table 12",
)
def fresh_tokens(con: duckdb.DuckDBPyConnection) -> Result:
    keys = _columns(con)
    by = _lookup(cache.fresh_totals(con))
    first = _lookup(cache.session_first_totals(con))
    metrics = [
        ("qualifying steps", "steps", "int"),
        ("total append tokens", "append", "tokens"),
        ("total fresh tokens", "fresh", "tokens"),
        ("fresh % of append", "fresh_share", "pct"),
        ("prefill amplification", "amplification", "float1"),
    ]
    body, kinds = [], []
    for kind in cache.KINDS:
        for label, field, fmt in metrics:
            body.append([f"{KIND_LABELS[kind]}: {label}", *_values(by, keys, kind, field)])
            kinds.append(fmt)
    table = Table(
        name="table12_fresh_tokens",
        title="Table 12 — append versus fresh tokens and prefill amplification",
        columns=["metric", *keys],
        rows=body,
        row_kinds=kinds,
        latex=True,
        note="Sums over the qualifying steps (append and fresh alike); fresh is not clipped.",
    )
    excluded = Table(
        name="session_first_steps",
        title="Steps left out of Table 12",
        columns=["metric", *keys],
        rows=[
            ["session-first steps", *_values(first, keys, "all", "steps")],
            ["their append tokens", *_values(first, keys, "all", "append")],
            ["steps starting with another event", *_values(first, keys, "all", "other_steps")],
            ["their append tokens", *_values(first, keys, "all", "other_append")],
        ],
        row_kinds=["int", "tokens", "int", "tokens"],
    )
    return Result([table, excluded], _fresh_text(by, first, keys))


def _fresh_text(by: dict, first: dict, keys: list[str]) -> str:
    total = by.get(("total", "all"), {})
    skipped = first.get(("total", "all"), {})
    if not total.get("steps"):
        return (
            "The trace has no step with a predecessor in its session, so there are no fresh "
            "tokens to compare with append tokens."
        )
    if total.get("amplification") is None:
        return (
            f"The {count(total['steps'])} steps with a predecessor append "
            f"{tokens(total['append'])} tokens but none of them is fresh, so prefill "
            "amplification is undefined."
        )
    text = (
        f"Over {count(total['steps'])} steps with a predecessor, only "
        f"{pct(total['fresh_share'])} of the {tokens(total['append'])} append tokens are "
        f"fresh ({_per_provider(by, keys, 'all', 'fresh_share', 'pct')}), so the deployed cache "
        f"prefills {format_value(total['amplification'], 'float1')}× the irreducible tokens "
        f"({_per_provider(by, keys, 'all', 'amplification', 'float1')})."
    )
    user, tool = by.get(("total", "user"), {}), by.get(("total", "tool"), {})
    if user.get("steps") and tool.get("steps"):
        text += (
            f" User-initiated steps are {pct(user['fresh_share'])} fresh (amplification "
            f"{format_value(user['amplification'], 'float1')}), tool-result steps "
            f"{pct(tool['fresh_share'])} ({format_value(tool['amplification'], 'float1')})."
        )
    text += (
        f" {count(skipped.get('steps'))} session-first steps "
        f"({tokens(skipped.get('append'))} append tokens) and "
        f"{count(skipped.get('other_steps'))} steps starting with neither a user message nor a "
        f"tool result ({tokens(skipped.get('other_append'))}) are outside both sums."
    )
    return text
