"""`prefix_cache/cache_replay` (amendments §3): the evidence that a step's prefix is the previous
step's whole input (and its output) replayed from cache — how exactly the token counts line up.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import providers, records
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.metrics.pairs import prepare_pairs

#: |err| thresholds (tokens) and relative ones of the prefix check.
ERR_LEVELS = (0, 1, 2, 8, 32, 128, 512, 2048)
REL_LEVELS = (0.01, 0.05)
ERR_PLUS_LEVEL = 8
#: Long-input thresholds (chars) and the prior visible output thresholds (tokens).
TOOL_CHARS = (10_000, 50_000, 100_000, 500_000)
USER_CHARS = (1_000, 5_000, 10_000, 50_000)
PRIOR_VISIBLE = (1_000, 4_000, 8_000, 16_000)
#: A step's input counts as short below this many chars (≈ 1k tokens at 4 chars a token).
SHORT_INPUT_CHARS = 4_000
MIN_PAIRS_BY_TYPE = 20
QUANTILES = (0.1, 0.5, 0.9, 0.95, 0.99)
STAT_COLUMNS = ["n", "mean", "p10", "median", "p90", "p95", "p99", "min", "max"]

ERR = "(prefix - p_total)"
D = "(append - p_output)"
DV = "(append - p_visible)"
CLAUDE_CACHE = (
    "provider = 'claude' AND uncached IS NOT NULL AND cache_creation IS NOT NULL "
    "AND cache_read IS NOT NULL"
)


def _stat_specs() -> list[tuple[str, str, str, str]]:
    """(section, population, metric, value expression) — the expression is null outside its
    population."""
    specs = [
        ("prefix", "all pairs", "err = S.prefix − P.total", ERR),
        ("prefix", "all pairs", "err_plus = err − P.O", f"{ERR} - p_output"),
        ("prefix", "P.total > 0", "|err| / P.total", f"abs({ERR}) / nullif(p_total, 0)"),
        ("append", "all pairs", "S.append − P.O", D),
        ("append", "all pairs", "max(0, S.append − P.O)", f"greatest({D}, 0)"),
        ("append", "codex pairs", "S.append − P.V", f"CASE WHEN provider = 'codex' THEN {DV} END"),
        ("append", "codex pairs", "max(0, S.append − P.V)",
         f"CASE WHEN provider = 'codex' THEN greatest({DV}, 0) END"),
        ("append", "S.append < P.O", "S input chars", f"CASE WHEN {D} < 0 THEN input_chars END"),
        ("append", "S.append < P.O", "deficit P.O − S.append", f"CASE WHEN {D} < 0 THEN -{D} END"),
    ]  # fmt: skip
    for lo in TOOL_CHARS:
        specs.append(("long input", f"tool chars ≥ {lo:,}", "S.append",
                      f"CASE WHEN tool_chars >= {lo} THEN append END"))  # fmt: skip
    for lo in USER_CHARS:
        specs.append(("long input", f"user chars ≥ {lo:,}", "S.append",
                      f"CASE WHEN user_chars >= {lo} THEN append END"))  # fmt: skip
    for lo in PRIOR_VISIBLE:
        specs.append(("long input", f"P.V ≥ {lo:,}", "S.append",
                      f"CASE WHEN p_visible >= {lo} THEN append END"))  # fmt: skip
    short = f"{CLAUDE_CACHE} AND input_chars < {SHORT_INPUT_CHARS}"
    specs += [
        ("claude cache", "all three fields", "creation − P.O",
         f"CASE WHEN {CLAUDE_CACHE} THEN cache_creation - p_output END"),
        ("claude cache", "all three fields", "read − P.total",
         f"CASE WHEN {CLAUDE_CACHE} THEN cache_read - p_total END"),
        ("claude cache", f"input < {SHORT_INPUT_CHARS:,} chars", "uncached + creation",
         f"CASE WHEN {short} THEN uncached + cache_creation END"),
        ("claude cache", f"input < {SHORT_INPUT_CHARS:,} chars", "uncached + creation − P.O",
         f"CASE WHEN {short} THEN uncached + cache_creation - p_output END"),
    ]  # fmt: skip
    return specs


def _share_specs() -> list[tuple[str, str, str, str, str]]:
    """(section, population, condition, population SQL, condition SQL)."""
    specs = [("prefix", "all pairs", f"|err| ≤ {t:,}", "true", f"abs({ERR}) <= {t}")
             for t in ERR_LEVELS]  # fmt: skip
    specs += [("prefix", "P.total > 0", f"|err| / P.total ≤ {q:.0%}", "p_total > 0",
               f"abs({ERR}) <= {q} * p_total") for q in REL_LEVELS]  # fmt: skip
    specs += [
        ("prefix", "all pairs", f"|err_plus| ≤ {ERR_PLUS_LEVEL}", "true",
         f"abs({ERR} - p_output) <= {ERR_PLUS_LEVEL}"),
        ("append", "all pairs", "S.append − P.O = 0", "true", f"{D} = 0"),
        ("append", "all pairs", "S.append − P.O < 0", "true", f"{D} < 0"),
        ("append", "all pairs", "S.append ≥ P.O", "true", f"{D} >= 0"),
        ("append", "codex pairs", "S.append − P.V = 0", "provider = 'codex'", f"{DV} = 0"),
        ("append", "codex pairs", "S.append − P.V < 0", "provider = 'codex'", f"{DV} < 0"),
    ]  # fmt: skip
    for col, levels, label in (
        ("tool_chars", TOOL_CHARS, "tool"),
        ("user_chars", USER_CHARS, "user"),
    ):
        specs += [("long input", f"{label} chars ≥ {lo:,}", f"S.append ≥ {label} chars / 4",
                   f"{col} >= {lo}", f"append >= {col} / 4") for lo in levels]  # fmt: skip
    specs += [("long input", f"P.V ≥ {lo:,}", "S.append ≥ P.V", f"p_visible >= {lo}",
               "append >= p_visible") for lo in PRIOR_VISIBLE]  # fmt: skip
    specs.append(("claude cache", "all three fields", "creation ≥ P.O", CLAUDE_CACHE,
                  "cache_creation >= p_output"))  # fmt: skip
    return specs


def _grouped(select: list[str]) -> str:
    return (
        "SELECT CASE WHEN grouping(provider) = 1 THEN 'all' ELSE provider END AS provider, "
        + ", ".join(select)
        + " FROM step_pairs GROUP BY ROLLUP (provider)"
    )


def stats_rows(con: duckdb.DuckDBPyConnection) -> list[list[Any]]:
    specs = _stat_specs()
    levels = "[" + ", ".join(repr(q) for q in QUANTILES) + "]"
    select = [
        f"count({e}) AS n{i}, avg({e}) AS mean{i}, quantile_cont({e}, {levels}) AS q{i}, "
        f"min({e}) AS min{i}, max({e}) AS max{i}"
        for i, (_, _, _, e) in enumerate(specs)
    ]
    out = []
    for rec in _ordered(con, records(con, _grouped(select))):
        for i, (section, pop, metric, _) in enumerate(specs):
            if rec[f"n{i}"]:
                qs = rec[f"q{i}"]
                out.append([section, pop, metric, rec["provider"], rec[f"n{i}"], rec[f"mean{i}"],
                            *qs, rec[f"min{i}"], rec[f"max{i}"]])  # fmt: skip
    return out


def share_rows(con: duckdb.DuckDBPyConnection) -> list[list[Any]]:
    specs = _share_specs()
    select = [
        f"count(*) FILTER (WHERE {pop}) AS n{i}, count(*) FILTER (WHERE ({pop}) AND ({cond})) "
        f"AS k{i}"
        for i, (_, _, _, pop, cond) in enumerate(specs)
    ]
    out = []
    for rec in _ordered(con, records(con, _grouped(select))):
        for i, (section, pop, cond, _, _) in enumerate(specs):
            n, k = rec[f"n{i}"], rec[f"k{i}"]
            if n:
                out.append([section, pop, cond, rec["provider"], n, k, k / n])
    return out


BY_TYPE_SQL = f"""
SELECT provider, coalesce(first_input_event_type, '(none)') AS first_input, count(*) AS pairs,
       avg(({D} = 0)::INT) AS zero, avg(({D} < 0)::INT) AS negative,
       avg(({D} >= 0)::INT) AS covers, quantile_cont({D}, 0.5) AS median
