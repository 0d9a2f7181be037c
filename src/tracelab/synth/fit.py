"""`synth fit`: learn a workload profile from a trace database — numbers only, never content.

Every distribution is a quantile table computed in DuckDB over the fact tables of
`tracelab.metrics.steps` (the same definitions the analyses use); shares and rates are counts.
What enters a profile: token counts, latencies, waits, counts, rates, tool names and model names.
What never does: ids, user/project names, paths, text, timestamps (only their differences).

The mapping from the trace to the profile's fields (see `tracelab.synth.profile`):

- sessions: a session is top-level unless all its steps are subagent steps; `session_share` is
  the provider's share of top-level sessions; `requests_per_session` is over top-level sessions.
- requests: tool-initiated steps per request in sessions of several requests, and in sessions
  of one request (`tool_steps_single_request`); tool calls per tool-calling step: user- and
  tool-initiated steps of multi-request sessions, any step of a single-request session.
- models: share of steps, context limit = the largest context seen with the model, output
  re-sent unless the output-attribution test (`metrics.generation`) says cached more often.
- tools: share of calls, positive effective latencies, error rate (errors / calls with a
  status); `tool_latency_correlation` from the rank correlation of consecutive calls' latencies
  within a request (Spearman ρ_s → Gaussian copula ρ = 2 sin(π ρ_s / 6)).
- tokens: C and prefix of session-first steps; fresh tokens (`step_facts.fresh`) of user steps
  and of tool steps by the context they join (< 32k, ≥ 32k); output of tool-calling and final
  steps; reasoning share of output.
- generation: TTFT from the generation time of short outputs (≤ 64 tokens), time per token
  from long outputs (≥ 500 tokens) net of the median TTFT, less the share that stalled.
- cache: a step misses when its prefix is below half the previous step's input; P(miss) per
  idle-gap bin (1 min, 5 min, 1 h) and step kind, and its growth with the context resumed
  (the exponent from the miss rates below and above 100k tokens); the prefix a full miss
  keeps (prefix below 5 % of the previous input) and the share of the previous input a miss
  keeps; rounding;
  the share of user-step hits served only up to the previous turn (`turn_prefix`).
- context: each session's window is inferred (`CONTEXT_WINDOWS`: the smallest at or above a
  compaction's pre-drop context or the session's peak; a model's limit is its sessions' mix);
  compaction thresholds = median pre-drop context / the session's window (per trigger),
  summary = context after the drop; user-step reductions that are no compaction.
- targets: `calibration.measure` of the trace (every quantity it has a value for).

A profile depends only on the trace's content — never on its pseudonyms (the sanitizing key)
nor on its row order: pseudonymous model and tool names are relabelled by content
(`synth.fitnames`), ties are broken by step order or content, and floating-point means are
summed in sorted order (`dist_sql(exact=True)`, `ORDER BY` inside aggregates).
"""

from __future__ import annotations

import math
from typing import Any

from tracelab.synth.calibration import measure, targets_from
from tracelab.synth.fitnames import canonical_names
from tracelab.synth.profile import FORMAT, SUBAGENT_TOOLS, validate
from tracelab.synth.workload import MISS_CONTEXT_REF

#: Quantile levels of every fitted table (0 and 1 are the observed min and max): dense
#: enough that interpolating between two levels cannot fill much of a gap of a bimodal
#: distribution (e.g. a miss keeps nothing or the whole system prompt).
LEVELS = (
    *(0.0, 0.001, 0.005, 0.01, 0.025),
    *(i / 20 for i in range(1, 19)),
    *(0.925, 0.95, 0.975, 0.99, 0.995, 0.999, 1.0),
)
#: Idle-gap edges (ms) of the fitted cache-miss probabilities.
GAP_EDGES_MS = (60_000, 300_000, 3_600_000)
#: Context (tokens) splitting the two fitted tool-fresh distributions.
FRESH_CONTEXT_EDGE = 32_768
#: A step misses the cache when its prefix is below this share of the previous input.
MISS_SHARE = 0.5
MAX_TOOLS_PER_STEP = 64
#: A generation slower than this many median TTFTs before its first token is a stall.
STALL_FACTOR = 5
#: The context windows (tokens) each agent's models ship with: Claude's 200k and 1M, Codex's
#: 95 % of GPT-5's 272k input (258,400) and 1M. A fitted model's limit is snapped to these.
CONTEXT_WINDOWS: dict[str, tuple[int, ...]] = {
    "claude": (200_000, 1_000_000),
    "codex": (258_400, 1_000_000),
}
#: How far one step's growth may carry a context past its window before it is compacted: a
#: window is inferred from a (median) pre-drop context or peak divided by this.
WINDOW_OVERSHOOT = 1.1

