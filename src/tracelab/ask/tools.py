"""The two tools the model may call — `metric` and `sql` — and the evidence each call leaves.

Both run in the same `Sandbox`. What goes back to the model is only the tool result (columns
and at most `MODEL_ROWS` rows, or the error): never raw logs. The evidence (tool, arguments,
the SQL that ran, the whole result table, a chart spec) is what the answer shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelab.ask import catalog
from tracelab.ask.charts import chart_spec
from tracelab.ask.sandbox import Sandbox, SandboxError
from tracelab.metrics import tools

#: Rows of a result the model sees (the evidence keeps up to the sandbox's row cap).
MODEL_ROWS = 40


@dataclass
class Evidence:
    """One tool call and what it returned."""

    tool: str
    arguments: dict[str, Any]
    sql: str = ""
    params: list[Any] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    chart: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "sql": self.sql,
            "params": self.params,
            "columns": self.columns,
            "rows": self.rows,
            "truncated": self.truncated,
            "error": self.error,
            "chart": self.chart,
            "seconds": round(self.seconds, 3),
        }

    def for_model(self) -> str:
        """The tool message content: the result (or error) only, compact JSON."""
        if self.error is not None:
            return orjson.dumps({"error": self.error}).decode()
        body: dict[str, Any] = {"columns": self.columns, "rows": self.rows[:MODEL_ROWS]}
        if self.truncated or len(self.rows) > MODEL_ROWS:
            body["note"] = f"showing {min(len(self.rows), MODEL_ROWS)} rows; more were cut"
        return orjson.dumps(body).decode()


SQL_RULES = """Rules: one read-only SELECT (DuckDB dialect), no ';', no files, URLs, PRAGMA, SET,
ATTACH or COPY. Prefer the fact tables (step_facts, tool_facts, request_facts) — their columns
follow the metric definitions below. Aggregate in SQL and LIMIT the rows; times are UTC."""


def sql_description(sandbox: Sandbox) -> str:
    tables = sandbox.table_columns()
    schema = "\n".join(
        f"- {t}(" + ", ".join(f"{c} {ty}" for c, ty in cols) + ")" for t, cols in tables.items()
    )
    return (
        "Run one read-only SQL query over the trace database and get the result table.\n"
        f"{SQL_RULES}\nTables:\n{schema}\n{catalog.describe()}\n"
        f"Metric SQL: tool_error_rate = {tools.CALL_ERROR_RATE_SQL} over tool_facts; "
        "prefix_hit_rate = sum(prefix) / (sum(prefix) + sum(append)) over step_facts; "
        "cost_usd = sum(cost_total) over step_facts (priced steps only)."
    )


def metric_description() -> str:
    return (
        "Compute one of the project's metrics (the same definitions as its tables and "
        "figures), optionally per group and filtered. Returns the result table.\n"
        + catalog.describe()
    )


def tool_specs(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The tools in the OpenAI chat-completions `tools` format."""
    return [
        {
            "type": "function",
            "function": {
                "name": "metric",
                "description": metric_description(),
                "parameters": catalog.json_schema(),
            },
        },
        {
            "type": "function",
            "function": {
                "name": "sql",
                "description": sql_description(sandbox),
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": "one SELECT"}},
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        },
    ]


def parse_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw or not str(raw).strip():
        return {}
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("tool arguments must be a JSON object")
    return value


def call_tool(sandbox: Sandbox, name: str, raw_arguments: str | dict[str, Any] | None) -> Evidence:
    """Run one tool call; every failure becomes the evidence's `error` (never an exception)."""
    try:
        args = parse_arguments(raw_arguments)
    except (ValueError, orjson.JSONDecodeError) as exc:
        return Evidence(name, {}, error=f"arguments are not a JSON object: {exc}")
    ev = Evidence(name, args)
    try:
        if name == "sql":
            query = args.get("query")
            if not isinstance(query, str):
                raise SandboxError("the sql tool needs a 'query' string")
            result = sandbox.run(query)
        elif name == "metric":
            mq = catalog.build_query(
                args.get("metric", ""),
                args.get("group_by"),
                args.get("filters"),
                args.get("order"),
                args.get("limit"),
            )
            result = sandbox.run(mq.sql, mq.params)
        else:
            raise SandboxError(f"unknown tool {name!r}: use metric or sql")
    except (SandboxError, catalog.CatalogError, TypeError, ValueError) as exc:
        ev.error = str(exc)
        return ev
    ev.sql, ev.params, ev.columns, ev.rows = result.sql, result.params, result.columns, result.rows
    ev.truncated, ev.seconds = result.truncated, result.seconds
    ev.chart = chart_spec(ev.columns, ev.rows)
    return ev
