"""Parquet uploads: the contributor's sanitized trace as columns, checked without trusting it.

Why: a JSONL.gz upload has to be inflated and parsed byte by byte (~80 % of the server's CPU);
the same rows as Parquet arrive typed and columnar, so the server's work is reading the columns,
the checks and writing the pool file. What the server does with the bytes, in order:

* **Caps before decoding**, from the footer: the compressed-size cap, the row cap, the declared
  decoded size against the inflated-size cap and the ratio cap (a highly compressible column,
  a decompression bomb, is refused before a page is read). The footer is the client's word, so
  the caps are counted again on the bytes actually decoded, batch by batch, with the
  bytes-per-row cap on each row's decoded size.
* **Schema, exactly**: the column names and types (nested structs included) must be those of
  the public schema; a column or nested field outside it rejects the upload, naming it (a
  private one as the sign of an unsanitized trace).
* **The same checks as JSONL** (`fastcheck.check_table`: required fields, id shapes, the privacy
  audit over each column's distinct values, one definition of the detectors); a batch they
  doubt is checked row by row (`validate.exact_rows`), which names the row and field.
* **Nothing of the client's file is kept**: each batch is rebuilt on the public schema from its
  column arrays (no key-value metadata, no field metadata), and the pool file is written from
  those arrays by `parquet_writer`.

`parquet_writer` is also the contributor's writer (`client.prepare`), so both ends use the same
fixed settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tracelab.pool.fastcheck import check_table
from tracelab.pool.validate import (
    Limits,
    check_row_count,
    exact_rows,
    ratio_exceeded,
    reject_fields,
)
from tracelab.rejection import UploadRejected, human_bytes
from tracelab.schema import (
    PRIVATE_ROW_FIELDS,
    PRIVATE_TOOL_FIELDS,
    PUBLIC_TOOL_FIELDS,
    TIMING_EVENT_FIELDS,
)

if TYPE_CHECKING:
    import pyarrow as pa

MAGIC = b"PAR1"
#: Rows decoded at once: a batch's decoded bytes are counted before the next one is read.
BATCH_ROWS = 16_384
#: Columns whose values repeat from row to row (a session's, a user's): dictionary-encoded.
#: The others (times, ids, counts) are nearly unique per row, where a dictionary only costs
#: time; without them a file is smaller and ~1/6 faster to write.
DICTIONARY_COLUMNS = (
    "provider",
    "project",
    "session_id",
    "parent_session_id",
    "model",
    "user",
    "store",
    "first_input_event_type",
)
_NESTED = {
    "tools": (PUBLIC_TOOL_FIELDS, PRIVATE_TOOL_FIELDS),
    "timing_events": (TIMING_EVENT_FIELDS, ()),
}
_SCHEMA = "the upload's schema"


def parquet_writer(path: Path, schema: pa.Schema):
    """The one Parquet writer of contributions (the upload and the pool's file): zstd,
    dictionaries on the repeating columns, statistics on the flat columns only (min/max of
    the nested strings cost ~1/6 of the write and no reader prunes on them)."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        use_dictionary=[c for c in DICTIONARY_COLUMNS if c in schema.names],
        write_statistics=[c for c in schema.names if c not in _NESTED],
    )


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == MAGIC


def _check_schema(schema: pa.Schema) -> None:
    """The upload's columns are exactly the public schema's, nested fields included."""
    import pyarrow as pa

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    names = schema.names
    if len(set(names)) != len(names):
        raise UploadRejected(f"{_SCHEMA}: a column name appears twice")
    extra = set(names) - set(PUBLIC_ARROW_SCHEMA.names)
    if extra:
        reject_fields(_SCHEMA, extra, PRIVATE_ROW_FIELDS)
    missing = [n for n in PUBLIC_ARROW_SCHEMA.names if n not in names]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UploadRejected(f"{_SCHEMA}: column(s) missing: {shown}")
    for name, (fields, private) in _NESTED.items():
        kind = schema.field(name).type
        if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
            inner = {kind.value_type.field(i).name for i in range(kind.value_type.num_fields)}
            if inner - set(fields):
                reject_fields(_SCHEMA, inner - set(fields), private, prefix=f"{name}[].")
    for expected in PUBLIC_ARROW_SCHEMA:
        got = schema.field(expected.name).type
        if not got.equals(expected.type):
            raise UploadRejected(f"{_SCHEMA}: column {expected.name} is {got}, not {expected.type}")


