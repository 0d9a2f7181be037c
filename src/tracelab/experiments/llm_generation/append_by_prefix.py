"""`llm_generation/append_by_prefix` (Table 9): append tokens per bin of prefix length."""

from __future__ import annotations

import duckdb

from tracelab.experiments.base import Result, Table
from tracelab.experiments.common import dist_columns, dist_sql, providers, records
from tracelab.experiments.llm_generation._shared import _count, _sorted, _tok
from tracelab.experiments.registry import experiment
from tracelab.metrics import generation as g

PREFIX_LABELS = g.bucket_labels(g.PREFIX_BIN_EDGES, g.KIB)


@experiment(
    "llm_generation/append_by_prefix",
    title="Append tokens by prefix length",
    question="How much new input does a step append, given how much of its context is cached?",
    definitions=f"""
- Steps are binned by **prefix** tokens: {", ".join(PREFIX_LABELS)}, where **k = 1,024
  tokens** and a bin includes its lower edge (a prefix of exactly 1,024 is in 1–2k; 1,023 in
  <1k).
- Within a bin: number of steps and the distribution of **append** tokens
  (`newly_append_tokens`): avg, p50, p90, p99. Empty bins are listed with 0 steps and –.
""",
    study_item="Table 9",
)
def append_by_prefix(con: duckdb.DuckDBPyConnection) -> Result:
    provs = providers(con)
    cols = dist_columns((0.5, 0.9, 0.99))
    stats = records(
        con,
        f"""
        SELECT provider, {g.bucket_sql("prefix", g.PREFIX_BIN_EDGES)} AS bin, count(*) AS steps,
               {dist_sql("append", (0.5, 0.9, 0.99))}
        FROM step_facts GROUP BY ALL
        """,
    )
    by_key = {(r["provider"], r["bin"]): r for r in stats}
    body = []
    for p in provs:
        for b, label in enumerate(PREFIX_LABELS):
            r = by_key.get((p, b), {"steps": 0})
            body.append([p, label, r["steps"], *(r.get(c) for c in cols)])
    table = Table(
        name="table9_append_by_prefix",
        title="Table 9 — append tokens by prefix bin (k = 1,024)",
        columns=["provider", "prefix", "steps", *cols],
        rows=body,
        kinds={"steps": "int", **{c: "tokens" for c in cols}},
        latex=True,
    )
    short, long_ = g.PREFIX_BIN_EDGES[0], g.LONG_PREFIX
    split = records(
        con,
        f"""
        SELECT provider,
               quantile_cont(append, 0.5) FILTER (WHERE prefix < {short}) AS short_p50,
               count(*) FILTER (WHERE prefix < {short}) AS short_steps,
               quantile_cont(append, 0.5) FILTER (WHERE prefix >= {long_}) AS long_p50,
               count(*) FILTER (WHERE prefix >= {long_}) AS long_steps
        FROM step_facts GROUP BY provider
        """,
    )
    if not provs:
        return Result([table], "The trace has no steps, so there is nothing to bin.")
    parts = [
        f"{r['provider']}: median append {_tok(r['short_p50'])} at a prefix below 1k "
        f"({_count(r['short_steps'], 'step')}) vs {_tok(r['long_p50'])} once the "
        f"prefix reaches {long_ // g.KIB}k ({_count(r['long_steps'], 'step')})"
        for r in _sorted(split, provs)
    ]
    text = (
        "With little cached prefix the append dominates (a cache miss or an initial prefill); "
        "with a long prefix a step appends only an incremental tool result or user turn. "
        + "; ".join(parts)
        + "."
    )
    return Result([table], text)
