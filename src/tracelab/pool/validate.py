"""Check an uploaded contribution without trusting a byte of it.

Why each rule (the pool is a service on the internet):

* **Caps counted on the bytes actually inflated** (as `ingest.archive` does for archives):
  compressed size, inflated size, the inflate ratio beyond a small allowance, the row count
  and the bytes of one row — a row is cut off as soon as its pending bytes pass the cap, so a
  newline-free gigabyte is never buffered. Inflating runs with a bounded output per call.
* **Schema.** Every row is a JSON object whose keys are public fields of `schema.ROW_FIELDS`
  with values of the field's type; the identity fields are present.
* **Allow-list, re-applied.** A key the sanitizer's allow-list would not emit rejects the
  upload, naming the fields: a private field (`cwd`, `home`, `session_file`, `tools[].input`)
  means the trace was not sanitized, and it is refused, not silently scrubbed.
* **Privacy audit** (`privacy.audit_rows`, strict): every string of every row is checked for
  paths, e-mails, URLs, raw ids, secrets, and identifier fields must have the pseudonym shape.

Every problem is one `UploadRejected` line naming the row (line number) and the field, never
the offending value.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tracelab.pool.fastcheck import REQUIRED_FIELDS, check_block
from tracelab.privacy import audit_rows
from tracelab.rejection import UploadRejected, human_bytes
from tracelab.schema import (
    PRIVATE_ROW_FIELDS,
    PRIVATE_TOOL_FIELDS,
    PUBLIC_TOOL_FIELDS,
    ROW_FIELDS,
    TIMING_EVENT_FIELDS,
    ListOf,
    Row,
)

if TYPE_CHECKING:
    import pyarrow as pa

_READ = 1 << 20
#: Inflated bytes per zlib call: 1 MB stays in cache (4 MB costs ~1/4 more CPU per byte).
_INFLATE_STEP = 1 << 20
#: Inflated bytes handed to the vectorized check at once (memory stays a few blocks).
_BLOCK = 8 << 20
_INT64 = -(1 << 63)

PUBLIC_ROW_FIELDS = tuple(name for name in ROW_FIELDS if name not in PRIVATE_ROW_FIELDS)


@dataclass(frozen=True)
class Limits:
    """Caps of one contribution (defaults fit years of one developer's sanitized trace)."""

    max_compressed_bytes: int = 1 << 30
    max_inflated_bytes: int = 8 << 30
    #: inflated : compressed; sanitized JSONL compresses about 8-25:1, bombs 1000:1 and more
    max_ratio: float = 100.0
    ratio_allowance: int = 1 << 20
    max_rows: int = 5_000_000
    max_row_bytes: int = 1 << 20
    max_chunk_bytes: int = 8 << 20


def ratio_exceeded(inflated: int, compressed: int, limits: Limits) -> bool:
    return inflated > limits.ratio_allowance and inflated > limits.max_ratio * max(compressed, 1)


def _inflated(path: Path, limits: Limits) -> Iterator[bytes]:
    """The upload's inflated bytes in bounded pieces, every byte cap enforced as they come."""
    check_compressed_size(path, limits)
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        inflater = zlib.decompressobj(wbits=31) if gz else None
        read = inflated = 0
        while raw := fh.read(_READ):
            read += len(raw)
            data = raw
            while data:
                if inflater is None:
                    out, data = data, b""
                else:
                    if inflater.eof:  # another gzip member follows (`cat a.gz b.gz`)
                        if not b"\x1f\x8b".startswith(data[:2]):
                            raise UploadRejected("the upload has bytes after its gzip stream")
                        inflater = zlib.decompressobj(wbits=31)
                    try:
                        out = inflater.decompress(data, _INFLATE_STEP)
                    except zlib.error:
                        raise UploadRejected(
                            "the upload is not valid gzip (corrupt data)"
                        ) from None
                    data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                inflated += len(out)
                if inflated > limits.max_inflated_bytes:
                    raise UploadRejected(
                        f"the upload inflates to more than "
                        f"{human_bytes(limits.max_inflated_bytes)} (the inflated-size cap)",
                        cap="inflated_bytes",
                    )
                # the ratio of what zlib has taken so far (not what was read ahead): a bomb is
                # caught after its first inflated step, whatever the step size
                if gz and ratio_exceeded(inflated, read - len(data), limits):
                    raise UploadRejected(
                        f"the upload expands more than {limits.max_ratio:g}:1 (the "
                        "compression-ratio cap; this looks like a gzip bomb)",
                        cap="ratio",
                    )
                yield out
        if inflater is not None and not inflater.eof:
            raise UploadRejected("the upload is a truncated gzip stream (it ends early)")


def _longest_line_fits(block: bytes | memoryview, max_row_bytes: int) -> bool:
    """True when no line of `block` can be longer than `max_row_bytes`: every aligned window
    of half that width holds a newline (a longer line would cover a whole window). A few
    `find` calls per block, each stopping at the window's first newline."""
    half = max(1, max_row_bytes // 2)
    return all(block.find(b"\n", start, start + half) >= 0 for start in range(0, len(block), half))


def _check_line_lengths(block: bytes, first_line: int, limits: Limits) -> None:
    """Reject the first line of `block` (complete lines) longer than the bytes-per-row cap."""
    if len(block) <= limits.max_row_bytes or _longest_line_fits(block, limits.max_row_bytes):
        return
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    lengths = np.diff(ends, prepend=-1) - 1
    over = np.flatnonzero(lengths > limits.max_row_bytes)
    if len(over):
        raise _row_too_big(first_line + int(over[0]), limits)


def _newlines(block: bytes) -> int:
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))  # 2x bytes.count


