"""The normalized step row: every field name, its type, and its Arrow schema — defined only here.

One row is one step (one LLM invocation with the tool calls it produced); see
`docs/architecture.md` and the spec's normalized format. Everything else in TraceLab (sources,
io, sanitize, tracedb) refers to these names instead of spelling them again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

# --- event types and sources -------------------------------------------------------------

USER_MESSAGE = "user_message"
TOOL_RESULT = "tool_result"
REASONING = "reasoning"
TEXT = "text"
TOOL_CALL = "tool_call"
USAGE_REPORT = "usage_report"

INPUT_EVENT_TYPES = (USER_MESSAGE, TOOL_RESULT)
OUTPUT_EVENT_TYPES = (REASONING, TEXT, TOOL_CALL)
EVENT_TYPES = (USER_MESSAGE, TOOL_RESULT, REASONING, TEXT, TOOL_CALL, USAGE_REPORT)

PROVIDERS = ("claude", "codex")
STORES = (".claude", ".claude.back", ".codex")

# --- Arrow types, resolved on first use ------------------------------------------------------
# Importing pyarrow (and numpy with it) takes a tenth of a second or more: the parsers, JSONL
# reading and writing and a no-op `collect` need only the field names. The field tables below
# spell each type by name; their values become Arrow types the first time one is read.


class ListOf(NamedTuple):
    """A list of structs with these fields (a row's `timing_events`, `tools`)."""

    fields: Fields


class Fields(Mapping):
    """Field name → Arrow type. Names (iteration, `in`, `len`) never load pyarrow; the first
    value read resolves every type of the table."""

    def __init__(self, spec: dict[str, str | ListOf]) -> None:
        self.spec = spec
        self._types: dict[str, pa.DataType] | None = None

    def __getitem__(self, name: str) -> pa.DataType:
        if self._types is None:
            self._types = {key: _arrow_type(value) for key, value in self.spec.items()}
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.spec)

    def __len__(self) -> int:
        return len(self.spec)

    def __contains__(self, name: object) -> bool:
        return name in self.spec

    def __repr__(self) -> str:
        return f"Fields({self.spec!r})"


def _arrow_type(spec: str | ListOf) -> pa.DataType:
    import pyarrow as pa

    if isinstance(spec, ListOf):
        return pa.list_(pa.struct(list(spec.fields.items())))
    return {"string": pa.string, "int64": pa.int64, "bool": pa.bool_}[spec]()


def __getattr__(name: str) -> Any:
    """`ARROW_SCHEMA` and `PUBLIC_ARROW_SCHEMA`, built (and kept) when first imported."""
    if name == "ARROW_SCHEMA":
        import pyarrow as pa

        value = pa.schema(list(ROW_FIELDS.items()))
    elif name == "PUBLIC_ARROW_SCHEMA":
        import pyarrow as pa

        value = pa.schema(
            [
                (field, _arrow_type(ListOf(PUBLIC_TOOL_FIELDS)) if field == "tools" else t)
                for field, t in ROW_FIELDS.items()
                if field not in PRIVATE_ROW_FIELDS
            ]
        )
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


# --- the nested records -------------------------------------------------------------------

#: timing_events[] attributes, in output order (null attributes are omitted in JSON).
TIMING_EVENT_FIELDS: Fields = Fields(
    {
        "event_type": "string",
        "timestamp": "string",
        "source": "string",
        "content_chars": "int64",
        "tool_call_id": "string",
        "tool_name": "string",
        "tool_index": "int64",
        "result_chars": "int64",
        "is_error": "bool",
    }
)

#: tools[] fields, in output order. `input` is private (raw object or string).
TOOL_FIELDS: Fields = Fields(
    {
        "tool_index": "int64",
        "tool_name": "string",
        "tool_call_id": "string",
        "emitted_at": "string",
        "result_at": "string",
        "input": "string",  # JSON text in Parquet; the raw value in JSONL
        "input_chars": "int64",
        "result_chars": "int64",
        "tool_wall_latency_ms": "int64",
        "tool_internal_latency_ms": "int64",
        "is_error": "bool",
    }
)

# --- the row ------------------------------------------------------------------------------

ROW_FIELDS: Fields = Fields(
    {
        "provider": "string",
        "project": "string",
        "session_id": "string",
        "session_file": "string",
        "is_subagent": "bool",
        "parent_session_id": "string",
        "parent_tool_call_id": "string",
        "round_index": "int64",
        "round_id": "string",
        "turn_id": "string",
        "cwd": "string",
        "model": "string",
        "input_tokens_total": "int64",
        "prefix_tokens": "int64",
        "newly_append_tokens": "int64",
        "claude_uncached_input_tokens": "int64",
        "claude_cache_creation_input_tokens": "int64",
        "claude_cache_creation_5m_input_tokens": "int64",
        "claude_cache_creation_1h_input_tokens": "int64",
        "claude_cache_read_input_tokens": "int64",
        "output_tokens": "int64",
        "reasoning_output_tokens": "int64",
        "timing_events": ListOf(TIMING_EVENT_FIELDS),
        "tools": ListOf(TOOL_FIELDS),
        "current_user_message_count": "int64",
        "current_tool_result_count": "int64",
        "current_input_event_count": "int64",
        "current_user_message_chars": "int64",
        "current_tool_result_chars": "int64",
        "current_input_chars": "int64",
        "first_input_event_type": "string",
        "home": "string",
        "user": "string",
        "store": "string",
        "trace_key": "string",
    }
)

#: Fields that only a private (unsanitized) trace carries.
PRIVATE_ROW_FIELDS = ("session_file", "cwd", "home")
PRIVATE_TOOL_FIELDS = ("input",)

PUBLIC_TOOL_FIELDS = Fields(
    {k: v for k, v in TOOL_FIELDS.spec.items() if k not in PRIVATE_TOOL_FIELDS}
)
#: `ARROW_SCHEMA` (every row field) and `PUBLIC_ARROW_SCHEMA` (a sanitized row's) are built on
#: first import by the module `__getattr__` above.

#: Fields holding identifiers that sanitizing replaces with keyed pseudonyms.
PSEUDONYMIZED_ROW_FIELDS = (
    "user",
    "project",
    "session_id",
    "parent_session_id",
    "parent_tool_call_id",
    "turn_id",
    "round_id",
    "trace_key",
)

TOKEN_FIELDS = (
    "input_tokens_total",
    "prefix_tokens",
    "newly_append_tokens",
    "claude_uncached_input_tokens",
    "claude_cache_creation_input_tokens",
    "claude_cache_creation_5m_input_tokens",
    "claude_cache_creation_1h_input_tokens",
    "claude_cache_read_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)

Row = dict[str, Any]

#: A record with none of these is not a step row (readers count it as a skipped line).
IDENTITY_FIELDS = ("provider", "session_id", "round_id", "trace_key")


def is_step_row(row: Row) -> bool:
    """A step row names at least one of its identity fields (a foreign record names none)."""
    return any(row.get(name) is not None for name in IDENTITY_FIELDS)


def make_trace_key(provider: str, session_id: str, round_id: str) -> str:
    """The dedup key: the same step seen twice (backup store, subagent replay) collides."""
    return f"{provider}:{session_id}:{round_id}"


def ordered_row(row: Row) -> Row:
    """Return the row with keys in schema order (unknown keys dropped), for stable output."""
    return {name: row.get(name) for name in ROW_FIELDS}
