"""Vectorized validation of one block of uploaded JSONL: schema, allow-list and privacy audit.

Why: checking and auditing row by row in Python cost ~80 % of ingest time. Here a block of
complete lines is parsed by Arrow's JSON reader against the public schema itself (an unknown
or private key, a wrong type, an int64 overflow, a non-object line: each is a parse error),
and the audit runs over whole string columns (nested `tools[]` / `timing_events[]` flattened):

* a value that fully matches `SAFE_VALUE` (an ISO timestamp, a pseudonym, or provider-prefixed
  pseudonyms with a counter — what the sanitizer writes) provably passes `privacy.string_leaks`
  (`tests/test_pool_fastcheck.py` checks it on generated strings); this filter is one RE2 pass;
* every other distinct value (models, tool names, sources: few per block) goes through
  `privacy.string_leaks` itself, so the detectors keep one definition;
* identifier fields must fully match the strict pseudonym shapes (`privacy.ROW_ID_SHAPES`).

The fast path only ever *accepts*: any doubt (a parse error, a finding, a shape mismatch) makes
`check_block` return None, and the caller re-checks that block row by row with the exact
per-row rules (`validate.check_row` + `privacy.audit_rows`), which name the line and field of
the problem. RE2's `\\d` is ASCII-only where Python's is not, so the fast path is at most
stricter than the exact one — never looser.
"""

from __future__ import annotations

import io
from functools import cache
from typing import TYPE_CHECKING

from tracelab.privacy import (
    ISO_TIMESTAMP_RE,
    NESTED_ID_SHAPES,
    PSEUDONYM_HEX_CHARS,
    PSEUDONYM_PREFIXES,
    ROW_ID_SHAPES,
    is_private_key,
    string_leaks,
)
from tracelab.schema import PROVIDERS, PUBLIC_TOOL_FIELDS, TIMING_EVENT_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

#: Row fields that must hold a value (a step without them cannot be placed in a session).
REQUIRED_FIELDS = ("provider", "session_id", "round_index")

_PSEUDO = (
    "(?:"
    + "|".join(sorted((p[:-1] for p in PSEUDONYM_PREFIXES.values()), key=len)[::-1])
    + f")_[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}"
)
_PROVIDER = "(?:" + "|".join(PROVIDERS) + ")"
#: Values that pass `string_leaks` by construction: after its pseudonym substitution only
#: known provider names, colons and a short digit run are left, which no detector matches.
SAFE_VALUE = (
    f"^(?:{ISO_TIMESTAMP_RE.pattern}"
    f"|(?:{_PROVIDER}:){{0,2}}{_PSEUDO}(?::{_PSEUDO})?(?::[0-9]{{1,9}})?)$"
)
_NESTED = {"tools": PUBLIC_TOOL_FIELDS, "timing_events": TIMING_EVENT_FIELDS}
#: Arrow parses a block in pieces of this size on its thread pool (a single upload uses every
#: core); a line longer than this is a parse error, and the exact check decides that block.
_PARSE_BLOCK = 2 << 20


@cache
def parse_options():
    import pyarrow.json as pj

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    return pj.ParseOptions(explicit_schema=PUBLIC_ARROW_SCHEMA, unexpected_field_behavior="error")


@cache
def _keys_clean() -> bool:
    """The public field names themselves pass the audit's key checks (they do; computed)."""
    names = [*_public_names(), *(n for fields in _NESTED.values() for n in fields)]
    return not any(string_leaks(n) or is_private_key(n) for n in names)


@cache
def _public_names() -> frozenset[str]:
    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    return frozenset(PUBLIC_ARROW_SCHEMA.names)


def parse_block(block: bytes) -> pa.Table | None:
    """The block as a table of the public schema, or None if any line does not fit it."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        return pj.read_json(
            io.BytesIO(block),
            read_options=pj.ReadOptions(use_threads=True, block_size=_PARSE_BLOCK),
            parse_options=parse_options(),
        )
    except (pa.ArrowException, ValueError):  # ValueError: invalid UTF-8 among others
        return None


#: String fields whose values are (nearly) unique per row: finding their distinct values costs
#: more than it saves, so they are checked as they are.
_UNIQUE_PER_ROW = frozenset(
    ("round_id", "trace_key", "timing_events.timestamp", "tools.emitted_at", "tools.result_at")
)


def _strings(table: pa.Table) -> list[tuple[str, pa.Array]]:
    """(field, distinct non-null values) of every string column, nested list-of-struct fields
    flattened. The checks below hold for every value iff they hold for every distinct one,
    and most columns repeat their values (sessions, models, tool names), so the regular
    expressions run over far fewer strings (the columns of `_UNIQUE_PER_ROW` excepted)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def values(field: str, column: pa.ChunkedArray) -> pa.Array:
        column = column.combine_chunks() if field in _UNIQUE_PER_ROW else pc.unique(column)
        return pc.drop_null(column)

    out = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type):
            out.append((name, values(name, column)))
        elif name in _NESTED:
            items = [chunk.flatten() for chunk in column.chunks]
            for child in column.type.value_type:
                if pa.types.is_string(child.type):
                    field = f"{name}.{child.name}"
                    column = pa.chunked_array([i.field(child.name) for i in items], child.type)
                    out.append((field, values(field, column)))
    return out


def _nested_objects_ok(table: pa.Table) -> bool:
    """No `null` inside `tools` / `timing_events` (the exact check rejects a non-object)."""
    for name in _NESTED:
        for chunk in table.column(name).chunks:
            if chunk.flatten().null_count:
                return False
    return True


def _required_ok(table: pa.Table) -> bool:
    import pyarrow.compute as pc

    for name in REQUIRED_FIELDS:
        column = table.column(name)
        if column.null_count:
            return False
        if name != "round_index" and pc.any(pc.equal(column, "")).as_py():
            return False
    return len(table) == 0 or pc.min(table.column("round_index")).as_py() >= 0


def _shapes_ok(strings: list[tuple[str, pa.Array]]) -> bool:
    import pyarrow.compute as pc

    for field, values in strings:
        name = field.rsplit(".", 1)[-1]
        shape = ROW_ID_SHAPES.get(field) or ("." in field and NESTED_ID_SHAPES.get(name))
        if not shape:
            continue
        if (
            len(values)
            and not pc.all(pc.match_substring_regex(values, f"^(?:{shape.pattern})$")).as_py()
        ):
            return False
    return True


def _audit_ok(strings: list[tuple[str, pa.Array]]) -> bool:
    import pyarrow.compute as pc

    for _field, values in strings:
        if not len(values):
            continue
        rest = values.filter(pc.invert(pc.match_substring_regex(values, SAFE_VALUE)))
        for value in rest.to_pylist():
            if string_leaks(value):
                return False
    return True


def check_table(table: pa.Table) -> bool:
    """True if every row of this public-schema table surely passes every check; False when
    the exact row-by-row check must decide (and name the problem)."""
    if not (_keys_clean() and _nested_objects_ok(table) and _required_ok(table)):
        return False
    strings = _strings(table)
    return _shapes_ok(strings) and _audit_ok(strings)


def check_block(block: bytes) -> pa.Table | None:
    """The block's rows as a public-schema table if every row surely passes every check;
    None when the exact row-by-row check must decide (and name the problem)."""
    table = parse_block(block)
    if table is None or not check_table(table):
        return None
    return table
