"""Experiments of category `trace_facts`: what the trace is (Table 1) and the prices (Table 6)."""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import providers, rows
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
from tracelab.metrics.costs import coverage_note, price_coverage
from tracelab.metrics.overview import headline

MIX_TOP = 5


@experiment(
    "trace_facts/overview",
    title="Trace overview",
    question="What does the trace contain: models, sessions, users, time span, steps, tool "
    "calls, estimated cost and tokens, per provider?",
    definitions="""
- **Step**: one row of the trace (one LLM invocation with its tool calls). **Session**: one
  `session_id`. **Users**: distinct `user` values (pseudonyms in a sanitized trace).
- **Model mix**: share of a provider's steps per model; the top 5, the rest as *Other*.
- **Observation window**: first to last step start (`timing_events` timestamps, UTC).
- **Est. API price equiv.**: Σ step cost over priced steps (prices and how each model was
  matched: `trace_facts/prices`); steps priced exactly, by family fallback and not at all are
  counted; unpriced steps are never priced at zero.
- **Tokens**: total input = Σ (prefix + append); append = `newly_append_tokens`, prefix =
  `prefix_tokens`; output includes reasoning; reasoning = Codex `reasoning_output_tokens`.
""",
    study_item="Table 1",
)
def overview(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    stats = {r["provider"]: r for r in headline(con)}
    mix = _model_mix(con)
    columns = ["metric", *provs, "total"]
    keys = [*provs, "total"]

    def row(label: str, field: str) -> list:
        return [label, *(stats.get(k, {}).get(field) for k in keys)]

    def window(k: str) -> str | None:
        s = stats.get(k, {})
        if s.get("first_at") is None:
            return None
        return f"{s['first_at']:%b %Y}–{s['last_at']:%b %Y}"

    body = [
        [
            "Model mix (% of steps within provider)",
            *(mix.get(k, "–") for k in provs),
            f"{stats.get('total', {}).get('models', 0)} models",
        ],
        row("Sessions", "sessions"),
        row("Distinct users", "users"),
        ["Observation window", *(window(k) for k in keys)],
        row("LLM steps", "steps"),
        row("Tool calls", "tool_calls"),
        row("Est. API price equiv.", "cost"),
        row("Steps priced exactly", "priced_exact"),
        row("Steps priced by family fallback", "priced_fallback"),
        row("Steps of unpriced models", "unpriced_steps"),
        row("Total input tokens", "input_tokens"),
        row("Append tokens", "append_tokens"),
        row("Prefix tokens", "prefix_tokens"),
        row("Output tokens (incl. reasoning)", "output_tokens"),
        row("Reasoning tokens", "reasoning_tokens"),
    ]
    kinds = [
        "text",
        "int",
        "int",
        "text",
        "int",
        "int",
        "usd",
        "int",
        "int",
        "int",
        "tokens",
        "tokens",
        "tokens",
        "tokens",
        "tokens",
    ]
    table = Table(
        name="table1_overview",
        title="Table 1 — trace overview per provider",
        columns=columns,
        rows=body,
        row_kinds=kinds,
        latex=True,
        note="Reasoning tokens are reported by Codex only (– where a provider reports none).",
    )
    total = stats.get("total", {})
    if not total.get("steps"):
        return Result([table], "The trace has no steps.")
    text = (
        f"The trace holds {format_value(total['sessions'], 'int')} sessions from "
        f"{format_value(total['users'], 'int')} users with "
        f"{format_value(total['steps'], 'int')} LLM steps and "
        f"{format_value(total['tool_calls'], 'int')} tool calls over "
        f"{total['models']} models ({window('total')}). They read "
        f"{format_value(total['input_tokens'], 'tokens')} input tokens, of which "
        f"{format_value(total['prefix_tokens'], 'tokens')} came from the prefix cache, and "
        f"wrote {format_value(total['output_tokens'], 'tokens')} output tokens; at list prices "
        f"that is about {format_value(total['cost'], 'usd')}"
        + (
            f" (not counting {format_value(total['unpriced_steps'], 'int')} steps of unpriced "
            "models)."
            if total["unpriced_steps"]
            else "."
        )
    )
    return Result([table], text)


def _model_mix(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Per provider: 'model share%' for the top models, the rest summed as Other."""
    out: dict[str, str] = {}
    data = rows(
        con,
        """
        SELECT provider, coalesce(model, '(unknown)') AS model, count(*) AS n,
               sum(count(*)) OVER (PARTITION BY provider) AS total
        FROM step_facts GROUP BY 1, 2 ORDER BY provider, n DESC, model
        """,
    )
    by_provider: dict[str, list[tuple[str, int, int]]] = {}
    for provider, model, n, total in data:
        by_provider.setdefault(provider, []).append((model, n, total))
    for provider, models in by_provider.items():
        parts = [f"{m} {n / t * 100:.1f}%" for m, n, t in models[:MIX_TOP]]
        rest = sum(n for _, n, _ in models[MIX_TOP:])
        if rest:
            parts.append(f"Other {rest / models[0][2] * 100:.1f}%")
        out[provider] = ", ".join(parts)
    return out


@experiment(
    "trace_facts/prices",
    title="The prices used for cost",
    question="Which list prices (USD per million tokens) turn each model's tokens into the "
    "estimated cost, and how many steps are priced exactly, by fallback, or not at all?",
    definitions="""
- **Price source** (`--prices`): genai-prices by default (the list price in force at each
  step's start, context-length tiers, 5-minute and 1-hour cache writes); `study` = the study's
  Table 6 with the reference's lookup; or a CSV file. See `tracelab.pricing`.
- **Match**: *exact* = the source knows the model; *fallback* = it does not, and the model's
  family (first of opus, sonnet, haiku, gpt-5 in its lowercased name) priced it; a model with
  neither is **unpriced**: its steps carry no cost (never zero) and are listed below.
- Cost of a step (`metrics.costs`): W = cache-creation tokens clamped to [0, append];
  (append − W) × input + W_5m × 5-minute write + W_1h × 1-hour write + prefix × cache read +
  output × output. Without the log's 5m/1h split every write is a 5-minute write; a source
  without a 1-hour price bills it at the 5-minute price, without a write price at input.
- One row per model and distinct rates applied (a model whose price changed during the trace,
  or whose long-context tier applied, has one row per rate set).
""",
    study_item="Table 6",
)
def prices(con: duckdb.DuckDBPyConnection) -> Result:
    cov = price_coverage(con)
    used = rows(
        con,
        """
        SELECT provider, model, price_match, price_group, p_input, p_write_5m, p_write_1h,
               p_read, p_output, count(*) AS steps
        FROM step_facts WHERE priced
        GROUP BY ALL ORDER BY provider, model, min(started_at) NULLS LAST, p_input
        """,
    )
    rate_cols = ("input", "5m write", "1h write", "cache read", "output")
    table = Table(
        name="table6_prices",
        title="Table 6 — list prices applied (USD per million tokens)",
        columns=["provider", "model", "match", "priced as", *rate_cols, "steps"],
        rows=[list(r) for r in used],
        kinds={**{c: "float" for c in rate_cols}, "steps": "int"},
        latex=True,
        note=f"Price source: {cov['source']}.",
    )
    unpriced = rows(
        con,
        """
        SELECT provider, coalesce(model, '(unknown)'), count(*) FROM step_facts
        WHERE NOT priced GROUP BY ALL ORDER BY 3 DESC
        """,
    )
    models = Table(
        name="unpriced_models",
        title="Models without a price (their steps carry no cost)",
        columns=["provider", "model", "steps"],
        rows=[list(r) for r in unpriced],
        kinds={"steps": "int"},
    )
    text = coverage_note(cov)
    if unpriced:
        names = ", ".join(f"{m} ({format_value(n, 'int')} steps)" for _, m, n in unpriced[:5])
        text += f" Unpriced models: {names}."
    else:
        text += " Every model in the trace has a price."
    return Result([table, models], text)
