"""What kind of file was uploaded, decided from its bytes — never from its name alone.

Why content: a browser upload's name is whatever the user's file was called (or a temp name),
and the same suffix means different things (`.jsonl` is a raw Claude log, a Codex rollout, a
normalized trace or a sanitized one). So we look at magic numbers (zip, gzip, tar, Parquet,
DuckDB) and then at the shape of the first JSON records, using the parsers' own record-type
vocabularies and the schema's field lists, so "a Claude record" means what the collector reads.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracelab.ingest.errors import UploadRejected
from tracelab.privacy import PSEUDONYM_RE
from tracelab.schema import PRIVATE_ROW_FIELDS, PRIVATE_TOOL_FIELDS, ROW_FIELDS
from tracelab.sources.claude import BOOKKEEPING_TYPES, CONVERSATION_TYPES
from tracelab.sources.codex import KNOWN_TYPES as CODEX_TYPES
from tracelab.sources.common import ParseIssues, load_line
from tracelab.tracedb import IDENTITY_FIELDS

#: How much of a file the sniffer reads: enough records to see past a session's bookkeeping
#: header lines, bounded so a huge first line or a gzip bomb costs little.
SAMPLE_LINES = 64
SAMPLE_BYTES = 32 << 20
MAX_LINE_BYTES = 16 << 20

_REJECT = "not a session log, trace or archive TraceLab can read"
_CLAUDE_TYPES = frozenset(CONVERSATION_TYPES) | BOOKKEEPING_TYPES
_TRACE_HINT_FIELDS = frozenset(ROW_FIELDS) - set(IDENTITY_FIELDS)
_PRIVATE_KEYS = (*PRIVATE_ROW_FIELDS, "workdir")


class UploadKind(StrEnum):
    """The kinds of upload the Analyze page accepts (the value is a stable machine name)."""

    CLAUDE_LOG = "claude-log"
    CODEX_LOG = "codex-log"
    ZIP = "zip"
    TAR = "tar"
    TAR_GZ = "tar.gz"
    NORMALIZED = "normalized-trace"
    SANITIZED = "sanitized-trace"
    PUBLIC_DATASET = "public-dataset"

    @property
    def label(self) -> str:
        """What the page shows the user."""
        return _LABELS[self]

    @property
    def is_raw(self) -> bool:
        """Raw agent logs (a session file or an archive of them): collect, sanitize, build."""
        return self in (UploadKind.CLAUDE_LOG, UploadKind.CODEX_LOG, *ARCHIVE_KINDS)

    @property
    def is_archive(self) -> bool:
        return self in ARCHIVE_KINDS


ARCHIVE_KINDS = (UploadKind.ZIP, UploadKind.TAR, UploadKind.TAR_GZ)
_LABELS = {
    UploadKind.CLAUDE_LOG: "Claude Code session log",
    UploadKind.CODEX_LOG: "Codex CLI session log",
    UploadKind.ZIP: "zip archive of agent logs",
    UploadKind.TAR: "tar archive of agent logs",
    UploadKind.TAR_GZ: "gzip-compressed tar archive of agent logs",
    UploadKind.NORMALIZED: "normalized trace (private)",
    UploadKind.SANITIZED: "sanitized trace",
    UploadKind.PUBLIC_DATASET: "sanitized trace (public dataset or another tool's)",
}


@dataclass(frozen=True)
class Sniffed:
    """What `sniff` found: the kind, and how to read the bytes.

    `fmt` is the trace format (`jsonl`, `jsonl.gz`, `parquet`) of a trace, or of a raw log
    (`jsonl` / `jsonl.gz`); None for archives. `records` are the first parsed JSON records of a
    JSONL file (raw logs use them to name the session), empty otherwise.
    """

    kind: UploadKind
    fmt: str | None = None
    records: tuple[dict[str, Any], ...] = field(default=(), repr=False)


def detect_kind(path: Path) -> UploadKind:
    """Classify an uploaded file by content; raise `UploadRejected` for anything unreadable."""
    return sniff(path).kind


def sniff(path: Path) -> Sniffed:
    """Classify `path` by its magic bytes and the shape of its first records.

    Raises `UploadRejected` (one line) for an empty file, a corrupt gzip stream or Parquet
    file, a DuckDB database, and anything that is not a session log, trace or archive.
    """
    path = Path(path)
    size = path.stat().st_size  # a missing file is the caller's bug: FileNotFoundError
    if size == 0:
        raise UploadRejected("the uploaded file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Sniffed(UploadKind.ZIP)
    if head.startswith(b"PAR1"):
        return _sniff_parquet(path)
    if head[8:12] == b"DUCK":
        raise UploadRejected(
            "this is a DuckDB database; uploads take trace files — upload the public dataset's "
            ".jsonl.gz, or start `tracelab serve --db FILE` to open a database"
        )
    if _is_tar(head):
        return Sniffed(UploadKind.TAR)
    if head.startswith(b"\x1f\x8b"):
        return _sniff_gzip(path)
    if head.startswith((b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        raise UploadRejected(
            f"{_REJECT}: bzip2/xz/zstd compression is not supported; use .zip or .tar.gz"
        )
    with open(path, "rb") as fh:
        return _sniff_jsonl(_sample(fh), "jsonl")


def _is_tar(block: bytes) -> bool:
    """POSIX / GNU tar headers carry `ustar` at offset 257."""
    return len(block) >= 262 and block[257:262] == b"ustar"


def _sniff_gzip(path: Path) -> Sniffed:
    """A .tar.gz, or a gzip-compressed JSONL (a trace, or a raw log someone gzipped)."""
    try:
        with gzip.open(path, "rb") as fh:
            first = fh.read(512)
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadRejected(f"corrupt gzip data: {_why(exc)}") from None
    if not first:
        raise UploadRejected("the uploaded gzip file is empty once decompressed")
    if _is_tar(first):
        return Sniffed(UploadKind.TAR_GZ)
    with gzip.open(path, "rb") as fh:
        return _sniff_jsonl(_sample(fh), "jsonl.gz")


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]


def _sample(fh: IO[bytes]) -> Iterator[bytes]:
    """The first lines (at most SAMPLE_LINES / SAMPLE_BYTES); an overlong line is yielded as
    b"" (unreadable), and a stream that breaks off ends the sample quietly — the lines before
    the damage still count, as they do for the collector."""
    read = 0
    lines = 0
    try:
        while lines < SAMPLE_LINES and read < SAMPLE_BYTES:
            line = fh.readline(MAX_LINE_BYTES)
            if not line:
                return
            read += len(line)
            if not line.endswith(b"\n"):
                if len(line) < MAX_LINE_BYTES:
                    yield line  # the last line: a truncated one simply fails to parse
                    return
                while True:  # overlong: skip to its end
                    rest = fh.readline(MAX_LINE_BYTES)
                    read += len(rest)
                    if not rest or rest.endswith(b"\n") or read >= SAMPLE_BYTES:
                        break
                line = b""
            lines += 1
            yield line
    except (OSError, EOFError, zlib.error) as exc:
        if lines == 0:
            raise UploadRejected(f"corrupt gzip data: {_why(exc)}") from None


def classify_record(record: dict[str, Any]) -> str | None:
    """`claude`, `codex` or `trace` for a record of that shape; None if it is none of them."""
    kind = record.get("type")
    if isinstance(kind, str):
        if kind in CODEX_TYPES and isinstance(record.get("payload"), dict):
            return "codex"
        if "payload" not in record and (kind in _CLAUDE_TYPES or "sessionId" in record):
            return "claude"
        return None
    if any(record.get(name) for name in IDENTITY_FIELDS) and _TRACE_HINT_FIELDS & record.keys():
        return "trace"
    return None


def _is_private_row(row: dict[str, Any]) -> bool:
    """A normalized (private) row still carries local context or raw tool inputs."""
    if any(row.get(name) not in (None, "") for name in _PRIVATE_KEYS):
        return True
    tools = row.get("tools")
    return isinstance(tools, list) and any(
        isinstance(t, dict) and any(t.get(name) is not None for name in PRIVATE_TOOL_FIELDS)
        for t in tools
    )


def _tracelab_pseudonym(session_id: Any) -> bool:
    """`claude:s_<16 hex>`: a session id TraceLab's sanitizer wrote."""
    if not isinstance(session_id, str):
        return False
    return bool(PSEUDONYM_RE.fullmatch(session_id.rpartition(":")[2]))


