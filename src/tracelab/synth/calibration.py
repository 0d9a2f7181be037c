"""The calibrated quantities of a workload, measured from a trace database, and the check.

`measure(con)` is the ONE measurement: `synth fit` records it as a profile's targets, `synth
check` compares a generated trace's `measure` with a profile's targets (or with another trace's
`measure`). Every quantity is computed with the project's metric definitions (`tracelab.metrics`:
the fact tables of `metrics.steps`, the session tables of `metrics.session`, the cache and tool
metrics), for the providers pooled (`all.`) and per provider (`claude.`, `codex.`):

- distributions (avg, p25, p50, p90, p99; `quantile_cont`): requests, steps, tool-initiated
  steps and tool calls per session; tool-initiated steps and tool calls per request; tool calls
  per step (Table 2, Table 1); prefix, append and output tokens per step (Table 8); positive
  human waits, generation spans, tool latencies, request response times (Table 7); normalized
  decode speed (§5.4);
- scalars: prefix hit rate overall / user- / tool-initiated, its complement (the uncached
  share — a ±10 % check of a 96 % hit rate is loose, of a 4 % miss rate it is not) and prefill
  amplification (Tables 11, 12); median append per prefix bin (Table 9); compactions
  (Table 4); context growth and user-step reductions (Table 3); tool mix and latency tails
  (Figs. 7–8); top model share.

Keys are `<group>.<quantity>[.<stat>]`, e.g. `all.tool_calls_per_request.p90`,
`claude.prefix_tokens.p50`, `codex.hit_rate_user`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GROUPS = ("all", "claude", "codex")
STATS = ("avg", "p25", "p50", "p90", "p99")

#: Distribution quantities: name → (label, unit).
DISTRIBUTIONS: dict[str, tuple[str, str]] = {
    "requests_per_session": ("requests per session", "count"),
    "steps_per_session": ("steps per session", "count"),
    "tool_steps_per_session": ("tool-initiated steps per session", "count"),
    "tool_calls_per_session": ("tool calls per session", "count"),
    "tool_steps_per_request": ("tool-initiated steps per request", "count"),
    "tool_calls_per_request": ("tool calls per request", "count"),
    "tool_calls_per_step": ("tool calls per step", "count"),
    "prefix_tokens": ("prefix tokens per step", "tokens"),
    "append_tokens": ("append tokens per step", "tokens"),
    "output_tokens": ("output tokens per step", "tokens"),
    "human_wait_ms": ("human input wait", "ms"),
    "generation_ms": ("LLM generation time", "ms"),
    "tool_latency_ms": ("tool latency", "ms"),
    "response_ms": ("request response time", "ms"),
    "decode_speed": ("normalized decode speed (tokens/s)", "float"),
}

#: Table 9 prefix bins (k = 1,024 tokens), as key suffixes.
PREFIX_BINS = (
    "lt1k",
    "1k_2k",
    "2k_4k",
    "4k_8k",
    "8k_16k",
    "16k_32k",
    "32k_64k",
    "64k_128k",
    "128k_256k",
    "ge256k",
)

#: Scalar quantities: name → (label, unit).
SCALARS: dict[str, tuple[str, str]] = {
    "hit_rate": ("prefix hit rate", "pct"),
    "hit_rate_user": ("prefix hit rate, user-initiated steps", "pct"),
    "hit_rate_tool": ("prefix hit rate, tool-initiated steps", "pct"),
    "miss_rate": ("uncached input share (1 − prefix hit rate)", "pct"),
    "miss_rate_user": ("uncached input share, user-initiated steps", "pct"),
    "miss_rate_tool": ("uncached input share, tool-initiated steps", "pct"),
    "prefill_amplification": ("prefill amplification (Σ append / Σ fresh)", "float"),
    **{
        f"append_p50_prefix_{b}": (f"median append, prefix {b.replace('_', '–')}", "tokens")
        for b in PREFIX_BINS
    },
    "compaction_session_share": ("sessions with ≥ 1 compaction", "pct"),
    "compactions_per_session": ("compactions per session", "float"),
    "compactions_per_compacting_session": ("compactions per session with ≥ 1", "float"),
    "compaction_tool_share": ("tool-initiated share of compactions", "pct"),
    "positive_growth_avg": ("avg positive context growth", "tokens"),
    "user_reduction_share": ("user-initiated steps with a context reduction", "pct"),
    "user_micro_share": ("user-initiated steps with a micro reduction", "pct"),
    "user_ordinary_share": ("user-initiated steps with an ordinary reduction", "pct"),
    "top3_tool_share": ("share of calls to the top-3 tools", "pct"),
    "distinct_tools": ("distinct tool names", "count"),
    "tool_calls_under_1s": ("tool calls < 1 s", "pct"),
    "tool_calls_under_10s": ("tool calls < 10 s", "pct"),
    "tool_calls_over_1min": ("tool calls ≥ 1 min", "pct"),
    "tool_time_under_10s": ("tool time in calls < 10 s", "pct"),
    "tool_time_over_1min": ("tool time in calls ≥ 1 min", "pct"),
    "tool_error_rate": ("tool error rate", "pct"),
    "top_model_share": ("steps of the most used model", "pct"),
}


@dataclass(frozen=True)
class Quantity:
    key: str
    label: str
    unit: str  # count, tokens, ms, pct, float


def _quantities() -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for group in GROUPS:
        for name, (label, unit) in DISTRIBUTIONS.items():
            for stat in STATS:
                key = f"{group}.{name}.{stat}"
                out[key] = Quantity(key, f"{label}, {stat}", unit)
        for name, (label, unit) in SCALARS.items():
            key = f"{group}.{name}"
            out[key] = Quantity(key, label, unit)
    return out


QUANTITIES = _quantities()
QUANTITY_KEYS = frozenset(QUANTITIES)


# --- measuring ------------------------------------------------------------------------------


def _dist_sources() -> dict[str, tuple[str, str]]:
    """Distribution quantity → (FROM clause with a provider column, value expression)."""
    from tracelab.metrics.session import (
        POSITIVE_GENERATION,
        POSITIVE_TOOL_LATENCIES,
        POSITIVE_WAITS,
        REQUEST_COUNTS,
        SESSION_COUNTS,
        TIMED_REQUESTS,
    )

    per_session_steps = (
        "FROM (SELECT provider, session_id, count(*) AS steps FROM step_facts GROUP BY ALL)"
    )
    return {
        "requests_per_session": (SESSION_COUNTS, "requests"),
        "steps_per_session": (per_session_steps, "steps"),
        "tool_steps_per_session": (SESSION_COUNTS, "tool_steps"),
        "tool_calls_per_session": (SESSION_COUNTS, "tool_calls"),
        "tool_steps_per_request": (REQUEST_COUNTS, "tool_steps"),
        "tool_calls_per_request": (REQUEST_COUNTS, "tool_calls"),
        "tool_calls_per_step": ("FROM step_facts", "coalesce(tool_call_count, 0)"),
        "prefix_tokens": ("FROM step_facts", "prefix"),
        "append_tokens": ("FROM step_facts", "append"),
        "output_tokens": ("FROM step_facts", "output"),
        "human_wait_ms": (POSITIVE_WAITS, "wait_ms"),
        "generation_ms": (POSITIVE_GENERATION, "gen_ms"),
        "tool_latency_ms": (POSITIVE_TOOL_LATENCIES, "effective_latency_ms"),
        "response_ms": (TIMED_REQUESTS, "response_ms"),
        "decode_speed": ("FROM decode_steps WHERE norm_speed IS NOT NULL", "norm_speed"),
    }


def _grouped(sql_select: str, source: str, by: str = "") -> str:
    """`sql_select` aggregated per provider and pooled ('all'), within groups `by` if given."""
    sets = f"((provider, {by}), ({by}))" if by else "((provider), ())"
    return f"""
        SELECT CASE WHEN grouping(provider) = 1 THEN 'all' ELSE provider END AS grp,
               {sql_select}
        {source}
        GROUP BY GROUPING SETS {sets}
    """


def measure(con: Any) -> dict[str, float | None]:
    """Every calibrated quantity of the trace behind `con` (a prepared or plain trace-database
    connection): key → value (None when the trace has nothing to measure it on)."""
    from tracelab.metrics.generation import PREFIX_BIN_EDGES, bucket_sql, prepare_generation
    from tracelab.metrics.session import prepare_session
    from tracelab.metrics.sql import dist_sql, records
    from tracelab.metrics.tools import LONG_CALL_MS, POSITIVE

    prepare_session(con)
    prepare_generation(con)
    out: dict[str, float | None] = dict.fromkeys(QUANTITY_KEYS)

    def put(group: str, name: str, value: Any) -> None:
        key = f"{group}.{name}"
        if key in out and value is not None:
            out[key] = float(value)

    for name, (source, expr) in _dist_sources().items():
        # exact: a profile's targets must not depend on the trace's row order (`synth fit`)
        sql = _grouped(f"{dist_sql(f'({expr})::DOUBLE', exact=True)}", source)
        for r in records(con, sql):
            for stat in STATS:
                put(r["grp"], f"{name}.{stat}", r[stat])

    # Tables 11 and 12: token-weighted hit rates, prefill amplification.
    from tracelab.metrics.cache import fresh_totals, hit_rates

    suffix = {"all": "", "user": "_user", "tool": "_tool"}
    for r in hit_rates(con):
        group = "all" if r["provider"] == "total" else r["provider"]
        put(group, f"hit_rate{suffix[r['kind']]}", r["hit_rate"])
        if r["hit_rate"] is not None:
            put(group, f"miss_rate{suffix[r['kind']]}", 1.0 - r["hit_rate"])
    # Table 12's definition with predecessors in session order: a profile does not depend on
    # the order of a trace's rows (`cache.FRESH_ORDERS`)
    for r in fresh_totals(con, order="session"):
        if r["kind"] == "all":
            group = "all" if r["provider"] == "total" else r["provider"]
            put(group, "prefill_amplification", r["amplification"])

    # Table 9: median append per prefix bin.
    bins = records(
        con,
        _grouped(
            "bin, quantile_cont(append, 0.5) AS p50",
            f"FROM (SELECT provider, append, {bucket_sql('prefix', PREFIX_BIN_EDGES)} AS bin "
            "FROM step_facts)",
            by="bin",
        ),
    )
    for r in bins:
        put(r["grp"], f"append_p50_prefix_{PREFIX_BINS[r['bin']]}", r["p50"])

    # Table 4: compactions; Table 3: growth and user-step reductions.
    comp = records(
        con,
        _grouped(
            "avg((compactions > 0)::DOUBLE) AS session_share, avg(compactions) AS per_session, "
            "avg(compactions) FILTER (WHERE compactions > 0) AS per_compacting, "
            "sum(tool_compactions) / nullif(sum(compactions), 0) AS tool_share",
            "FROM (SELECT provider, session_id, count(*) FILTER (WHERE is_compaction) AS "
            "compactions, count(*) FILTER (WHERE is_compaction AND is_tool) AS tool_compactions "
            "FROM context_changes GROUP BY ALL)",
        ),
    )
    for r in comp:
        put(r["grp"], "compaction_session_share", r["session_share"])
        put(r["grp"], "compactions_per_session", r["per_session"])
        put(r["grp"], "compactions_per_compacting_session", r["per_compacting"])
        put(r["grp"], "compaction_tool_share", r["tool_share"])
    growth = records(
        con,
        _grouped(
            "avg(growth) FILTER (WHERE change = 'growth') AS positive_avg, "
            "avg((change IN ('micro', 'ordinary', 'major'))::DOUBLE) FILTER (WHERE is_user) "
            "AS user_reduction, "
            "avg((change = 'micro')::DOUBLE) FILTER (WHERE is_user) AS user_micro, "
            "avg((change = 'ordinary')::DOUBLE) FILTER (WHERE is_user) AS user_ordinary",
            "FROM context_changes WHERE change IS NOT NULL",
        ),
    )
    for r in growth:
        put(r["grp"], "positive_growth_avg", r["positive_avg"])
        put(r["grp"], "user_reduction_share", r["user_reduction"])
        put(r["grp"], "user_micro_share", r["user_micro"])
        put(r["grp"], "user_ordinary_share", r["user_ordinary"])

    # Figs. 7–8: tool mix, error rate, latency tails.
    from tracelab.metrics.tools import top_share_rows

    for r in top_share_rows(con, 3):
        put(r["provider"], "top3_tool_share", r["top_share"])
        put(r["provider"], "distinct_tools", r["distinct_tools"])
        put(r["provider"], "tool_error_rate", r["error_rate"])
    lat = "effective_latency_ms"
    tails = records(
        con,
        _grouped(
            f"avg(({lat} < 1000)::DOUBLE) AS under_1s, avg(({lat} < 10000)::DOUBLE) AS under_10s, "
            f"avg(({lat} >= {LONG_CALL_MS})::DOUBLE) AS over_1min, "
            f"sum({lat}) FILTER (WHERE {lat} < 10000) / sum({lat}) AS time_under_10s, "
            f"coalesce(sum({lat}) FILTER (WHERE {lat} >= {LONG_CALL_MS}), 0) / sum({lat}) "
            "AS time_over_1min",
            f"FROM tool_facts WHERE {POSITIVE}",
        ),
    )
    for r in tails:
        put(r["grp"], "tool_calls_under_1s", r["under_1s"])
        put(r["grp"], "tool_calls_under_10s", r["under_10s"])
        put(r["grp"], "tool_calls_over_1min", r["over_1min"])
        put(r["grp"], "tool_time_under_10s", r["time_under_10s"])
        put(r["grp"], "tool_time_over_1min", r["time_over_1min"])

    # Table 1: the most used model's share of a provider's steps.
    models = records(
        con,
        _grouped(
            "max(steps) / sum(steps) AS top_share",
            "FROM (SELECT provider, model, count(*) AS steps FROM step_facts GROUP BY ALL)",
        ),
    )
    for r in models:
        if r["grp"] != "all":
            put(r["grp"], "top_model_share", r["top_share"])
    return out


# --- checking -------------------------------------------------------------------------------

DEFAULT_TOLERANCE = 0.10
_EPS = 1e-9  # a value exactly on the tolerance passes despite float rounding


@dataclass(frozen=True)
class Verdict:
    key: str
    label: str
    unit: str
    target: float
    achieved: float | None
    error: float | None  # (achieved − target) / |target| (absolute when the target is 0)
    tolerance: float
    ok: bool
    source: str
    bound: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "target": self.target,
            "bound": self.bound,
            "achieved": self.achieved,
            "error": self.error,
            "tolerance": self.tolerance,
            "verdict": "PASS" if self.ok else "FAIL",
            "source": self.source,
        }


def compare(
    targets: list[Any], achieved: dict[str, float | None], tolerance: float = DEFAULT_TOLERANCE
) -> list[Verdict]:
    """One verdict per target (`profile.Target`): PASS when the achieved value is within the
    relative tolerance of the target (a target's own tolerance wins over `tolerance`); a
    "lower" bound passes when the achieved value is at least the target; a target of 0 is
    compared absolutely; an unmeasurable quantity fails."""
    out = []
    for t in targets:
        q = QUANTITIES[t.key]
        tol = t.tolerance if t.tolerance is not None else tolerance
        value = achieved.get(t.key)
        if value is None:
            error, ok = None, False
        elif t.value == 0:
            error = value
            ok = abs(value) <= tol + _EPS
        else:
            error = (value - t.value) / abs(t.value)
            ok = error >= -_EPS if t.bound == "lower" else abs(error) <= tol + _EPS
        out.append(
            Verdict(t.key, q.label, q.unit, t.value, value, error, tol, ok, t.source, t.bound)
        )
    return out


def targets_from(measured: dict[str, float | None], source: str) -> list[Any]:
    """A trace's measured quantities as targets (every quantity it has a value for)."""
    from tracelab.synth.profile import Target

    return [
        Target(key, value, source)
        for key, value in sorted(measured.items(), key=lambda kv: _order(kv[0]))
        if value is not None
    ]


def _order(key: str) -> tuple[int, int, int]:
    """Keys in display order: group, then quantity as listed, then stat."""
    group, rest = key.split(".", 1)
    names = [*DISTRIBUTIONS, *SCALARS]
    name, _, stat = rest.partition(".")
    return (
        GROUPS.index(group),
        names.index(name) if name in names else len(names),
        STATS.index(stat) if stat in STATS else -1,
    )


def sort_keys(keys: list[str]) -> list[str]:
    return sorted(keys, key=_order)
