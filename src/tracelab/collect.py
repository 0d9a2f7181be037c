"""Discovery × parsing → one deduplicated normalized trace, in parallel and incrementally.

(`sources/reader.py` is what each worker does with one file; this module runs the whole.)

Each raw file is parsed in a worker process. The parser's state after the last complete line
is cached per file (keyed by path, size, mtime), so an unchanged file costs nothing and a file
that grew (an agent still writing) is re-read only from where it grew. When no file changed and
the previous output is intact, the run is a no-op. Memory is bounded by the largest file plus
the output rows, never by the raw corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracelab.collect_cache import (
    CACHE_FORMAT,
    CollectCache,
    open_cache,
)
from tracelab.io import (
    atomic_write_bytes,
    dumps_clean_row,
    write_lines,
    write_rows,
)
from tracelab.paths import cache_dir as default_cache_dir
from tracelab.schema import Row
from tracelab.sources.common import NO_USAGE, SourceContext
from tracelab.sources.discover import Home, SkippedFile, discover, home_for
from tracelab.sources.reader import (  # parse_source: the per-file API, re-exported
    FileOutcome,
    Resume,
    parse_batch,
    parse_source,
    parse_task,
)
from tracelab.spool import Span, SpoolReader, materialize, spool_dir

__all__ = ["CollectReport", "collect", "collect_home", "parse_source"]

_PARALLEL_MIN_BYTES = 4 << 20
#: Parallel parsing: batches of files per round trip to a worker (see `_parallel`).
_BATCHES_PER_WORKER = 12
_BATCH_MIN_BYTES = 256 << 10
_BATCH_MAX_FILES = 64


# --- the run ----------------------------------------------------------------------------


@dataclass
class GroupStats:
    sessions: int = 0
    steps: int = 0
    tool_calls: int = 0


@dataclass
class CollectReport:
    """Everything a user is told about a collection run (also its `--json` form)."""

    files: int = 0
    bytes: int = 0
    bytes_parsed: int = 0
    cached_files: int = 0
    rows: int = 0
    duplicates_dropped: int = 0
    #: Claude steps another file of the same session tree already had (spec §7)
    replays_dropped: int = 0
    skipped_lines: int = 0
    seconds: float = 0.0
    up_to_date: bool = False
    output: str | None = None
    #: "user\tprovider" → stats (flat keys keep the JSON form simple)
    groups: dict[str, GroupStats] = field(default_factory=dict)
    skipped_files: list[SkippedFile] = field(default_factory=list)
    file_problems: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups"] = [
            {"user": key.split("\t")[0], "provider": key.split("\t")[1], **asdict(stats)}
            for key, stats in sorted(self.groups.items())
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectReport:
        groups = {
            f"{g['user']}\t{g['provider']}": GroupStats(g["sessions"], g["steps"], g["tool_calls"])
            for g in data.get("groups", [])
        }
        skipped = [SkippedFile(**s) for s in data.get("skipped_files", [])]
        fields = {k: v for k, v in data.items() if k not in ("groups", "skipped_files")}
        return cls(**fields, groups=groups, skipped_files=skipped)


ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


def _fingerprint(contexts: list[SourceContext]) -> tuple[str, int, dict[str, os.stat_result]]:
    """Digest of every input's (path, size, mtime, user), total bytes, and the stats."""
    digest = hashlib.sha1(CACHE_FORMAT.encode())
    total = 0
    stats: dict[str, os.stat_result] = {}
    for ctx in contexts:
        try:
            st = os.stat(ctx.path)
        except OSError:
            digest.update(f"{ctx.path}\0missing\n".encode())
            continue
        stats[ctx.path] = st
        total += st.st_size
        digest.update(f"{ctx.path}\0{st.st_size}\0{st.st_mtime_ns}\0{ctx.user}\n".encode())
    return digest.hexdigest(), total, stats


def _manifest_path(cache: Path, output: Path) -> Path:
    key = hashlib.sha1(str(output.resolve()).encode()).hexdigest()
    return cache / "outputs" / f"{key}.json"


