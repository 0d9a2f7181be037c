"""Experiments of category `trace_facts`: what the trace is (Table 1) and the prices (Table 6)."""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import providers, rows
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import experiment
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
- **Est. API price equiv.**: Σ step cost over priced steps (prices: Table 6, `trace_facts/prices`);
  steps of unpriced models are counted and reported, never priced at zero.
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
    title="The price table used for cost",
    question="Which list prices (USD per million tokens) turn tokens into the estimated cost?",
    definitions="""
- Cost of a step: append = uncached input × input price + cache-creation × 5-minute-write price
  (Claude; Codex: append × input price); prefix × cache-read price; output × output price.
- A model matches the first row whose pattern (`model_glob`, a GLOB) matches its name; a model
  matching no row is **unpriced** and listed below with its step count.
- The table is the data file `tracelab/data/prices.csv` (the study's Table 6); `--prices FILE`
  replaces it.
""",
    study_item="Table 6",
)
def prices(con: duckdb.DuckDBPyConnection) -> Result:
    price_rows = rows(
        con,
        """
        SELECT provider, model_group, string_agg(model_glob, ', ' ORDER BY price_rank),
               any_value(input), any_value(cache_write_5m), any_value(cache_read),
               any_value(output)
        FROM prices GROUP BY provider, model_group ORDER BY min(price_rank)
        """,
    )
    table = Table(
        name="table6_prices",
        title="Table 6 — list prices (USD per million tokens)",
        columns=["provider", "model group", "models", "input", "5m write", "cache read", "output"],
        rows=[list(r) for r in price_rows],
        kinds={c: "float2" for c in ("input", "5m write", "cache read", "output")},
        latex=True,
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
    (priced, total) = rows(con, "SELECT count(*) FILTER (WHERE priced), count(*) FROM step_facts")[
        0
    ]
    text = f"{format_value(priced, 'int')} of {format_value(total, 'int')} steps are priced"
    if unpriced:
        names = ", ".join(f"{m} ({format_value(n, 'int')} steps)" for _, m, n in unpriced[:5])
        text += f"; unpriced models: {names}."
    else:
        text += "; every model in the trace has a price."
    return Result([table, models], text)