FROM step_pairs GROUP BY ALL HAVING count(*) >= {MIN_PAIRS_BY_TYPE}
ORDER BY provider, pairs DESC, first_input
"""


def _ordered(con: duckdb.DuckDBPyConnection, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {p: i for i, p in enumerate(["all", *providers(con)])}
    return sorted(recs, key=lambda r: order.get(r["provider"], 99))


@experiment(
    "prefix_cache/cache_replay",
    title="Is the prefix the previous input replayed?",
    question="Does each step's cached prefix equal the previous step's whole input — and does "
    "its append start with the previous output — token for token?",
    definitions=f"""
- **Pairs** (P → S): the steps of each (provider, session) stable-sorted by round_index (ties:
  file order), S and the step P before it only when `S.round_index = P.round_index + 1`.
  `P.total` = P's input_tokens_total (else prefix + append); `P.O` its output (incl.
  reasoning); `P.V = max(0, P.O − P.R)` its visible output.
- **Prefix check**: `err = S.prefix − P.total`, `err_plus = err − P.O`, relative
  `|err| / P.total` (P.total > 0): mean, linear p10/p50/p90/p95/p99, min, max; shares with
  `|err| ≤` {", ".join(f"{t:,}" for t in ERR_LEVELS)}, relative ≤ 1 % / 5 %,
  `|err_plus| ≤ {ERR_PLUS_LEVEL}`.