_LEVELS_SQL = "[" + ", ".join(repr(q) for q in LEVELS) + "]"


class FitError(ValueError):
    """The trace has too little to fit a profile from."""


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _table(con: Any, expr: str, source: str, params: list[Any], default: list[float]) -> dict:
    """Quantile table of `expr` over `source` (FROM … WHERE with `?` params), values ≥ 0."""
    row = _rows(con, f"SELECT quantile_cont({expr}, {_LEVELS_SQL}) {source}", params)
    values = row[0][0] if row and row[0][0] is not None else None
    if not values:
        values = default
        levels = [0.0, 0.5, 1.0] if len(default) == 3 else list(LEVELS)
    else:
        levels = list(LEVELS)
    clean, last = [], 0.0
    for v in values:
        v = max(0.0, float(v), last)
        clean.append(round(v, 3))
        last = v
    return {"q": levels, "v": clean, "scale": "log"}


def _weights(con: Any, source: str, params: list[Any], default: dict[str, float]) -> dict:
    rows = _rows(
        con,
        f"SELECT least(tool_call_count, {MAX_TOOLS_PER_STEP}) AS n, count(*) {source} "
        "GROUP BY 1 ORDER BY 1",
        params,
    )
    total = sum(c for _, c in rows)
    if not total:
        return default
    return {str(int(n)): round(c / total, 6) for n, c in rows}


def _spearman_to_copula(rho_s: float | None) -> float:
    if rho_s is None or not math.isfinite(rho_s):
        return 0.0
    return round(min(1.0, max(0.0, 2 * math.sin(math.pi * rho_s / 6))), 3)


_SESSIONS_SQL = """
CREATE OR REPLACE TEMP TABLE fit_sessions AS
SELECT provider, session_id, bool_and(is_subagent) AS subagent,
       count(DISTINCT request_no) AS requests, min(started_at) AS started
FROM step_facts GROUP BY provider, session_id
"""

_STEPS_SQL = f"""
CREATE OR REPLACE TEMP TABLE fit_steps AS
SELECT s.*, fs.requests = 1 AS single, fs.subagent,
       s.prev_context + s.prev_output AS joined,
       s.prefix < {MISS_SHARE} * s.prev_context AS miss,
       coalesce(c.is_compaction, false) AS compaction
FROM step_facts s
JOIN fit_sessions fs USING (provider, session_id)
LEFT JOIN context_changes c USING (round_pk)
"""


