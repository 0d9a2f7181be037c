"""Claude Code session logs → normalized steps (spec: normalized-format §1–§3).

A step is one distinct `message.id`: Claude writes one API response as several `assistant`
lines (one content block each) repeating a possibly growing `usage`, so we keep the snapshot
with the largest (output, input, stop_reason-set) — never a sum. Tool results arrive as later
`user` records and may come after further steps, so pairing happens over the whole file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tracelab.schema import (
    REASONING,
    TEXT,
    TOOL_CALL,
    TOOL_RESULT,
    USER_MESSAGE,
    Row,
    make_trace_key,
)
from tracelab.sources.common import (
    INT64_BOUND,
    ParseIssues,
    SourceContext,
    ToolCall,
    add_input_summary,
    as_count,
    content_chars,
    latency_ms,
    lean,
    load_line,
    seconds_to_ms,
)

PROVIDER = "claude"
SYNTHETIC = "<synthetic>"
CONVERSATION_TYPES = ("user", "assistant")
BOOKKEEPING_TYPES = frozenset(
    {
        "attachment",
        "system",
        "mode",
        "permission-mode",
        "file-history-snapshot",
        "last-prompt",
        "ai-title",
        "custom-title",
        "summary",
        "progress",
        "queue-operation",
        "agent-name",
        "tag",
    }
)
_DURATION_KEYS = (
    ("durationMs", 1.0),
    ("duration_ms", 1.0),
    ("durationSeconds", 1000.0),
    ("duration_seconds", 1000.0),
)


#: Content blocks that become output events: block type → (event type, field with the text,
#: event source).
_TEXT_BLOCKS = {
    "thinking": (REASONING, "thinking", "assistant.content.thinking"),
    "text": (TEXT, "text", "assistant.content.text"),
}


class _Usage(NamedTuple):
    """The counts of one usage snapshot — all a step keeps (small to cache and resume).

    `creation_5m` / `creation_1h`: the cache-write split by lifetime (spec §7), None when the
    snapshot has no `cache_creation` object (Claude Code versions before the split).
    """

    uncached: int
    creation: int
    read: int
    output: int
    creation_5m: int | None = None
    creation_1h: int | None = None

    @classmethod
    def of(cls, usage: dict) -> _Usage:
        get = usage.get
        counts = [
            get("input_tokens"),
            get("cache_creation_input_tokens"),
            get("cache_read_input_tokens"),
            get("output_tokens"),
        ]
        split = get("cache_creation")
        if type(split) is dict:
            counts.append(split.get("ephemeral_5m_input_tokens"))
            counts.append(split.get("ephemeral_1h_input_tokens"))
        for value in counts:  # the usual case: plain ints, kept as they are
            if type(value) is not int or not -INT64_BOUND < value < INT64_BOUND:
                counts = [as_count(v) or 0 for v in counts]  # schema drift: tolerated
                break
        return cls(*counts)

    def rank(self, stop_reason: Any) -> tuple[int, int, int]:
        """Order snapshots of one message: more output, then more input, then finished."""
        return (self.output, self.uncached + self.creation + self.read, 1 if stop_reason else 0)


@dataclass
class _Step:
    message_id: str
    model: str | None
    events: list[dict]
    usage: _Usage | None = None
    rank: tuple[int, int, int] = (-1, -1, -1)
    tool_ids: list[str] = field(default_factory=list)
    #: `sessionId` of the step's first record when it is a sidechain (`isSidechain: true`)
    sidechain_of: str | None = None


@dataclass
class _ToolResult:
    result_at: str | None
    result_chars: int
    is_error: bool | None
    internal_ms: int | None


class ClaudeParser:
    """Incremental parser of one Claude Code session file."""

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.issues = ParseIssues()
        self.steps: list[_Step] = []
        self.by_id: dict[str, _Step] = {}
        self.pending: list[dict] = []
        self.calls: dict[str, ToolCall] = {}
        self.results: dict[str, _ToolResult] = {}
        #: this file's own subagent id (records' `agentId`), for the spawning-call link
        self.agent_id: str | None = None
        #: subagents this session spawned: `toolUseResult.agentId` → the tool call's id
        self.spawned: dict[str, str] = {}
        #: the working directory the session's records carry (the first one): its project
        self.cwd: str | None = None

    # --- feeding ------------------------------------------------------------------------
    # The hot path: a collect spends most of its time here, once per record, so lookups are
    # kept local, events are literal dicts (`lean` drops null attributes) and a string's
    # length is taken without a call.

    def feed(self, line: bytes | memoryview) -> None:
        record = load_line(line, self.issues)
        if record is None:
            return
        kind = record.get("type")
        if kind in CONVERSATION_TYPES:
            if self.agent_id is None:
                agent_id = record.get("agentId")
                if isinstance(agent_id, str) and agent_id:
                    self.agent_id = agent_id
            if self.cwd is None:
                cwd = record.get("cwd")
                if isinstance(cwd, str) and cwd:
                    self.cwd = cwd
        if kind == "assistant":
            self._assistant(record)
        elif kind == "user":
            self._user(record)
        elif not isinstance(kind, str):
            # Not "unknown type None": a record with no type is a malformed line.
            self.issues.other["record(s) without a type"] += 1
        elif kind not in BOOKKEEPING_TYPES:
            self.issues.unknown_types[kind[:40]] += 1

    def _assistant(self, record: dict) -> None:
        message = record.get("message")
        if type(message) is not dict:
            self.issues.other["assistant record without message"] += 1
            return
        msg_id = message.get("id")
        model = message.get("model")
        if msg_id == SYNTHETIC or model == SYNTHETIC:
            return
        if type(msg_id) is not str or not msg_id:
            self.issues.other["assistant record without message.id"] += 1
            return
        step = self.by_id.get(msg_id)
        if step is None:
            step = _Step(msg_id, model if type(model) is str else None, self.pending)
            if record.get("isSidechain") is True:
                sid = record.get("sessionId")
                step.sidechain_of = sid if type(sid) is str and sid else None
            self.pending = []
            self.by_id[msg_id] = step
            self.steps.append(step)
        elif step.model is None and type(model) is str:
            step.model = model
        usage = message.get("usage")
        if type(usage) is dict:
            counts = _Usage.of(usage)
            rank = counts.rank(message.get("stop_reason"))
            if rank >= step.rank:  # later record wins ties
                step.usage, step.rank = counts, rank
        content = message.get("content")
        if type(content) is str:
            content = [{"type": "text", "text": content}]
        elif type(content) is not list:
            return
        ts = record.get("timestamp")
        events = step.events
        for block in content:
            if type(block) is not dict:
                continue
            btype = block.get("type")
            text_block = _TEXT_BLOCKS.get(btype) if type(btype) is str else None
            if text_block is not None:
                kind, key, source = text_block
                text = block.get(key)
                chars = len(text) if type(text) is str else content_chars(text)
                ev = {"event_type": kind, "timestamp": ts, "source": source, "content_chars": chars}
                events.append(ev if ts is not None else lean(ev))
            elif btype == "tool_use":
                self._tool_use(step, block, ts)

    def _tool_use(self, step: _Step, block: dict, ts: Any) -> None:
        call_id = block.get("id")
        if type(call_id) is not str or call_id in self.calls:
            self.issues.other["tool_use without a new id"] += 1
            return
        index = len(step.tool_ids)
        name = block.get("name")
        name = name if type(name) is str else None
        self.calls[call_id] = ToolCall(name, ts, block.get("input"), index)
        step.tool_ids.append(call_id)
        step.events.append(
            lean(
                {
                    "event_type": TOOL_CALL,
                    "timestamp": ts,
                    "source": "assistant.content.tool_use",
                    "tool_call_id": call_id,
                    "tool_name": name,
                    "tool_index": index,
                }
            )
        )

    def _user(self, record: dict) -> None:
        message = record.get("message")
        if type(message) is not dict:
            self.issues.other["user record without message"] += 1
            return
        ts = record.get("timestamp")
        content = message.get("content")
        results = (
            [b for b in content if type(b) is dict and b.get("type") == "tool_result"]
            if type(content) is list
            else None
        )
        if not results:
            chars = len(content) if type(content) is str else content_chars(content)
            self.pending.append(
                lean(
                    {
                        "event_type": USER_MESSAGE,
                        "timestamp": ts,
                        "source": "user.message",
                        "content_chars": chars,
                    }
                )
            )
            return
        tool_use_result = record.get("toolUseResult")
        internal = _runner_duration_ms(tool_use_result)
        spawned = tool_use_result.get("agentId") if type(tool_use_result) is dict else None
        if type(spawned) is str and spawned and len(results) == 1:
            call_id = results[0].get("tool_use_id")
            if type(call_id) is str:  # an Agent/Task call's result names the subagent;
                self.spawned.setdefault(spawned, call_id)  # a resuming call did not spawn it
        pending = self.pending
        for block in results:
            call_id = block.get("tool_use_id")
            if type(call_id) is not str:
                call_id = None
            result = block.get("content")
            chars = len(result) if type(result) is str else content_chars(result)
            # A finished result without the key is not an error (spec §3: older versions
            # write `is_error` only sometimes); a value of another type is unknown.
            is_error = block.get("is_error", False)
            if is_error is not True and is_error is not False:
                is_error = False if is_error is None else None
            pending.append(
                lean(
                    {
                        "event_type": TOOL_RESULT,
                        "timestamp": ts,
                        "source": "user.content.tool_result",
                        "tool_call_id": call_id,
                        "result_chars": chars,
                        "is_error": is_error,
                    }
                )
            )
            if call_id is not None:
                # A later result for the same call overwrites (spec §3).
                self.results[call_id] = _ToolResult(ts, chars, is_error, internal)

    # --- emitting -----------------------------------------------------------------------

    def finish(self) -> list[Row]:
        """Rows for every step seen so far; the parser state is left untouched."""
        ctx = self.ctx
        session_id = f"{PROVIDER}:{ctx.session_key}"
        parent_dir, sep, _agent = f"/{ctx.session_key}".rpartition("/subagents/")
        file_parent = f"{PROVIDER}:{parent_dir[1:]}" if sep and parent_dir else None
        unmatched = sum(1 for cid in self.results if cid not in self.calls)
        self.issues.set_count("tool result(s) without a matching call", unmatched)
        template = ctx.row_template(PROVIDER)
        template["project"] = self.cwd or decode_project_dir(ctx.project)
        template["session_id"] = session_id
        tool = self._tool
        rows = []
        for index, step in enumerate(self.steps):
            parent = file_parent or _sidechain_parent(step, session_id)
            row = template.copy()
            row["is_subagent"] = bool(sep) or parent is not None
            row["parent_session_id"] = parent
            # parent_tool_call_id stays null: collect links it (another file names it)
            row["round_index"] = index
            row["round_id"] = step.message_id
            row["model"] = step.model
            _add_tokens(row, step.usage)
            row["timing_events"] = list(step.events)  # event dicts are never mutated
            row["tools"] = [tool(cid) for cid in step.tool_ids]
            add_input_summary(row, step.events)
            row["trace_key"] = make_trace_key(PROVIDER, session_id, step.message_id)
            rows.append(row)
        return rows

    def spawn_links(
        self, rows: list[Row]
    ) -> tuple[list[tuple[str, str, str]], tuple[str, str] | None]:
        """What links subagent runs to the tool calls that spawned them, across files.

        Returns the subagents this session spawned as (session_id, agent id, tool call id),
        and for a subagent file (parent session_id, own agent id) — its `agentId`, else the
        file name's `agent-<id>`. Collect joins the two (the files are parsed apart).
        """
        session_id = f"{PROVIDER}:{self.ctx.session_key}"
        spawned = [(session_id, agent, call) for agent, call in self.spawned.items()]
        parent = next((r["parent_session_id"] for r in rows if r["parent_session_id"]), None)
        stem = self.ctx.file_stem or ""
        agent_id = self.agent_id or (stem[len("agent-") :] if stem.startswith("agent-") else None)
        return spawned, (parent, agent_id) if parent and agent_id else None

    def _tool(self, call_id: str) -> dict:
        call = self.calls[call_id]
        result = self.results.get(call_id)
        return {
            "tool_index": call.index,
            "tool_name": call.name,
            "tool_call_id": call_id,
            "emitted_at": call.emitted_at,
            "result_at": result.result_at if result else None,
            "input": call.input,
            "input_chars": call.input_chars,
            "result_chars": result.result_chars if result else None,
            "tool_wall_latency_ms": latency_ms(call.emitted_at, result.result_at)
            if result
            else None,
            "tool_internal_latency_ms": result.internal_ms if result else None,
            "is_error": result.is_error if result else None,
        }


def decode_project_dir(name: str | None) -> str | None:
    """The working directory a Claude project folder name stands for, where it can be told.

    Claude Code names the folder after the working directory with every `/` (and `.`, `_`, …)
    replaced by `-`, so the name is ambiguous: it is decoded (every `-` read as `/`) only when
    that path is a directory on this machine; otherwise the folder name itself is the project.
    """
    if not name or not name.startswith("-"):
        return name
    path = name.replace("-", "/")
    return path if os.path.isdir(path) else name


def _sidechain_parent(step: _Step, session_id: str) -> str | None:
    """A sidechain step of another session (an old-style `agent-*.jsonl` file beside its
    parent's) names its parent in `sessionId`; an inline sidechain is its own session's."""
    if step.sidechain_of is None:
        return None
    parent = f"{PROVIDER}:{step.sidechain_of}"
    return parent if parent != session_id else None


def _runner_duration_ms(tool_use_result: Any) -> int | None:
    """The runner-reported duration in a `toolUseResult` object, in whole ms."""
    if not isinstance(tool_use_result, dict):
        return None
    for key, scale in _DURATION_KEYS:
        if key in tool_use_result:
            ms = seconds_to_ms(tool_use_result[key], scale)
            if ms is not None:
                return ms
    return None


def _add_tokens(row: Row, usage: _Usage | None) -> None:
    """Token fields of a Claude step from its chosen usage snapshot (spec §3 formulas);
    left null without one. (Codex's reasoning count stays null.)"""
    if usage is None:
        return
    uncached, creation, read, output, creation_5m, creation_1h = usage
    row["input_tokens_total"] = uncached + creation + read
    row["prefix_tokens"] = read
    row["newly_append_tokens"] = uncached + creation
    row["claude_uncached_input_tokens"] = uncached
    row["claude_cache_creation_input_tokens"] = creation
    row["claude_cache_creation_5m_input_tokens"] = creation_5m
    row["claude_cache_creation_1h_input_tokens"] = creation_1h
    row["claude_cache_read_input_tokens"] = read
    row["output_tokens"] = output
