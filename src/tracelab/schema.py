"""The normalized step row: every field name, its type, and its Arrow schema — defined only here.

One row is one step (one LLM invocation with the tool calls it produced); see
`docs/architecture.md` and the spec's normalized format. Everything else in TraceLab (sources,
io, sanitize, tracedb) refers to these names instead of spelling them again.
"""

from __future__ import annotations

from typing import Any

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

# --- the nested records -------------------------------------------------------------------

#: timing_events[] attributes, in output order (null attributes are omitted in JSON).
TIMING_EVENT_FIELDS: dict[str, pa.DataType] = {
    "event_type": pa.string(),
    "timestamp": pa.string(),
    "source": pa.string(),
    "content_chars": pa.int64(),
    "tool_call_id": pa.string(),
    "tool_name": pa.string(),
    "tool_index": pa.int64(),
    "result_chars": pa.int64(),
    "is_error": pa.bool_(),
}

#: tools[] fields, in output order. `input` is private (raw object or string).
TOOL_FIELDS: dict[str, pa.DataType] = {
    "tool_index": pa.int64(),
    "tool_name": pa.string(),
    "tool_call_id": pa.string(),
    "emitted_at": pa.string(),
    "result_at": pa.string(),
    "input": pa.string(),  # JSON text in Parquet; the raw value in JSONL
    "input_chars": pa.int64(),
    "result_chars": pa.int64(),
    "tool_wall_latency_ms": pa.int64(),
    "tool_internal_latency_ms": pa.int64(),
    "is_error": pa.bool_(),
}

# --- the row ------------------------------------------------------------------------------

ROW_FIELDS: dict[str, pa.DataType] = {
    "provider": pa.string(),
    "project": pa.string(),
    "session_id": pa.string(),
    "session_file": pa.string(),
    "is_subagent": pa.bool_(),
    "round_index": pa.int64(),
    "round_id": pa.string(),
    "turn_id": pa.string(),
    "cwd": pa.string(),
    "model": pa.string(),
    "input_tokens_total": pa.int64(),
    "prefix_tokens": pa.int64(),
    "newly_append_tokens": pa.int64(),
    "claude_uncached_input_tokens": pa.int64(),
    "claude_cache_creation_input_tokens": pa.int64(),
    "claude_cache_creation_5m_input_tokens": pa.int64(),
    "claude_cache_creation_1h_input_tokens": pa.int64(),
    "claude_cache_read_input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "reasoning_output_tokens": pa.int64(),
    "timing_events": pa.list_(pa.struct(list(TIMING_EVENT_FIELDS.items()))),
    "tools": pa.list_(pa.struct(list(TOOL_FIELDS.items()))),
    "current_user_message_count": pa.int64(),
    "current_tool_result_count": pa.int64(),
    "current_input_event_count": pa.int64(),
    "current_user_message_chars": pa.int64(),
    "current_tool_result_chars": pa.int64(),
    "current_input_chars": pa.int64(),
    "first_input_event_type": pa.string(),
    "home": pa.string(),
    "user": pa.string(),
    "store": pa.string(),
    "trace_key": pa.string(),
}

ARROW_SCHEMA = pa.schema(list(ROW_FIELDS.items()))

#: Fields that only a private (unsanitized) trace carries.
PRIVATE_ROW_FIELDS = ("session_file", "cwd", "home")
PRIVATE_TOOL_FIELDS = ("input",)

PUBLIC_TOOL_FIELDS = {k: v for k, v in TOOL_FIELDS.items() if k not in PRIVATE_TOOL_FIELDS}
PUBLIC_ARROW_SCHEMA = pa.schema(
    [
        (name, pa.list_(pa.struct(list(PUBLIC_TOOL_FIELDS.items()))) if name == "tools" else t)
        for name, t in ROW_FIELDS.items()
        if name not in PRIVATE_ROW_FIELDS
    ]
)

#: Fields holding identifiers that sanitizing replaces with keyed pseudonyms.
PSEUDONYMIZED_ROW_FIELDS = ("user", "project", "session_id", "turn_id", "round_id", "trace_key")

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


def make_trace_key(provider: str, session_id: str, round_id: str) -> str:
    """The dedup key: the same step seen twice (backup store, subagent replay) collides."""
    return f"{provider}:{session_id}:{round_id}"


def ordered_row(row: Row) -> Row:
    """Return the row with keys in schema order (unknown keys dropped), for stable output."""
    return {name: row.get(name) for name in ROW_FIELDS}