def _provider(con: Any, provider: str, sessions_total: int) -> dict[str, Any]:
    p = [provider]
    top = _rows(
        con,
        "SELECT count(*) FROM fit_sessions WHERE provider = ? AND NOT subagent",
        p,
    )[0][0]
    sessions = _session_windows(con, provider)
    models = _models(con, provider, sessions)
    tools = _tools(con, provider)
    gamma = _miss_exponent(con, provider)
    miss = _miss(con, provider, gamma)
    steps = "FROM fit_steps WHERE provider = ?"
    tool_step = f"{steps} AND is_tool AND growth >= 0 AND fresh IS NOT NULL"
    out: dict[str, Any] = {
        "session_share": round(top / sessions_total, 6) if sessions_total else 0.0,
        "models": models,
        "requests_per_session": _table(
            con,
            "requests",
            "FROM fit_sessions WHERE provider = ? AND NOT subagent",
            p,
            [1, 1, 1],
        ),
        "tool_steps_per_request": _table(
            con,
            "tool_steps",
            "FROM request_facts r JOIN fit_sessions s USING (provider, session_id) "
            "WHERE provider = ? AND s.requests > 1",
            p,
            [0, 1, 10],
        ),
        "tool_steps_single_request": _table(
            con,
            "tool_steps",
            "FROM request_facts r JOIN fit_sessions s USING (provider, session_id) "
            "WHERE provider = ? AND s.requests = 1",
            p,
            [0, 5, 50],
        ),
        "tools_per_step": _weights(
            con, f"{steps} AND NOT single AND is_tool AND tool_call_count > 0", p, {"1": 1}
        ),
        "tools_per_user_step": _weights(
            con, f"{steps} AND NOT single AND is_user AND tool_call_count > 0", p, {"1": 1}
        ),
        "tools_per_step_single": _weights(
            con, f"{steps} AND single AND tool_call_count > 0", p, {"1": 1}
        ),
        "tools": tools,
        "tool_overhead_ms": _table(
            con,
            "tool_wall_latency_ms - tool_internal_latency_ms",
            "FROM tool_facts WHERE provider = ? AND tool_wall_latency_ms >= "
            "tool_internal_latency_ms",
            p,
            [0, 10, 100],
        ),
        "tool_latency_correlation": _correlation(con, provider),
        "tokens": {
            "first_context": _table(
                con, "context", f"{steps} AND seq = 1", p, [1000, 20000, 100000]
            ),
            "first_prefix": _table(con, "prefix", f"{steps} AND seq = 1", p, [0, 0, 20000]),
            "user_fresh": _table(
                con,
                "fresh",
                f"{steps} AND is_user AND growth >= 0 AND fresh IS NOT NULL",
                p,
                [1, 100, 10000],
            ),
            "tool_fresh": {
                "context_tokens": [FRESH_CONTEXT_EDGE],
                "fresh": [
                    _table(
                        con,
                        "fresh",
                        f"{tool_step} AND joined < ?",
                        [provider, FRESH_CONTEXT_EDGE],
                        [1, 500, 20000],
                    ),
                    _table(
                        con,
                        "fresh",
                        f"{tool_step} AND joined >= ?",
                        [provider, FRESH_CONTEXT_EDGE],
                        [1, 500, 20000],
                    ),
                ],
            },
            "output_user_step": _table(
                con, "output", f"{steps} AND is_user AND tool_call_count > 0", p, [1, 200, 5000]
            ),
            "output_tool_step": _table(
                con, "output", f"{steps} AND NOT is_user AND tool_call_count > 0", p, [1, 200, 5000]
            ),
            "output_final_step": _table(
                con, "output", f"{steps} AND coalesce(tool_call_count, 0) = 0", p, [1, 300, 5000]
            ),
        },
        "generation": _generation(con, provider),
        "human_wait_ms": _table(
            con,
            "wait_ms",
            "FROM human_waits WHERE provider = ? AND wait_ms > 0",
            p,
            [1000, 60000, 3600000],
        ),
        "cache": {
            "miss_probability": miss,
            "miss_context_exponent": gamma,
            "miss_prefix": _table(
                con,
                "prefix",
                f"{steps} AND miss AND NOT compaction AND prefix < 0.05 * prev_context",
                p,
                [0, 0, 0],
            ),
            "miss_keep": {
                **_table(
                    con,
                    "prefix / prev_context",
                    f"{steps} AND miss AND NOT compaction AND prev_context > 0",
                    p,
                    [0, 0, 0],
                ),
                "scale": "linear",
            },
            "prefix_round": _prefix_round(con, provider),
            "turn_prefix": _turn_prefix(con, provider),
        },
        "context": _context(con, provider, sessions),
    }
    reasoning = _rows(
        con,
        "SELECT count(*) FROM fit_steps WHERE provider = ? AND reasoning IS NOT NULL",
        p,
    )[0][0]
    if reasoning:
        out["tokens"]["reasoning_share"] = {
            **_table(
                con,
                "least(reasoning / output, 1.0)",
                f"{steps} AND reasoning IS NOT NULL AND output > 0",
                p,
                [0, 0, 1],
            ),
            "scale": "linear",
        }
    return out