def _trace_kind(rows: list[dict[str, Any]]) -> UploadKind:
    if any(_is_private_row(row) for row in rows):
        return UploadKind.NORMALIZED
    ids = [row.get("session_id") for row in rows if row.get("session_id")]
    if ids and all(_tracelab_pseudonym(sid) for sid in ids):
        return UploadKind.SANITIZED
    return UploadKind.PUBLIC_DATASET


def _sniff_jsonl(lines: Iterator[bytes], fmt: str) -> Sniffed:
    issues = ParseIssues()
    records: list[dict[str, Any]] = []
    verdict: str | None = None
    seen = 0
    for line in lines:
        if not line.strip():
            continue
        seen += 1
        record = load_line(line, issues)
        if record is None:
            continue
        records.append(record)
        verdict = verdict or classify_record(record)
    if verdict == "claude":
        return Sniffed(UploadKind.CLAUDE_LOG, fmt, tuple(records))
    if verdict == "codex":
        return Sniffed(UploadKind.CODEX_LOG, fmt, tuple(records))
    if verdict == "trace":
        rows = [r for r in records if classify_record(r) == "trace"]
        return Sniffed(_trace_kind(rows), fmt, tuple(records))
    if not seen:
        raise UploadRejected(f"{_REJECT}: it holds no lines (blank or a single unfinished line)")
    if not records:
        raise UploadRejected(
            f"{_REJECT}: it is not JSON lines, a .zip / .tar(.gz) archive or a Parquet file"
        )
    raise UploadRejected(
        f"{_REJECT}: JSON lines, but none looks like a Claude Code or Codex record or a trace row"
    )