def inflate_blocks(path: Path, limits: Limits, block_bytes: int = _BLOCK) -> Iterator[Block]:
    """Yield the upload as blocks of complete lines (about `block_bytes` each; the last line
    gets a newline), enforcing every byte cap; a line is cut off as soon as its pending bytes
    pass the bytes-per-row cap, so a newline-free gigabyte is never buffered.

    The inflated pieces are kept as they come and joined once per block (one copy)."""
    pieces: list[bytes | memoryview] = []
    pending = 0  # bytes in `pieces`
    tail = 0  # bytes after the last newline seen (the current line so far)
    line = 1  # number of the first line in `pieces`
    for out in _inflated(path, limits):
        cut = out.rfind(b"\n")
        if cut < 0:
            tail += len(out)
        else:
            tail = len(out) - cut - 1
        if cut >= 0 and pending + cut + 1 >= block_bytes:
            view = memoryview(out)
            pieces.append(view[: cut + 1])
            block = b"".join(pieces)
            pieces, pending = [view[cut + 1 :]], len(out) - cut - 1
            _check_line_lengths(block, line, limits)
            yield Block(line, block)
            line += _newlines(block)
        else:
            pieces.append(out)
            pending += len(out)
        if tail > limits.max_row_bytes:
            done = b"".join(pieces)
            complete = done.rfind(b"\n") + 1
            _check_line_lengths(done[:complete], line, limits)
            raise _row_too_big(line + done.count(b"\n", 0, complete), limits)
    rest = b"".join(pieces)
    if rest.strip():
        if not rest.endswith(b"\n"):
            rest += b"\n"
        _check_line_lengths(rest, line, limits)
        yield Block(line, rest)


@dataclass(frozen=True)
class Block:
    """Complete lines of the upload; `first_line` is the 1-based number of the first."""

    first_line: int
    data: bytes

    def lines(self) -> Iterator[tuple[int, bytes]]:
        for i, line in enumerate(self.data.split(b"\n")[:-1]):
            yield self.first_line + i, line


def _row_too_big(lineno: int, limits: Limits) -> UploadRejected:
    return UploadRejected(
        f"line {lineno} is longer than {human_bytes(limits.max_row_bytes)} (the bytes-per-row cap)",
        cap="row_bytes",
    )


# --- one row ---------------------------------------------------------------------------------

_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "int64": (int,), "bool": (bool,)}


