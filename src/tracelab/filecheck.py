"""What an input or output path must be before a command starts work on it.

Why one module: every command reads a trace or a database and writes a file. Checking those
paths up front, the same way in every command, turns a late traceback (an output that is a
directory, a 0-byte Parquet file, a JSONL file passed as a database) into one line that names
the problem, before minutes of work are spent. Writers choose their format by the file suffix,
so an output name that promises another format (`report -o x.pdf` writing HTML) is refused too.
Nothing here creates or changes a file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tracelab.io import TraceFormatError, trace_format
from tracelab.schema import IDENTITY_FIELDS

#: What each writer writes (a phrase for messages) and the names it accepts, by output kind.
OUTPUT_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    # io.write_rows / write_lines: the format is chosen by these suffixes
    "trace": ("a trace (JSONL or Parquet)", (".jsonl", ".jsonl.gz", ".parquet")),
    # tracedb.build_db (traceinput.DB_SUFFIXES: the names read back as databases)
    "database": ("a DuckDB database", (".duckdb", ".db")),
    "html": ("an HTML page", (".html", ".htm")),  # report.write_report
    "csv": ("CSV", (".csv", ".csv.gz")),  # export replay-csv
    "jsonl": ("JSONL", (".jsonl", ".jsonl.gz")),  # export mooncake
    "json": ("JSON", (".json", ".json.gz")),  # export vllm-multiturn
    "profile": ("a JSON profile", (".json",)),  # synth fit
    "markdown": ("Markdown", (".md",)),  # validate -o
}

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


class OutputPathError(ValueError):
    """An output path the command cannot (or must not) write to."""


def check_output(path: Path, kind: str) -> None:
    """Raise `OutputPathError` unless `path` can take the `kind` of file a command writes:
    not a directory, a suffix of that format, and a parent that exists or can be created."""
    path = Path(path)
    what, suffixes = OUTPUT_FORMATS[kind]
    names = ", ".join(suffixes[:-1]) + " or " + suffixes[-1] if len(suffixes) > 1 else suffixes[0]
    if path.is_dir():
        raise OutputPathError(f"{path} is a directory; give a file name ending in {names}")
    if not path.name.lower().endswith(suffixes):
        raise OutputPathError(f"{path}: this writes {what}; name the file with {names}")
    _check_parent(path)


def check_output_dir(path: Path) -> None:
    """Raise `OutputPathError` unless `path` is (or can be created as) a folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file; give a folder for the outputs")
    _check_parent(path)


def _check_parent(path: Path) -> None:
    """The nearest existing ancestor must be a folder we may write in."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"{path}: cannot create it, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: cannot write in {parent} (permission denied)")


def _head_and_size(path: Path) -> tuple[bytes, int]:
    """Raise unless `path` is an existing regular file; return its first 16 bytes and size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise TraceFormatError(f"{path} is a directory, not a trace file")
    if not stat.S_ISREG(st.st_mode):
        raise TraceFormatError(f"{path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            return fh.read(16), st.st_size
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read it ({exc.strerror})") from None


def _looks_like(head: bytes) -> str | None:
    if head.startswith(_PARQUET_MAGIC):
        return "Parquet"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head[8:12] == b"DUCK":
        return "DuckDB"
    return None


def check_trace_input(path: Path) -> str:
    """Raise unless `path` is a trace file TraceLab reads; return its format (`trace_format`).

    A missing file is `FileNotFoundError`; anything else `TraceFormatError`: a directory, an
    unknown suffix, content of another format than the suffix says, an empty or truncated
    Parquet file, a Parquet file with none of the identity columns. An empty JSONL file is a
    trace of no steps. Reading the rows (unreadable lines skipped and counted) is the reader's.
    """
    path = Path(path)
    if not path.is_dir():
        trace_format(path)  # an unknown suffix is the clearest complaint, even for a missing file
    head, size = _head_and_size(path)
    fmt = trace_format(path)
    seen = _looks_like(head)
    if fmt == "parquet":
        if size == 0:
            raise TraceFormatError(f"{path} is empty (0 bytes), not a Parquet file")
        if seen != "Parquet":
            raise TraceFormatError(f"{path}: not a Parquet file ({_described(seen)})")
        _check_parquet_columns(path)
    elif fmt == "jsonl.gz":
        if size and seen != "gzip":
            raise TraceFormatError(f"{path}: not a gzip file ({_described(seen)})")
    elif seen is not None:
        raise TraceFormatError(f"{path}: a {seen} file, not JSONL text; rename it to its format")
    return fmt


def _described(seen: str | None) -> str:
    return f"its content is {seen}" if seen else "its first bytes are of another format"


def _check_parquet_columns(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as exc:
        raise TraceFormatError(f"{path}: not a readable Parquet file ({exc})") from None
    if not names & set(IDENTITY_FIELDS):
        raise TraceFormatError(
            f"{path}: a Parquet file but not a trace (it has none of the columns "
            f"{', '.join(IDENTITY_FIELDS)})"
        )


def check_database_input(path: Path) -> None:
    """Raise unless `path` is a DuckDB database file (a trace file gets a hint to use -i)."""
    path = Path(path)
    head, size = _head_and_size(path)
    if size == 0:
        raise TraceFormatError(f"{path} is empty (0 bytes), not a DuckDB database")
    seen = _looks_like(head)
    if seen == "DuckDB":
        return
    try:
        is_trace = bool(trace_format(path))
    except TraceFormatError:
        is_trace = seen in ("Parquet", "gzip")
    if is_trace:
        raise TraceFormatError(
            f"{path} is a trace file, not a DuckDB database: pass it with -i {path}"
        )
    raise TraceFormatError(f"{path}: not a DuckDB database")
