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
from typing import Any

import orjson

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

_READ = 1 << 20
_INFLATE_STEP = 4 << 20
_AUDIT_BATCH = 2000
_INT64 = -(1 << 63)

#: A row must name these (a step without them cannot be placed in a session).
REQUIRED_FIELDS = ("provider", "session_id", "round_index")
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


def _ratio_exceeded(inflated: int, compressed: int, limits: Limits) -> bool:
    return inflated > limits.ratio_allowance and inflated > limits.max_ratio * max(compressed, 1)


def inflate_lines(path: Path, limits: Limits) -> Iterator[tuple[int, bytes]]:
    """Yield `(line number, line)` of a gzip (or plain JSONL) file, enforcing every byte cap."""
    size = path.stat().st_size
    if size > limits.max_compressed_bytes:
        raise UploadRejected(
            f"the upload is larger than {human_bytes(limits.max_compressed_bytes)} "
            "(the compressed-size cap)",
            cap="compressed_bytes",
        )
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        gz = head == b"\x1f\x8b"
        inflater = zlib.decompressobj(wbits=31) if gz else None
        consumed = inflated = 0
        pending = bytearray()
        lineno = 0
        while True:
            raw = fh.read(_READ)
            if not raw:
                break
            consumed += len(raw)
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
                if gz and _ratio_exceeded(inflated, consumed, limits):
                    raise UploadRejected(
                        f"the upload expands more than {limits.max_ratio:g}:1 (the "
                        "compression-ratio cap; this looks like a gzip bomb)",
                        cap="ratio",
                    )
                start = 0
                while True:
                    nl = out.find(b"\n", start)
                    if nl < 0:
                        break
                    lineno += 1
                    if pending:
                        pending += out[start:nl]
                        line = bytes(pending)
                        pending.clear()
                    else:
                        line = out[start:nl]
                    start = nl + 1
                    if len(line) > limits.max_row_bytes:
                        raise _row_too_big(lineno, limits)
                    yield lineno, line
                pending += out[start:]
                if len(pending) > limits.max_row_bytes:
                    raise _row_too_big(lineno + 1, limits)
        if inflater is not None and not inflater.eof:
            raise UploadRejected("the upload is a truncated gzip stream (it ends early)")
        if pending.strip():
            lineno += 1
            yield lineno, bytes(pending)


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
        _reject_fields(lineno, extra, private, prefix=f"{where}.")
    for name, value in item.items():
        if not _type_ok(fields.spec[name], value):
            raise UploadRejected(
                f"line {lineno}: field {where}.{name} is not of type {fields.spec[name]}"
            )


def _reject_fields(
    lineno: int, extra: set[str], private: tuple[str, ...], prefix: str = ""
) -> None:
    found_private = sorted(f"{prefix}{k}" for k in extra if k in private)
    if found_private:
        raise UploadRejected(
            f"line {lineno}: the row still carries private field(s) {', '.join(found_private)}: "
            "this trace is not sanitized (run `tracelab sanitize` or `tracelab contribute`)"
        )
    unknown = sorted(f"{prefix}{k}" for k in extra)
    shown = ", ".join(k[:60] for k in unknown[:5])
    raise UploadRejected(
        f"line {lineno}: field(s) outside the public schema: {shown}"
        + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    )


def check_row(lineno: int, row: Any) -> Row:
    """The row if it is a public row of the schema; else one `UploadRejected` naming fields."""
    if not isinstance(row, dict):
        raise UploadRejected(f"line {lineno}: not a JSON object")
    extra = set(row) - set(PUBLIC_ROW_FIELDS)
    if extra:
        _reject_fields(lineno, extra, PRIVATE_ROW_FIELDS)
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


def valid_rows(path: Path, limits: Limits) -> Iterator[Row]:
    """Yield every row of the upload, each checked; any problem rejects the whole upload.

    Rows are audited in batches before any of the batch is yielded, so a consumer never sees
    a row that has not passed the audit.
    """
    batch: list[Row] = []
    linenos: list[int] = []
    count = 0
    for lineno, line in inflate_lines(path, limits):
        if not line.strip():
            continue
        count += 1
        if count > limits.max_rows:
            raise UploadRejected(
                f"the upload has more than {limits.max_rows:,} rows (the row cap)", cap="rows"
            )
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise UploadRejected(f"line {lineno}: not valid JSON") from None
        batch.append(check_row(lineno, row))
        linenos.append(lineno)
        if len(batch) >= _AUDIT_BATCH:
            _audit(batch, linenos)
            yield from batch
            batch, linenos = [], []
    if batch:
        _audit(batch, linenos)
        yield from batch
    if count == 0:
        raise UploadRejected("the upload holds no rows")