def _type_ok(spec: str | ListOf, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    if spec == "int64":
        return isinstance(value, int) and not isinstance(value, bool) and _INT64 <= value < -_INT64
    return isinstance(value, _PY_TYPES[spec])


def _check_record(
    lineno: int, where: str, item: Any, fields: Any, private: tuple[str, ...]
) -> None:
    if not isinstance(item, dict):
        raise UploadRejected(f"line {lineno}: {where} holds something that is not an object")
    extra = set(item) - set(fields)
    if extra:
        reject_fields(f"line {lineno}", extra, private, prefix=f"{where}.")
    for name, value in item.items():
        if not _type_ok(fields.spec[name], value):
            raise UploadRejected(
                f"line {lineno}: field {where}.{name} is not of type {fields.spec[name]}"
            )


def reject_fields(where: str, extra: set[str], private: tuple[str, ...], prefix: str = "") -> None:
    """Reject fields outside the public schema (`where`: "line 7", "the upload's schema"),
    naming them; private ones first, as the sign of an unsanitized trace."""
    found_private = sorted(f"{prefix}{k}" for k in extra if k in private)
    if found_private:
        raise UploadRejected(
            f"{where}: the row still carries private field(s) {', '.join(found_private)}: "
            "this trace is not sanitized (run `tracelab sanitize` or `tracelab contribute`)"
        )
    unknown = sorted(f"{prefix}{k}" for k in extra)
    shown = ", ".join(k[:60] for k in unknown[:5])
    raise UploadRejected(
        f"{where}: field(s) outside the public schema: {shown}"
        + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    )


def check_row(lineno: int, row: Any) -> Row:
    """The row if it is a public row of the schema; else one `UploadRejected` naming fields."""
    if not isinstance(row, dict):
        raise UploadRejected(f"line {lineno}: not a JSON object")
    extra = set(row) - set(PUBLIC_ROW_FIELDS)
    if extra:
        reject_fields(f"line {lineno}", extra, PRIVATE_ROW_FIELDS)
    for name, value in row.items():
        spec = ROW_FIELDS.spec[name]
        if not _type_ok(spec, value):
            kind = "a list" if isinstance(spec, ListOf) else spec
            raise UploadRejected(f"line {lineno}: field {name} is not of type {kind}")
    missing = [name for name in REQUIRED_FIELDS if row.get(name) in (None, "")]
    if missing:
        raise UploadRejected(f"line {lineno}: required field(s) missing: {', '.join(missing)}")
    if row["round_index"] < 0:
        raise UploadRejected(f"line {lineno}: field round_index is negative")
    for i, tool in enumerate(row.get("tools") or ()):
        _check_record(lineno, f"tools[{i}]", tool, PUBLIC_TOOL_FIELDS, PRIVATE_TOOL_FIELDS)
    for i, event in enumerate(row.get("timing_events") or ()):
        _check_record(lineno, f"timing_events[{i}]", event, TIMING_EVENT_FIELDS, ())
    return row


def _audit(batch: list[Row], linenos: list[int]) -> None:
    report = audit_rows(batch, strict=True, start_line=0)
    if not report.ok:
        f = report.findings[0]
        more = report.finding_count - 1
        raise UploadRejected(
            f"the privacy audit failed: line {linenos[f.line]}: field {f.field}: {f.reason}"
            + (f" (and {more} more findings)" if more else "")
        )


def _block_rows(block: Block) -> Iterator[tuple[int, Any]]:
    for lineno, line in block.lines():
        if not line.strip():
            continue
        try:
            yield lineno, orjson.loads(line)
        except orjson.JSONDecodeError:
            raise UploadRejected(f"line {lineno}: not valid JSON") from None


def exact_rows(numbered: Iterator[tuple[int, Any]]) -> pa.Table:
    """The row-by-row check of (line or row number, row) pairs: the first problem rejects,
    naming the number and field; rows that pass are returned as a public-schema table."""
    import pyarrow as pa

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    rows: list[Row] = []
    linenos: list[int] = []
    for lineno, row in numbered:
        rows.append(check_row(lineno, row))
        linenos.append(lineno)
    _audit(rows, linenos)
    return pa.Table.from_pylist(rows, schema=PUBLIC_ARROW_SCHEMA)


def upload_tables(path: Path, limits: Limits) -> Iterator[pa.Table]:
    """The validated tables of an upload in either format, told apart by its first bytes
    (Parquet's magic `PAR1`; anything else is read as JSONL, gzip or plain): never by what the
    client says it sent."""
    from tracelab.pool import columnar

    check_compressed_size(path, limits)
    if columnar.is_parquet(path):
        return columnar.valid_tables(path, limits)
    return valid_tables(path, limits)


def check_compressed_size(path: Path, limits: Limits) -> int:
    """The upload's size, rejected above the compressed-size cap."""
    size = path.stat().st_size
    if size > limits.max_compressed_bytes:
        raise UploadRejected(
            f"the upload is larger than {human_bytes(limits.max_compressed_bytes)} "
            "(the compressed-size cap)",
            cap="compressed_bytes",
        )
    return size


def valid_tables(path: Path, limits: Limits, block_bytes: int = _BLOCK) -> Iterator[pa.Table]:
    """Yield the upload's rows as public-schema Arrow tables, one per block, each checked
    (schema, allow-list, strict privacy audit) before it is yielded; any problem rejects the
    whole upload. The vectorized check (`fastcheck`) decides a clean block; a block it doubts
    is checked row by row, which names the problem (or accepts the block after all)."""
    count = 0
    for block in inflate_blocks(path, limits, block_bytes):
        table = check_block(block.data)
        if table is None:
            table = exact_rows(_block_rows(block))
        count += len(table)
        check_row_count(count, limits)
        if len(table):
            yield table
    check_row_count(count, limits, complete=True)


def check_row_count(count: int, limits: Limits, complete: bool = False) -> None:
    """Reject an upload whose rows so far (`count`) pass the row cap, or, once `complete`,
    that holds none (one wording for every upload format)."""
    if count > limits.max_rows:
        raise UploadRejected(
            f"the upload has more than {limits.max_rows:,} rows (the row cap)", cap="rows"
        )
    if complete and count == 0:
        raise UploadRejected("the upload holds no rows")
