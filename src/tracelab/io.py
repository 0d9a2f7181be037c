"""Read and write normalized traces (JSONL, JSONL.gz, Parquet), always atomically.

The format is chosen by the file suffix. Writers go through `atomic_path`: the data lands in a
temporary file beside the target and is renamed over it only when complete, so a crash mid-write
leaves the previous output intact. Readers skip lines they cannot parse and count them, so a
truncated last line (an agent or a download still writing) never loses the good rows.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracelab.schema import PRIVATE_ROW_FIELDS, ROW_FIELDS, Row
from tracelab.spool import Span, copy_span, materialize

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_PARQUET_BATCH = 20_000


class TraceFormatError(ValueError):
    """The file is not a trace TraceLab can read (wrong suffix, not JSONL/Parquet)."""


def trace_format(path: Path) -> str:
    """Return 'jsonl', 'jsonl.gz' or 'parquet' from the suffix; raise on anything else."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    for suffix in JSONL_SUFFIXES:
        if name.endswith(suffix):
            return "jsonl.gz" if suffix.endswith(".gz") else "jsonl"
    raise TraceFormatError(f"{path}: unknown trace format; use .jsonl, .jsonl.gz or .parquet")


@contextlib.contextmanager
def atomic_path(target: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temp path beside `target`; rename it over `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> None:
    """Write bytes to `target` atomically."""
    with atomic_path(target, mode) as tmp:
        tmp.write_bytes(data)


def _jsonable_row(row: Row) -> Row:
    """Row in schema order, timing-event attributes that are null omitted (spec §3).

    Fields the row does not carry are not written: a sanitized row has no private keys at all.
    """
    out = {name: row[name] for name in ROW_FIELDS if name in row}  # absent stays absent
    events = out.get("timing_events")
    if events:
        out["timing_events"] = [{k: v for k, v in ev.items() if v is not None} for ev in events]
    # Fields not in the schema (e.g. from a newer writer) are kept after the known ones.
    for key, value in row.items():
        if key not in out:
            out[key] = value
    return out


def dumps_row(row: Row) -> bytes:
    """One JSONL line (with trailing newline) for a row."""
    return orjson.dumps(_jsonable_row(row)) + b"\n"


def dumps_clean_row(row: Row) -> bytes:
    """One JSONL line for a row that is already clean: keys in schema order, no null event
    attributes (what the parsers emit). Skips `dumps_row`'s normalizing copy on the hot path."""
    return orjson.dumps(row) + b"\n"


def _arrow_ready(row: Row) -> Row:
    """Parquet stores the private raw tool `input` JSON-encoded; everything else as is."""
    tools = row.get("tools")
    if not tools:
        return row
    fixed = []
    for tool in tools:
        value = tool.get("input")
        if value is not None:  # always JSON-encoded, so a string input survives the round trip
            tool = {**tool, "input": orjson.dumps(value).decode()}
        fixed.append(tool)
    return {**row, "tools": fixed}


def write_lines(lines: Iterable[bytes | Span], path: Path) -> int:
    """Write already-serialized JSONL lines to a .jsonl / .jsonl.gz `path`, atomically. A
    `Span` (rows a collect worker left in a spool file) is copied as it is."""
    path = Path(path)
    fmt = trace_format(path)
    if fmt == "parquet":
        return write_rows((orjson.loads(line) for line in materialize(lines)), path)
    count = 0
    with atomic_path(path) as tmp, _open_jsonl(tmp, fmt) as fh:
        buf: list[bytes] = []
        for line in lines:
            if type(line) is Span:
                if buf:
                    fh.write(b"".join(buf))
                    buf.clear()
                copy_span(line, fh)
                count += line.lines
                continue
            buf.append(line)
            count += 1
            if len(buf) >= 4096:
                fh.write(b"".join(buf))
                buf.clear()
        fh.write(b"".join(buf))
    return count


def _open_jsonl(path: Path, fmt: str) -> Any:
    if fmt == "jsonl.gz":
        return deterministic_gzip(open(path, "wb"))
    return open(path, "wb")


class _OwningGzip(gzip.GzipFile):
    """A GzipFile that also closes the file object it writes to."""

    def close(self) -> None:
        raw = self.fileobj
        try:
            super().close()
        finally:
            if raw is not None:
                raw.close()


def deterministic_gzip(raw: Any, compresslevel: int = 6) -> gzip.GzipFile:
    """Gzip writer over the binary file `raw` (closed with it) with no name and mtime 0 in
    the header: the same rows give the same bytes (content hashes, reproducible releases)."""
    return _OwningGzip(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0)


def write_rows(rows: Iterable[Row], path: Path) -> int:
    """Write rows to `path` (format by suffix), atomically. Returns the number of rows."""
    path = Path(path)
    if trace_format(path) != "parquet":
        return write_lines((dumps_row(row) for row in rows), path)
    import pyarrow as pa  # only Parquet needs Arrow: JSONL reads and writes never load it
    import pyarrow.parquet as pq

    from tracelab.schema import ARROW_SCHEMA, PUBLIC_ARROW_SCHEMA

    rows = iter(rows)
    first = next(rows, None)
    private = first is not None and any(name in first for name in PRIVATE_ROW_FIELDS)
    schema = ARROW_SCHEMA if private or first is None else PUBLIC_ARROW_SCHEMA
    count = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as out:
        batch: list[Row] = []
        for row in itertools.chain([first] if first is not None else [], rows):
            batch.append(_arrow_ready(row))
            count += 1
            if len(batch) >= _PARQUET_BATCH:
                out.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch.clear()
        if batch or count == 0:
            out.write_table(pa.Table.from_pylist(batch, schema=schema))
    return count


@dataclass
class ReadReport:
    """What a reader could not use: counted and described, never silently dropped."""

    rows: int = 0
    skipped_lines: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.skipped_lines += 1
        if len(self.problems) < 20:
            self.problems.append(problem)

    def summary(self) -> str:
        if not self.skipped_lines:
            return f"read {self.rows} rows"
        return f"read {self.rows} rows, skipped {self.skipped_lines} unreadable lines"


def _iter_jsonl(path: Path, gz: bool, report: ReadReport) -> Iterator[Row]:
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    report.note(f"{path.name}:{lineno}: not valid JSON")
                    continue
                if not isinstance(row, dict):
                    report.note(f"{path.name}:{lineno}: not a JSON object")
                    continue
                report.rows += 1
                yield row
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        report.note(f"{path.name}: stream ended early ({exc.__class__.__name__}: {exc})")


def _iter_parquet(path: Path, report: ReadReport) -> Iterator[Row]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            for tool in row.get("tools") or ():
                raw = tool.get("input")
                if isinstance(raw, str):
                    with contextlib.suppress(orjson.JSONDecodeError):
                        tool["input"] = orjson.loads(raw)
            if row.get("timing_events"):
                row["timing_events"] = [
                    {k: v for k, v in ev.items() if v is not None} for ev in row["timing_events"]
                ]
            report.rows += 1
            yield row


def read_rows(path: Path, report: ReadReport | None = None) -> Iterator[Row]:
    """Yield the rows of a normalized trace file; unreadable lines are counted in `report`."""
    path = Path(path)
    report = report if report is not None else ReadReport()
    fmt = trace_format(path)
    if fmt == "parquet":
        yield from _iter_parquet(path, report)
    else:
        yield from _iter_jsonl(path, fmt == "jsonl.gz", report)