def _session_windows(con: Any, provider: str) -> list[tuple[str, int | None, list[tuple]]]:
    """Per session: its main model, the context window it evidently ran with (None when its
    contexts never came near a window) and its compactions (is_user, pre-drop context).

    A trace records contexts, not windows: a session that compacted ran with the smallest
    known window at or above its (median) pre-drop context; one whose context passed a window
    ran with a larger one. (The peak context alone would cap a look-alike's contexts at the
    largest seen.)
    """
    windows = CONTEXT_WINDOWS.get(provider, ())
    rows = _rows(
        con,
        """
        WITH counts AS (
            SELECT session_id, coalesce(model, '(unknown)') AS model, count(*) AS n,
                   min(seq) AS first
            FROM fit_steps WHERE provider = ? GROUP BY ALL
        ),
        main AS (  -- the session's most used model; on a tie, the one it used first
            SELECT session_id, model FROM counts
            QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY n DESC, first) = 1
        )
        SELECT m.model, max(s.context) AS peak,
               list((s.is_user, s.prev_context) ORDER BY s.seq) FILTER (WHERE s.compaction)
        FROM fit_steps s JOIN main m USING (session_id)
        GROUP BY s.session_id, m.model ORDER BY s.session_id
        """,
        [provider],
    )
    out = []
    for model, peak, compactions in rows:
        compactions = [(bool(u), int(c)) for u, c in compactions or [] if c]
        drops = sorted(c for _, c in compactions)
        # compactions fire near the window (one step may overshoot it): their median, else
        # the peak, is what the window must hold
        floor = (drops[(len(drops) - 1) // 2] if drops else int(peak or 0)) / WINDOW_OVERSHOOT
        above = [w for w in windows if w >= floor]
        if compactions or any(w < floor for w in windows):
            window = above[0] if above else int(floor)
        else:
            window = None  # never near a window: any window ≥ its peak fits
        out.append((model, window, compactions))
    return out


def _models(con: Any, provider: str, sessions: list[tuple]) -> dict[str, Any]:
    rows = _rows(
        con,
        """
        SELECT coalesce(s.model, '(unknown)') AS model, count(*) AS steps, max(s.context) AS peak,
               count(*) FILTER (WHERE a.attribution = 'cached') AS cached,
               count(*) FILTER (WHERE a.attribution = 'resend') AS resend
        FROM fit_steps s LEFT JOIN attribution_pairs a USING (round_pk)
        WHERE s.provider = ? GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        [provider],
    )
    total = sum(r[1] for r in rows)
    windows: dict[str, dict[int, int]] = {}
    for model, window, _ in sessions:
        if window is not None:
            mix = windows.setdefault(model, {})
            mix[window] = mix.get(window, 0) + 1
    return {
        model: {
            "share": round(steps / total, 6),
            "context_limit": _limit(windows.get(model), int(peak or 0), provider),
            "output_resend": not cached > resend,
        }
        for model, steps, peak, cached, resend in rows
    }


def _limit(mix: dict[int, int] | None, peak: int, provider: str) -> int | dict[str, float]:
    """A model's context limit: its sessions' window mix, else the smallest known window
    above its peak context (else the peak)."""
    if mix:
        if len(mix) == 1:
            return next(iter(mix))
        n = sum(mix.values())
        return {str(w): round(c / n, 6) for w, c in sorted(mix.items())}
    above = [w for w in CONTEXT_WINDOWS.get(provider, ()) if w >= peak]
    return above[0] if above else max(1024, peak)


def _tools(con: Any, provider: str) -> dict[str, Any]:
    rows = _rows(
        con,
        """
        SELECT coalesce(tool_name, '(unnamed)') AS tool, count(*) AS calls,
               count(*) FILTER (WHERE is_error) AS errors,
               count(*) FILTER (WHERE effective_latency_ms > 0) AS timed
        FROM tool_facts WHERE provider = ? GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        [provider],
    )
    total = sum(r[1] for r in rows)
    pooled = _table(
        con,
        "effective_latency_ms",
        "FROM tool_facts WHERE provider = ? AND effective_latency_ms > 0",
        [provider],
        [1, 100, 10000],
    )
    tools: dict[str, Any] = {}
    for name, calls, errors, timed in rows:
        if name in SUBAGENT_TOOLS:
            latency = None
        elif timed >= 5:
            latency = _table(
                con,
                "effective_latency_ms",
                "FROM tool_facts WHERE provider = ? AND coalesce(tool_name, '(unnamed)') = ? "
                "AND effective_latency_ms > 0",
                [provider, name],
                [1, 100, 10000],
            )
        else:
            latency = pooled
        tools[name] = {
            "share": round(calls / total, 8),
            "latency_ms": latency,
            # errors / all calls: the error rate of `metrics.tools` (amendments §14.6)
            "error_rate": round(errors / calls, 6),
        }
    return tools or {"(none)": {"share": 1.0, "latency_ms": pooled, "error_rate": 0.0}}


def _correlation(con: Any, provider: str) -> float:
    row = _rows(
        con,
        """
        WITH ranked AS (
            SELECT t.session_id, s.request_no, s.seq, t.tool_index,
                   percent_rank() OVER (PARTITION BY t.tool_name ORDER BY t.effective_latency_ms)
                       AS u
            FROM tool_facts t JOIN step_facts s USING (round_pk)
            WHERE t.provider = ? AND t.effective_latency_ms > 0
        ),
        pairs AS (
            SELECT u, lag(u) OVER (PARTITION BY session_id, request_no
                                   ORDER BY seq, tool_index) AS prev_u
            FROM ranked
        )
        SELECT corr(u, prev_u ORDER BY u, prev_u) FROM pairs WHERE prev_u IS NOT NULL
        """,
        [provider],
    )
    return _spearman_to_copula(row[0][0] if row else None)


def _generation(con: Any, provider: str) -> dict[str, Any]:
    """TTFT from short outputs; time per token from long outputs net of the median TTFT, with
    the TTFT stalls taken out: a long output's generation time also holds its TTFT, so the
    share of short outputs that stalled (> `STALL_FACTOR` × the median TTFT) is trimmed from
    the top of the per-token times — the generator draws the stall once, from the TTFT."""
    p = [provider]
    base = "FROM step_facts WHERE provider = ? AND gen_ms > 0 AND output > 0"
    ttft = _table(con, "gen_ms", f"{base} AND output <= 64", p, [])
    if not ttft["v"]:
        ttft = _table(con, "gen_ms * 0.5", base, p, [500, 2000, 20000])
    median_ttft = ttft["v"][LEVELS.index(0.5)] if len(ttft["v"]) == len(LEVELS) else ttft["v"][1]
    stalled = _rows(
        con,
        f"SELECT avg((gen_ms > ? * ?)::DOUBLE) {base} AND output <= 64",
        [STALL_FACTOR, median_ttft, provider],
    )[0][0]
    keep = 1.0 - min(0.5, float(stalled or 0.0))
    per_token = _table(
        con,
        "per_token",
        f"""FROM (SELECT per_token, cume_dist() OVER (ORDER BY per_token) AS rank
                  FROM (SELECT greatest(gen_ms - ?, 0) / output AS per_token
                        {base} AND output >= 500))
            WHERE rank <= ?""",
        [median_ttft, provider, keep],
        [2, 15, 100],
    )
    return {"ttft_ms": ttft, "ms_per_token": per_token}


_MISS_POPULATION = """
    FROM fit_steps
    WHERE provider = ? AND prev_context > 0 AND idle_gap_ms IS NOT NULL
          AND NOT compaction AND (is_user OR is_tool)
"""


def _miss_exponent(con: Any, provider: str) -> float:
    """How the miss rate grows with the context a step resumes: from the miss rates and median
    contexts of the steps below and above `MISS_CONTEXT_REF`, γ = Δ log rate / Δ log context."""
    rows = _rows(
        con,
        f"""
        SELECT prev_context >= {MISS_CONTEXT_REF} AS big, avg(miss::DOUBLE),
               median(prev_context)
        {_MISS_POPULATION} GROUP BY 1
        """,
        [provider],
    )
    by = {bool(big): (rate, med) for big, rate, med in rows}
    if len(by) < 2 or not all(r and m for r, m in by.values()):
        return 0.0
    (r_lo, m_lo), (r_hi, m_hi) = by[False], by[True]
    if m_hi <= m_lo:
        return 0.0
    gamma = math.log(r_hi / r_lo) / math.log(m_hi / m_lo)
    return round(max(-2.0, min(2.0, gamma)), 4)


def _miss(con: Any, provider: str, gamma: float) -> dict[str, Any]:
    """P(miss) per idle-gap bin and kind, net of the context scaling the generator applies:
    the bin's miss rate / its mean (C / ref)^γ."""
    bins = (
        "CASE "
        + " ".join(f"WHEN idle_gap_ms < {e} THEN {i}" for i, e in enumerate(GAP_EDGES_MS))
        + f" ELSE {len(GAP_EDGES_MS)} END"
    )
    rows = _rows(
        con,
        f"""
        SELECT is_user, {bins} AS bin,
               avg(miss::DOUBLE)
                   / avg(pow(prev_context / {MISS_CONTEXT_REF}, ?) ORDER BY prev_context)
        {_MISS_POPULATION} GROUP BY ALL
        """,
        [gamma, provider],
    )
    rates = {(u, b): r for u, b, r in rows}
    out: dict[str, Any] = {"gap_ms": list(GAP_EDGES_MS)}
    for kind, user in (("user", True), ("tool", False)):
        seq, last = [], 0.0
        for b in range(len(GAP_EDGES_MS) + 1):
            last = rates.get((user, b), last)
            seq.append(round(min(1.0, float(last)), 6))
        out[kind] = seq
    return out


def _turn_prefix(con: Any, provider: str) -> float:
    """Share of user-initiated cache hits (growth ≥ 0) whose prefix stops more than 1k tokens
    short of the previous step's input: the cache served only up to the previous turn."""
    row = _rows(
        con,
        """
        SELECT avg((prefix < prev_context - 1024)::DOUBLE) FROM fit_steps
        WHERE provider = ? AND is_user AND prev_context IS NOT NULL AND NOT miss
              AND NOT compaction AND growth >= 0
        """,
        [provider],
    )
    return round(float(row[0][0]), 6) if row and row[0][0] is not None else 0.0


def _prefix_round(con: Any, provider: str) -> int:
    row = _rows(
        con,
        "SELECT avg((prefix % 128 = 0)::DOUBLE) FROM step_facts WHERE provider = ? AND prefix > 0",
        [provider],
    )
    return 128 if row and row[0][0] is not None and row[0][0] >= 0.99 else 1


def _context(con: Any, provider: str, sessions: list[tuple]) -> dict[str, Any]:
    ratios: dict[bool, list[float]] = {True: [], False: []}
    for _, window, compactions in sessions:
        for user, prev in compactions:
            if window:
                ratios[user].append(min(1.0, prev / window))

    def median(xs: list[float], default: float) -> float:
        if not xs:
            return default
        xs = sorted(xs)
        return round(xs[len(xs) // 2], 4)

    tool_threshold = median(ratios[False] or ratios[True], 1.0)
    user_threshold = median(ratios[True], tool_threshold)
    p = [provider]
    reduction = _rows(
        con,
        """
        SELECT avg((growth < 0 AND NOT compaction)::DOUBLE) FROM fit_steps
        WHERE provider = ? AND is_user AND growth IS NOT NULL
        """,
        p,
    )[0][0]
    return {
        "compaction": {
            "tool_threshold": max(0.05, tool_threshold),
            "user_threshold": max(0.05, user_threshold),
            "summary_tokens": _table(
                con,
                "context",
                "FROM fit_steps WHERE provider = ? AND compaction",
                p,
                [10000, 30000, 60000],
            ),
        },
        "user_reduction": {
            "probability": round(float(reduction or 0.0), 6),
            "tokens": _table(
                con,
                "-growth",
                "FROM fit_steps WHERE provider = ? AND is_user AND growth < 0 AND NOT compaction",
                p,
                [1, 1000, 10000],
            ),
        },
    }


def _session_gaps(con: Any) -> dict[str, Any]:
    return _table(
        con,
        "gap",
        "FROM (SELECT epoch_ms(started) - epoch_ms(lag(started) OVER (ORDER BY started)) AS gap "
        "FROM fit_sessions WHERE NOT subagent AND started IS NOT NULL) "
        "WHERE gap >= 0 AND ? IS NULL",
        [None],
        [1000, 1_200_000, 86_400_000],
    )


def fit_profile(con: Any, name: str = "fitted", source: str = "a trace") -> dict[str, Any]:
    """The profile document (validated) of the trace behind `con`; `FitError` if it is empty."""
    from tracelab.metrics.generation import prepare_generation
    from tracelab.metrics.session import prepare_session

    prepare_session(con)
    prepare_generation(con)
    con.execute(_SESSIONS_SQL)
    con.execute(_STEPS_SQL)
    providers = [
        p
        for (p,) in _rows(con, "SELECT DISTINCT provider FROM fit_sessions ORDER BY 1")
        if p in ("claude", "codex")
    ]
    if not providers:
        raise FitError("the trace has no Claude or Codex steps to fit a profile from")
    top = _rows(con, "SELECT count(*) FROM fit_sessions WHERE NOT subagent")[0][0]
    measured = measure(con)
    doc = {
        "format": FORMAT,
        "name": name,
        "description": f"Fitted by `tracelab synth fit` from {source}: quantiles and rates only.",
        "session_gap_ms": _session_gaps(con),
        "providers": canonical_names({p: _provider(con, p, top) for p in providers}),
        "targets": [t.to_json() for t in targets_from(measured, f"measured on {source}")],
    }
    validate(doc, name)
    return doc