def _sniff_parquet(path: Path) -> Sniffed:
    """A Parquet trace: its schema must name the identity fields; private columns with values
    make it a normalized trace."""
    try:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if not (set(IDENTITY_FIELDS) & names and _TRACE_HINT_FIELDS & names):
            raise UploadRejected(f"{_REJECT}: a Parquet file without the trace's step fields")
        columns = [n for n in (*_PRIVATE_KEYS, "session_id") if n in names]
        rows: list[dict[str, Any]] = []
        if pf.metadata.num_rows and columns:
            batch = next(pf.iter_batches(batch_size=256, columns=columns))
            rows = batch.to_pylist()
        if "tools" in names and _parquet_has_tool_input(pf):
            return Sniffed(UploadKind.NORMALIZED, "parquet")
    except (pa.ArrowException, OSError) as exc:
        raise UploadRejected(f"corrupt Parquet file: {_why(exc)}") from None
    return Sniffed(_trace_kind(rows), "parquet")


def _parquet_has_tool_input(pf: pq.ParquetFile) -> bool:
    """True when tools[] has the private `input` field with a value in the first rows."""
    tools_type = pf.schema_arrow.field("tools").type
    if not (pa.types.is_list(tools_type) and pa.types.is_struct(tools_type.value_type)):
        return False
    if tools_type.value_type.get_field_index("input") < 0:
        return False
    if not pf.metadata.num_rows:
        return False
    with contextlib.suppress(StopIteration):
        batch = next(pf.iter_batches(batch_size=256, columns=["tools"]))
        for tools in batch.column(0).to_pylist():
            if any(t.get("input") is not None for t in tools or ()):
                return True
    return False


def provider_of(path: Path) -> str | None:
    """`claude` or `codex` when the file's first records are that agent's, else None.

    Used on archive members whose folder does not say which agent wrote them; never raises
    for a bad file (an unreadable member is simply not a session log).
    """
    issues = ParseIssues()
    with contextlib.suppress(UploadRejected), open(path, "rb") as fh:
        for line in _sample(fh):
            record = load_line(line, issues) if line.strip() else None
            verdict = classify_record(record) if record is not None else None
            if verdict in ("claude", "codex"):
                return verdict
            if verdict == "trace":
                return None
    return None
