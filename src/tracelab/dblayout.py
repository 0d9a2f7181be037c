"""The trace database's on-disk layout: the public release's tables first, TraceLab's extras after.

Why: people open the public dataset's DuckDB (`syfi_coding_trace.duckdb`) with tools written for
it, and TraceLab's own databases must open in those tools too (spec `public-dataset.md`). So
`db build` writes the release's tables with its column names, order and types exactly, and only
then TraceLab's extra columns. Two kinds of extras follow the release columns:

- normalized-format fields the release does not carry (`is_subagent`, private fields of a
  private build, fields added after the release) under their schema names, and
- values TraceLab derives, prefixed `tl_` (`EXTRA_PREFIX`) so they can never collide with a
  release column of another table when a release reader joins tables (`provider` on
  `timing_events` would make `provider` ambiguous in `timing_events JOIN rounds`).

Release conventions: `round_pk` (= `ingest_seq`) is the step's 1-based position in the trace
file; `event_index` is 1-based within the step; timestamps are naive TIMESTAMP holding UTC;
`turn_id` is a UUID (TraceLab keeps VARCHAR when a trace's turn ids are not all UUIDs, so no id
is lost — what DuckDB's type detection, which the reference builder relies on, does too).

Field names come from `tracelab.schema`; this module only fixes their order in the release
tables (checked against the schema at import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelab.schema import (
    PRIVATE_TOOL_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    TOOL_FIELDS,
    Fields,
    ListOf,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: Prefix of the columns TraceLab derives (not normalized-format fields).
EXTRA_PREFIX = "tl_"

#: Fields stored as TIMESTAMP (naive, UTC) in the database; ISO-8601 strings in the trace.
TIMESTAMP_FIELDS = frozenset({"timestamp", "emitted_at", "result_at"})
#: Stored as UUID when every value of the trace is one (else VARCHAR).
UUID_FIELDS = frozenset({"turn_id"})

#: `rounds`: after `round_pk`, `ingest_seq` (both BIGINT), in the release's order.
RELEASE_ROUND_FIELDS: tuple[str, ...] = (
    "provider",
    "project",
    "session_id",
    "round_index",
    "round_id",
    "model",
    "input_tokens_total",
    "prefix_tokens",
    "newly_append_tokens",
    "claude_uncached_input_tokens",
    "claude_cache_creation_input_tokens",
    "claude_cache_read_input_tokens",
    "output_tokens",
    "current_input_event_count",
    "current_user_message_count",
    "current_tool_result_count",
    "current_user_message_chars",
    "current_tool_result_chars",
    "current_input_chars",
    "first_input_event_type",
    "user",
    "store",
    "trace_key",
    "turn_id",
    "reasoning_output_tokens",
)
#: `tool_calls`: after `round_pk`.
RELEASE_TOOL_FIELDS: tuple[str, ...] = (
    "tool_index",
    "tool_name",
    "tool_call_id",
    "emitted_at",
    "result_at",
    "tool_wall_latency_ms",
    "tool_internal_latency_ms",
    "is_error",
    "input_chars",
    "result_chars",
)
#: `timing_events`: after `round_pk`, `event_index` (the latter absent in the first release).
RELEASE_EVENT_FIELDS: tuple[str, ...] = (
    "event_type",
    "source",
    "timestamp",
    "tool_call_id",
    "tool_index",
    "tool_name",
    "is_error",
    "result_chars",
    "content_chars",
)

#: The nested row fields (each its own table).
LIST_FIELDS = tuple(name for name, t in ROW_FIELDS.spec.items() if isinstance(t, ListOf))
#: Every scalar row field of the schema (a `rounds` column each).
SCALAR_ROW_FIELDS = tuple(name for name in ROW_FIELDS if name not in LIST_FIELDS)
#: Every public tools[] field (a `tool_calls` column each; the private `input` is never stored).
DB_TOOL_FIELDS = tuple(name for name in TOOL_FIELDS if name not in PRIVATE_TOOL_FIELDS)
DB_EVENT_FIELDS = tuple(TIMING_EVENT_FIELDS)

#: Schema fields the release tables lack, stored after the release columns (schema order).
EXTRA_ROUND_FIELDS = tuple(n for n in SCALAR_ROW_FIELDS if n not in RELEASE_ROUND_FIELDS)
EXTRA_TOOL_FIELDS = tuple(n for n in DB_TOOL_FIELDS if n not in RELEASE_TOOL_FIELDS)
EXTRA_EVENT_FIELDS = tuple(n for n in DB_EVENT_FIELDS if n not in RELEASE_EVENT_FIELDS)

#: Row fields copied onto child rows (as `tl_<name>`), so common queries need no join.
TOOL_CONTEXT_FIELDS = ("provider", "session_id", "model")
EVENT_CONTEXT_FIELDS = ("provider", "session_id")

#: What each derived extra holds (written as the column's COMMENT in the database).
DERIVED_DOCS: dict[str, dict[str, str]] = {
    "rounds": {
        "started_at": "TraceLab extra: timestamp of the step's first timing event (UTC)",
        "ended_at": "TraceLab extra: timestamp of the step's last timing event (UTC)",
        "tool_call_count": "TraceLab extra: number of tool_calls rows of the step",
        "timing_event_count": "TraceLab extra: number of timing_events rows of the step",
    },
    "tool_calls": {
        "tool_pos": "TraceLab extra: 0-based position of the call in the step's tools list",
        **{n: f"TraceLab extra: the step's {n} (copied from rounds)" for n in TOOL_CONTEXT_FIELDS},
    },
    "timing_events": {
        n: f"TraceLab extra: the step's {n} (copied from rounds)" for n in EVENT_CONTEXT_FIELDS
    },
}

for _names, _fields in (
    (RELEASE_ROUND_FIELDS, SCALAR_ROW_FIELDS),
    (RELEASE_TOOL_FIELDS, DB_TOOL_FIELDS),
    (RELEASE_EVENT_FIELDS, DB_EVENT_FIELDS),
):
    for _name in _names:
        assert _name in _fields, f"release layout names {_name!r}, which schema.py does not define"


def extra(name: str) -> str:
    """The stored name of a derived TraceLab column."""
    return EXTRA_PREFIX + name


def _q(name: str) -> str:
    """Quote an identifier (several field names — `user`, `timestamp` — are SQL keywords)."""
    return '"' + name.replace('"', '""') + '"'


#: DuckDB type of each scalar type, by the name schema.py spells it (= the Arrow type's name).
_SCALAR_TYPES = {
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
}


def field_type(fields: Fields, name: str) -> str:
    """DuckDB type of the scalar field `name` of a schema.py field table, from its spelled type:
    what reading a database needs, without importing pyarrow (~0.2 s with numpy)."""
    return _SCALAR_TYPES[fields.spec[name]]


def duckdb_type(arrow_type: pa.DataType, drop: tuple[str, ...] = ()) -> str:
    """DuckDB type for a schema Arrow type; struct fields named in `drop` are left out."""
    import pyarrow as pa

    if str(arrow_type) in _SCALAR_TYPES:
        return _SCALAR_TYPES[str(arrow_type)]
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return duckdb_type(arrow_type.value_type, drop) + "[]"
    if pa.types.is_struct(arrow_type):
        inner = ", ".join(
            f"{_q(f.name)} {duckdb_type(f.type, drop)}" for f in arrow_type if f.name not in drop
        )
        return f"STRUCT({inner})"
    raise TypeError(f"no DuckDB mapping for Arrow type {arrow_type}")