def _row_bytes(batch: pa.RecordBatch) -> np.ndarray:
    """Each row's decoded size: its strings' bytes plus 8 per other value, nested included."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = np.zeros(len(batch), dtype=np.int64)
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_string(column.type):
            sizes += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        elif name in _NESTED:
            parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
            items = column.flatten()
            per_item = np.zeros(len(items), dtype=np.int64)
            for child in items.type:
                values = items.field(child.name)
                if pa.types.is_string(child.type):
                    lengths = pc.fill_null(pc.binary_length(values), 0)
                    per_item += lengths.to_numpy(zero_copy_only=False)
                else:
                    per_item += 8
            sizes += np.bincount(parents, weights=per_item, minlength=len(batch)).astype(np.int64)
        else:
            sizes += 8
    return sizes


def _public(batch: pa.RecordBatch) -> pa.Table:
    """The batch on the public schema, rebuilt from its column arrays: no metadata of the
    client's file (schema, field or key-value) is carried over."""
    import pyarrow as pa

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    columns = [batch.column(f.name).view(f.type) for f in PUBLIC_ARROW_SCHEMA]
    return pa.Table.from_arrays(columns, schema=PUBLIC_ARROW_SCHEMA)


def valid_tables(path: Path, limits: Limits) -> Iterator[pa.Table]:
    """Yield the Parquet upload's rows as public-schema tables, batch by batch, each checked
    (caps, schema, allow-list, strict privacy audit) before it is yielded; any problem rejects
    the whole upload."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = path.stat().st_size
    try:
        source = pq.ParquetFile(path)
        schema = source.schema_arrow
    except (pa.ArrowException, OSError, ValueError):
        raise UploadRejected(
            "the upload is not a readable Parquet file (truncated or corrupt)"
        ) from None
    meta = source.metadata
    check_row_count(meta.num_rows, limits)
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    _check_decoded(declared, size, limits)
    _check_schema(schema)
    decoded = count = 0
    try:
        batches = source.iter_batches(batch_size=BATCH_ROWS, use_threads=True)
        for batch in batches:
            decoded += batch.get_total_buffer_size()
            _check_decoded(decoded, size, limits)
            sizes = _row_bytes(batch)
            over = np.flatnonzero(sizes > limits.max_row_bytes)
            if len(over):
                raise UploadRejected(
                    f"row {count + int(over[0]) + 1} is larger than "
                    f"{human_bytes(limits.max_row_bytes)} (the bytes-per-row cap)",
                    cap="row_bytes",
                )
            table = _public(batch)
            if not check_table(table):
                table = _exact(table, count)
            count += len(table)
            check_row_count(count, limits)
            if len(table):
                yield table
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise UploadRejected(f"the upload is not a readable Parquet file ({first})") from None
    check_row_count(count, limits, complete=True)


def _exact(table: pa.Table, before: int) -> pa.Table:
    """The row-by-row check of a doubted batch; its messages number rows, not lines."""
    rows = table.to_pylist()
    try:
        return exact_rows(zip(range(before + 1, before + len(rows) + 1), rows, strict=True))
    except UploadRejected as exc:
        raise UploadRejected(re.sub(r"\bline (\d+)", r"row \1", str(exc)), exc.cap) from None


def _check_decoded(decoded: int, size: int, limits: Limits) -> None:
    if decoded > limits.max_inflated_bytes:
        raise UploadRejected(
            f"the upload decodes to more than {human_bytes(limits.max_inflated_bytes)} "
            "(the inflated-size cap)",
            cap="inflated_bytes",
        )
    if ratio_exceeded(decoded, size, limits):
        raise UploadRejected(
            f"the upload expands more than {limits.max_ratio:g}:1 (the compression-ratio cap; "
            "this looks like a decompression bomb)",
            cap="ratio",
        )