def _output_stamp(output: Path) -> list[int] | None:
    try:
        st = output.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def collect(
    homes: list[Home],
    output: Path | None = None,
    *,
    cache: Path | bool | None = True,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    keep_rows: bool = False,
) -> tuple[CollectReport, list[Row]]:
    """Collect every session of `homes`; write `output` (atomically) if given.

    Returns the report and, when `keep_rows` (or no output), the deduplicated rows.
    `cache=True` uses the user cache dir, a Path uses that dir, False/None disables caching.
    """
    started = time.perf_counter()
    cache_root = default_cache_dir() / "collect" if cache is True else (cache or None)
    skipped: list[SkippedFile] = []
    contexts = list(discover(homes, skipped))
    fingerprint, total_bytes, stats = _fingerprint(contexts)

    manifest = _manifest_path(cache_root, output) if cache_root and output else None
    if manifest is not None and not keep_rows:
        previous = _read_manifest(manifest)
        if (
            previous
            and previous.get("fingerprint") == fingerprint
            and previous.get("output_stamp") == _output_stamp(output)
        ):
            report = CollectReport.from_json(previous["report"])
            report.up_to_date = True
            report.bytes_parsed = 0
            report.seconds = time.perf_counter() - started
            if progress:
                progress(total_bytes, total_bytes)
            return report, []

    report = CollectReport(files=len(contexts), bytes=total_bytes, skipped_files=skipped)
    kept: list[Row] = []
    store = open_cache(cache_root)
    # Workers leave their rows in spool files beside the output (none: they come back in
    # memory), from which a JSONL output copies them as they are.
    spool = output
    spools = SpoolReader()
    try:
        outcomes = _outcomes(contexts, stats, store, workers, total_bytes, progress, spool)
        _write(_dedup_lines(outcomes, report, spools), output, keep_rows, kept)
    finally:
        spools.close()
        if store is not None:
            store.close()
    if output is not None:
        report.output = str(output)
    report.seconds = time.perf_counter() - started
    if manifest is not None:
        data = {
            "fingerprint": fingerprint,
            "output_stamp": _output_stamp(output),
            "report": report.to_json(),
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(manifest, orjson.dumps(data), mode=0o600)
    return report, kept


def _read_manifest(path: Path) -> dict | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write(
    pieces: Iterator[bytes | Span], output: Path | None, keep: bool, kept: list[Row]
) -> None:
    """Stream the deduplicated rows to `output`; decode them into `kept` only when asked."""
    if keep or output is None:
        kept.extend(orjson.loads(line) for line in materialize(pieces))
        if output is not None:
            write_rows(kept, output)
    else:
        write_lines(pieces, output)


def _outcomes(
    contexts: list[SourceContext],
    stats: dict[str, os.stat_result],
    store: CollectCache | None,
    workers: int | None,
    total_bytes: int,
    progress: ProgressFn | None,
    spool: Path | None = None,
) -> Iterator[FileOutcome]:
    """Outcomes in discovery order (dedup is first-wins): unchanged files straight from the
    cache, the others parsed — in worker processes when there is enough to parse (their
    rows left in spool files beside `spool`, the output, when given)."""
    entries = store.entries(stats) if store is not None else {}
    fresh: dict[str, bool] = {}
    tasks = []
    for ctx in contexts:
        entry, st = entries.get(ctx.path), stats.get(ctx.path)
        unchanged = (
            entry is not None
            and st is not None
            and (entry.size, entry.mtime)
            == (
                st.st_size,
                st.st_mtime_ns,
            )
        )
        fresh[ctx.path] = unchanged
        if not unchanged:
            resume = None
            if (
                store is not None
                and entry is not None
                and st is not None
                and st.st_size > entry.offset
            ):
                state = store.state(ctx.path)
                resume = Resume(entry.offset, entry.prefix, state) if state else None
            tasks.append((ctx, resume, store is not None))
    sizes = [stats[t[0].path].st_size if t[0].path in stats else 0 for t in tasks]
    workers = workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(tasks) > 1 and sum(sizes) >= _PARALLEL_MIN_BYTES:
            # Imported here: multiprocessing and concurrent.futures are start-up time that
            # a no-op run or a small home never needs.
            from tracelab.workers import process_pool

            spool_path = stack.enter_context(spool_dir(spool)) if spool is not None else None
            pool = stack.enter_context(process_pool(workers, preload=("tracelab.sources.reader",)))
            parsed = _parallel(pool, tasks, sizes, workers, spool_path)
        else:
            parsed = map(parse_task, tasks)
        done = 0
        for ctx in contexts:
            outcome = None
            if fresh[ctx.path]:
                st = stats[ctx.path]
                outcome = FileOutcome.replayed(ctx, store.output(ctx.path), st.st_size)
                if outcome is None:  # unreadable entry: parse it here
                    outcome = parse_task((ctx, None, True))
            else:
                outcome = next(parsed)
            if store is not None and outcome.cache_record is not None:
                store.put(ctx.path, outcome.cache_record)
                outcome.cache_record = None
            done += outcome.size
            if progress:
                progress(done, total_bytes)
            yield outcome


def _parallel(
    pool: Any, tasks: list, sizes: list[int], workers: int, spool: str | None = None
) -> Iterator[FileOutcome]:
    """Outcomes of `tasks` in their order, parsed by `pool` biggest files first.

    Files are sent in batches of about equal bytes (one round trip per batch, not per
    file), the biggest first: a large session file started last would leave one worker
    parsing it while the others idle. Batches that finish early wait for their turn.
    """
    budget = max(_BATCH_MIN_BYTES, sum(sizes) // (workers * _BATCHES_PER_WORKER))
    batches: list[list[int]] = [[]]
    held = 0
    for i in sorted(range(len(tasks)), key=lambda i: -sizes[i]):
        if held >= budget or len(batches[-1]) >= _BATCH_MAX_FILES:
            batches.append([])
            held = 0
        batches[-1].append(i)
        held += sizes[i]
    futures = [pool.submit(parse_batch, [tasks[i] for i in batch], spool) for batch in batches]
    where = {i: (b, k) for b, batch in enumerate(batches) for k, i in enumerate(batch)}
    left = [len(batch) for batch in batches]
    for i in range(len(tasks)):
        b, k = where[i]
        yield futures[b].result()[k]
        left[b] -= 1
        if not left[b]:
            futures[b] = None  # its outcomes are consumed: let them go


def _dedup_lines(
    outcomes: Iterator[FileOutcome], report: CollectReport, spools: SpoolReader
) -> Iterator[bytes | Span]:
    """Yield serialized rows first-wins by trace_key, then by replay key (a Claude step
    re-written by another file of its session tree), tallying the report as they pass.

    Rows of a session that lost replayed steps are renumbered (`round_index` stays 0..n−1),
    and a subagent's rows get the spawning tool call its parent's file named. Rows a worker
    left in a spool file come as spans of it, copied to the output as they are.
    """
    seen: set[str] = set()
    replays: set[str] = set()
    spawns: dict[tuple[str, str], str] = {}
    sessions: dict[str, set[str]] = defaultdict(set)
    for outcome in outcomes:
        if outcome.error:
            report.skipped_files.append(SkippedFile(outcome.path, outcome.error))
            continue
        report.bytes_parsed += outcome.bytes_parsed
        report.cached_files += outcome.from_cache
        if outcome.problems == [NO_USAGE]:  # nothing to keep: its session is skipped, and said
            report.skipped_files.append(SkippedFile(outcome.path, NO_USAGE))
            continue
        report.skipped_lines += outcome.skipped_lines
        if outcome.problems:
            report.file_problems[outcome.path] = outcome.problems
        for session_id, agent_id, call_id in outcome.spawned:
            spawns.setdefault((session_id, agent_id), call_id)
        spawner = spawns.get(outcome.spawned_by) if outcome.spawned_by else None
        dropped: dict[str, int] = defaultdict(int)  # session → replays dropped so far
        shifts: list[int | None] = []  # per row: None = dropped, else replays dropped before
        for key in outcome.keys:
            if key.trace_key in seen:
                report.duplicates_dropped += 1
                shifts.append(None)
                continue
            seen.add(key.trace_key)
            if key.replay_key is not None:
                if key.replay_key in replays:
                    report.replays_dropped += 1
                    dropped[key.session_id] += 1
                    shifts.append(None)
                    continue
                replays.add(key.replay_key)
            shifts.append(dropped.get(key.session_id, 0))
            group = f"{key.user}\t{outcome.provider}"
            stats = report.groups.setdefault(group, GroupStats())
            stats.steps += 1
            stats.tool_calls += key.tool_calls
            if key.session_id not in sessions[group]:
                sessions[group].add(key.session_id)
                stats.sessions += 1
            report.rows += 1
        yield from _kept(outcome, shifts, spawner, spools)


def _kept(
    outcome: FileOutcome, shifts: list[int | None], spawner: str | None, spools: SpoolReader
) -> Iterator[bytes | Span]:
    """The rows of `outcome` that dedup kept (`shifts`), patched where needed: lines, or
    spans of its spool file where it has one (one span when nothing was dropped)."""
    ref = outcome.spool
    if ref is None:
        for line, shift in zip(outcome.lines, shifts, strict=True):
            if shift is not None:
                yield _patched(line, shift, spawner) if shift or spawner else line
        return
    fd = spools.fd(ref.path)
    start = pos = ref.offset
    run = 0  # lines from start to pos
    for length, shift in zip(ref.lengths, shifts, strict=True):
        if shift == 0 and not spawner:  # kept as it is: the run goes on
            pos += length
            run += 1
            continue
        if pos > start:
            yield Span(fd, start, pos - start, run)
        if shift is not None:
            yield _patched(spools.line(fd, pos, length), shift, spawner)
        pos += length
        start, run = pos, 0
    if pos > start:
        yield Span(fd, start, pos - start, run)


def _patched(line: bytes, shift: int, spawner: str | None) -> bytes:
    """A kept row moved up by `shift` dropped replays, with its spawning tool call filled."""
    row = orjson.loads(line)
    if shift and isinstance(row.get("round_index"), int):
        row["round_index"] -= shift
    if spawner and row.get("parent_session_id"):
        row["parent_tool_call_id"] = spawner
    return dumps_clean_row(row)


def collect_home(home: Path, cache: Path | bool | None = False) -> tuple[CollectReport, list[Row]]:
    """Collect one home directory into memory (tests, the demo, small traces)."""
    return collect([home_for(home)], cache=cache, keep_rows=True)
