"""Read one raw session file into serialized rows — the work a collector process does.

Parsing resumes from a cached parser state when the file only grew (verified by a CRC of every
byte already parsed), stops at the last complete line (an agent may still be writing), and
hands back rows as JSONL bytes plus the little dedup needs, because bytes cross a process
boundary far more cheaply than nested dicts.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from tracelab.collect_cache import CacheRecord, pack, unpack
from tracelab.io import dumps_clean_row, dumps_row
from tracelab.schema import Row
from tracelab.sources.claude import PROVIDER as CLAUDE
from tracelab.sources.claude import ClaudeParser
from tracelab.sources.codex import CodexParser
from tracelab.sources.common import ParseIssues, SourceContext, load_line
from tracelab.spool import SpoolRef, spill

PARSERS = {"claude": ClaudeParser, "codex": CodexParser}
_HASH_CHUNK = 1 << 20


@dataclass
class FileOutcome:
    """What parsing one raw file produced.

    Rows travel back from the worker already serialized (one JSONL line each, with the few
    fields dedup and the report need beside it): bytes cross a process boundary far cheaper
    than nested dicts, and the JSONL writer needs nothing more.
    """

    path: str
    provider: str
    lines: list[bytes]
    keys: list[RowKey]
    problems: list[str]
    skipped_lines: int
    bytes_parsed: int
    size: int
    from_cache: bool = False
    error: str | None = None
    cache_record: CacheRecord | None = None
    #: subagents this file's session spawned: (session_id, agent id, spawning tool call id)
    spawned: list[tuple[str, str, str]] = field(default_factory=list)
    #: for a subagent file: (parent session_id, its agent id), to look the spawning call up
    spawned_by: tuple[str, str] | None = None
    #: where `lines` went when a worker wrote them to a spool file (`lines` is then empty)
    spool: SpoolRef | None = None

    @classmethod
    def failed(cls, ctx: SourceContext, reason: str) -> FileOutcome:
        return cls(ctx.path, ctx.provider, [], [], [], 0, 0, 0, error=reason)

    @classmethod
    def parsed(cls, ctx: SourceContext, parser: Any, bytes_parsed: int, size: int) -> FileOutcome:
        rows = parser.finish()
        problems = parser.issues.describe()
        links = getattr(parser, "spawn_links", None)  # only Claude logs name a subagent's call
        spawned, spawned_by = links(rows) if links is not None else ([], None)
        return cls(
            ctx.path,
            ctx.provider,
            [_dump(row, problems) for row in rows],
            [_row_key(row) for row in rows],
            problems,
            parser.issues.skipped_lines,
            bytes_parsed,
            size,
            spawned=spawned,
            spawned_by=spawned_by,
        )

    def output_blob(self) -> bytes:
        """What the cache keeps to replay this outcome without parsing."""
        return pack(
            (
                self.lines,
                [tuple(k) for k in self.keys],
                self.problems,
                self.skipped_lines,
                self.spawned,
                self.spawned_by,
            )
        )

    @classmethod
    def replayed(cls, ctx: SourceContext, blob: Any, size: int) -> FileOutcome | None:
        try:
            lines, keys, problems, skipped, spawned, spawned_by = blob
            keys = [RowKey(*k) for k in keys]
            spawned = [(a, b, c) for a, b, c in spawned]
            spawned_by = tuple(spawned_by) if spawned_by is not None else None
        except (TypeError, ValueError):
            return None
        return cls(
            ctx.path,
            ctx.provider,
            lines,
            keys,
            problems,
            skipped,
            0,
            size,
            True,
            spawned=spawned,
            spawned_by=spawned_by,
        )


def _dump(row: Row, problems: list[str]) -> bytes:
    """Serialize a row; a raw tool input nested deeper than JSON writers go (orjson reads 1024
    levels, writes 255) is dropped from the private row — its `input_chars` stays — and said."""
    try:
        return dumps_clean_row(row)
    except orjson.JSONEncodeError:
        for tool in row["tools"]:
            try:
                orjson.dumps(tool.get("input"))
            except orjson.JSONEncodeError:
                tool["input"] = None
                problems.append(f"tool input of {tool['tool_call_id']} nested too deeply to store")
        return dumps_row(row)


class RowKey(NamedTuple):
    """What dedup and the per-user table need of a row, without decoding it.

    `replay_key` (Claude only): the session tree (the top-level session a subagent belongs
    to) and the step's `message.id`. A step whose replay key was already kept is a replay of
    that step by another file of the tree — a side-question agent re-writing its parent's
    conversation (spec §7) — not a new API call.
    """

    trace_key: str
    user: str | None
    session_id: str
    tool_calls: int
    replay_key: str | None = None


_SUBAGENTS = "/subagents/"


def _row_key(row: Row) -> RowKey:
    replay_key = None
    if row["provider"] == CLAUDE:
        tree = (row.get("parent_session_id") or row["session_id"]).split(_SUBAGENTS, 1)[0]
        replay_key = f"{tree}\n{row['round_id']}"
    return RowKey(
        row["trace_key"], row.get("user"), row["session_id"], len(row["tools"]), replay_key
    )


def _complete_extent(data: bytes) -> tuple[int, bool]:
    """Bytes of `data` that hold complete lines, and whether an unfinished last line remains."""
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    # Judged as the parser will read it (invalid UTF-8 repaired). Only an object is known to
    # be complete: a bare `4` may still become `42`.
    if tail.strip() and load_line(tail, ParseIssues()) is None:
        return cut, True  # an agent is still writing it: read it when it grows
    return len(data), False


#: First bytes of a line that may be blank (`bytes.isspace`'s set).
_BLANK = frozenset(b" \t\n\r\x0b\x0c")


def _feed_lines(feed: Any, data: bytes, end: int) -> None:
    """Feed each non-blank line of `data[:end]` to the parser as a memoryview slice: orjson
    reads one as is, where splitting the bytes would copy the whole file once more."""
    view = memoryview(data)
    find = data.find
    pos = 0
    while pos < end:
        stop = find(b"\n", pos, end)
        if stop < 0:
            stop = end
        if stop > pos and (data[pos] not in _BLANK or not data[pos:stop].isspace()):
            feed(view[pos:stop])
        pos = stop + 1


class Resume(NamedTuple):
    """Where the cache says parsing of a file stopped, and the parser state at that point."""

    offset: int
    prefix: str
    state: bytes


def parse_source(
    ctx: SourceContext, resume: Resume | None = None, want_cache: bool = False
) -> FileOutcome:
    """Parse one raw session file, resuming from `resume` when the file only grew.

    With `want_cache`, the outcome carries the record the cache keeps for this file.
    """
    try:
        # O_NONBLOCK: a FIFO named *.jsonl must not block the run (no effect on plain files)
        fh = os.fdopen(os.open(ctx.path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    except OSError as exc:
        return FileOutcome.failed(ctx, _why(exc))
    with fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return FileOutcome.failed(ctx, "not a regular file")
            size, mtime = st.st_size, st.st_mtime_ns
            start = 0
            parser, crc = None, 0
            if resume is not None and size > resume.offset:
                # Resume only if every byte already parsed is still there: a rewrite that
                # keeps the end but changes an early record must not pass for growth.
                crc = _prefix_crc(fh, resume.offset)
                if f"{crc:08x}" == resume.prefix:
                    parser = _unpickle_parser(resume.state)
                    start = resume.offset if parser is not None else 0
            if parser is None:
                parser, crc = PARSERS[ctx.provider](ctx), 0
            parser.issues.truncated_tail = False
            data = _read_from(fh, start, size - start)  # later bytes wait for the next run
            consumed, truncated = _complete_extent(data)
            _feed_lines(parser.feed, data, consumed)
            parser.issues.truncated_tail = truncated
        except OSError as exc:
            return FileOutcome.failed(ctx, _why(exc))
    outcome = FileOutcome.parsed(ctx, parser, len(data), size)
    if want_cache:
        crc = zlib.crc32(memoryview(data)[:consumed], crc)
        outcome.cache_record = CacheRecord(
            size,
            mtime,
            start + consumed,
            f"{crc:08x}",
            outcome.output_blob(),
            pack(parser),
        )
    return outcome


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates hundreds of thousands of small dicts that refcounting frees (the
    parsers make no reference cycles): the cyclic collector would walk the growing parser
    state again and again for nothing — a tenth of the parse. Paused meanwhile (a whole
    batch in a worker), not off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _read_from(fh: Any, start: int, count: int) -> bytes:
    fh.seek(start)
    return fh.read(count)


def _unpickle_parser(state: bytes) -> Any:
    try:
        return unpack(state)
    except Exception:  # a damaged cache entry means a fresh parse, never a crash
        return None


def _prefix_crc(fh: Any, offset: int) -> int:
    """CRC-32 of the first `offset` bytes (read, not parsed): tells a grown file from a
    rewritten one at memory speed. Returned so the newly parsed bytes can extend it."""
    crc = 0
    fh.seek(0)
    left = offset
    while left > 0:
        chunk = fh.read(min(left, _HASH_CHUNK))
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        left -= len(chunk)
    return crc


def _why(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "vanished during the scan"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"unreadable ({exc.strerror or exc})"


def parse_task(args: tuple[SourceContext, Resume | None, bool]) -> FileOutcome:
    try:
        with _gc_paused():
            return parse_source(*args)
    except Exception as exc:  # spec §5: a file that cannot be parsed must not stop the run
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
        return FileOutcome.failed(args[0], f"could not be parsed ({why})")


def parse_batch(
    tasks: list[tuple[SourceContext, Resume | None, bool]], spool: str | None = None
) -> list[FileOutcome]:
    """`parse_task` of several files: one round trip to a worker process for them all. With
    `spool` (a directory), their rows are written to a spool file there instead of being
    sent back: only where they lie travels."""
    with _gc_paused():
        outcomes = [parse_task(task) for task in tasks]
    full = [outcome for outcome in outcomes if outcome.lines] if spool is not None else []
    if full:
        try:
            refs = spill(spool, [outcome.lines for outcome in full])  # type: ignore[arg-type]
        except OSError:
            return outcomes  # the rows go back through the pipe instead
        for outcome, ref in zip(full, refs, strict=True):
            outcome.lines, outcome.spool = [], ref
    return outcomes