- **Append check**: `S.append − P.O` signed and clipped at 0 (Codex also `S.append − P.V`);
  shares of zero and negative differences and of `S.append ≥ P.O`; per S's
  `first_input_event_type` with ≥ {MIN_PAIRS_BY_TYPE} pairs; for the negative cases, S's input
  chars and the deficit `P.O − S.append`.
- **Long inputs**: pairs whose S carries tool-result chars ≥
  {", ".join(f"{t:,}" for t in TOOL_CHARS)} or user-message chars ≥
  {", ".join(f"{t:,}" for t in USER_CHARS)}: S.append statistics and the share with
  `S.append ≥ chars / 4`; pairs whose P's visible output ≥
  {", ".join(f"{t:,}" for t in PRIOR_VISIBLE)}: S.append and the share with `S.append ≥ P.V`.
- **Claude cache fields** (S has uncached, cache-creation and cache-read counts):
  `creation − P.O`, the share with `creation ≥ P.O`, `read − P.total`; for short inputs
  (S's input chars < {SHORT_INPUT_CHARS:,} — our reading of the reference's "short input"):
  `uncached + creation` with and without `− P.O`.
- Every statistic is per provider and over all pairs (`all`); a population without pairs is
  left out.
""",
    study_item="§5.3 (reference analysis)",
)
def cache_replay(con: duckdb.DuckDBPyConnection) -> Result:
    prepare_pairs(con)
    stats = Table(
        name="cache_replay_stats",
        title="Token differences between a step and its predecessor",
        columns=["section", "population", "metric", "provider", *STAT_COLUMNS],
        rows=stats_rows(con),
        kinds={"n": "int"} | {c: "float" for c in STAT_COLUMNS[1:]},
    )
    shares = Table(
        name="cache_replay_shares",
        title="Shares of pairs meeting each condition",
        columns=["section", "population", "condition", "provider", "pairs", "matching", "share"],
        rows=share_rows(con),
        kinds={"pairs": "int", "matching": "int", "share": "pct"},
    )
    by_type = Table(
        name="cache_replay_by_first_input",
        title=f"S.append − P.O by S's first input event (≥ {MIN_PAIRS_BY_TYPE} pairs)",
        columns=[
            "provider",
            "first input",
            "pairs",
            "zero",
            "negative",
            "S.append ≥ P.O",
            "median",
        ],
        rows=[list(r.values()) for r in records(con, BY_TYPE_SQL)],
        kinds={
            "pairs": "int",
            "zero": "pct",
            "negative": "pct",
            "S.append ≥ P.O": "pct",
            "median": "float",
        },
    )
    return Result([stats, shares, by_type], _text(shares))


def _text(shares: Table) -> str:
    recs = {(r["condition"], r["provider"]): r for r in shares.records()}
    exact = recs.get(("|err| ≤ 0", "all"))
    if not exact:
        return "The trace has no consecutive step pairs (round_index steps of exactly 1)."
    near = recs[("|err| ≤ 8", "all")]
    covers = recs[("S.append ≥ P.O", "all")]
    return (
        f"Of {format_value(exact['pairs'], 'int')} step pairs, the prefix equals the previous "
        f"step's whole input exactly in {format_value(exact['share'], 'pct')} and within 8 "
        f"tokens in {format_value(near['share'], 'pct')}; the append is at least the previous "
        f"output in {format_value(covers['share'], 'pct')}."
    )
