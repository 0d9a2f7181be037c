"""Synthetic Claude Code sessions: `.claude/projects/<project-dir>/<session-uuid>.jsonl`.

Written the way Claude Code writes them, so the real parser is exercised, not a friendly
subset: one API response split over several `assistant` lines sharing `message.id` (sometimes
with growing usage), tool results as later `user` records, bookkeeping records in between,
subagent files under `<session>/subagents/`, `<synthetic>` messages, interrupted tool calls,
compaction boundaries and, rarely, a `.claude.back` copy of a session. The counts in
`SessionOutput` are what a correct collector must find: one step per real `message.id`, one
tool call per `tool_use`. Every number (loop lengths, tokens, latencies, waits) is drawn from
the profile by `tracelab.synth.workload`.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from tracelab.synth.claude_tools import ABSENT, REPORTS_DURATION, tool_input, tool_result
from tracelab.synth.common import (
    _SECOND_MS,
    _VARIANT,
    SessionOutput,
    filler,
    hex_id,
    iso,
    pick,
    project_dir,
    project_path,
    user_text,
    uuid4_like,
)
from tracelab.synth.profile import SUBAGENT_TOOLS, Model, ProviderProfile
from tracelab.synth.workload import (
    TEXT_CAP,
    Context,
    Sampler,
    Strata,
    lognormal,
)

VERSIONS = ("2.1.157", "2.1.142", "2.0.76")
_NO_SUBAGENT = frozenset(SUBAGENT_TOOLS)

_dumps = orjson.dumps


def _usage(inp: int, create: int, read: int, out: int) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": create,
        "cache_read_input_tokens": read,
        "output_tokens": out,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": create},
        "inference_geo": "not_available",
        "iterations": [],
        "speed": "standard",
    }


#: `_usage(inp, create, read, out)` as `orjson.dumps` writes it, filled with (inp, create,
#: read, out, create): every line of a response carries one, so no dict is built and dumped.
_USAGE_JSON = (
    b'{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,'
    b'"output_tokens":%d,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},'
    b'"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,'
    b'"ephemeral_5m_input_tokens":%d},"inference_geo":"not_available","iterations":[],'
    b'"speed":"standard"}'
)


#: `SS.mmmZ"` by milliseconds into a minute, and "YYYY-MM-DDTHH:MM:" by epoch minute (bounded
#: by clearing), as bytes: a record's timestamp is two pieces of its line's join.
_SECOND_MS_B = tuple(f'{sec}"'.encode() for sec in _SECOND_MS)  # closing the string
_MINUTE_STAMP: dict[int, bytes] = {}

#: A response line's members from after its message id to its content block, and from after
#: the block to its usage object (by stop reason; null: a partial line of a growing response).
_OPENING_REST = b'","type":"message","role":"assistant","content":['
_STOP_TOOL_USE = b'],"stop_reason":"tool_use","stop_sequence":null,"stop_details":null,"usage":'
_STOP_END_TURN = b'],"stop_reason":"end_turn","stop_sequence":null,"stop_details":null,"usage":'
_STOP_NULL = b'],"stop_reason":null,"stop_sequence":null,"stop_details":null,"usage":'


def _usage_json(inp: int, create: int, read: int, out: int) -> bytes:
    """`orjson.dumps(_usage(inp, create, read, out))`, from the template."""
    return _USAGE_JSON % (inp, create, read, out, create)


#: A tool call of a step: (id, name, input, emitted ms, uuid of its record); a plain tuple,
#: built without a constructor call.
_Call = tuple[str, str, dict[str, Any], int, str]


class _File:
    """Records of one session file (main session or a subagent) and the steps it holds.

    Records are spliced from JSON pieces (the constant tail of a file is serialized once):
    the bytes are what `orjson.dumps` of the merged record would give, at a fraction of the
    cost of building and serializing the whole dict for every line.
    """

    def __init__(
        self, rng: random.Random, session_id: str, cwd: str, version: str, agent_id: str | None
    ) -> None:
        self.rng = rng
        self.session_id = session_id
        self.lines: list[bytes] = []
        self.parent: str | None = None
        self.sidechain = agent_id is not None
        self.tail = {
            "userType": "external",
            "entrypoint": "cli",
            "cwd": cwd,
            "sessionId": session_id,
            "version": version,
            "gitBranch": "main",
        }
        side = b"true" if self.sidechain else b"false"
        agent = b',"agentId":' + _dumps(agent_id) if agent_id else b""
        self._head = b',"isSidechain":' + side + agent + b","
        self._bits = rng.getrandbits
        self._lead = b'{"parentUuid":null' + self._head  # up to the next record's head
        self._tail = b"," + _dumps(self.tail)[1:]
        self._head = b'"' + self._head  # closing the previous record's uuid
        self.steps = 0
        self.tool_calls = 0
        self.intended: list[tuple[int, int, int, int]] = []

    def data(self) -> bytes:
        # One join (the trailing empty line gives the final newline), not a join and a copy.
        return b"\n".join([*self.lines, b""]) if self.lines else b""

    def meta(self, record: dict[str, Any]) -> None:
        """A bookkeeping record (no place in the parentUuid chain)."""
        self.lines.append(_dumps(record))

    def conv(self, ms: int, head: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
        """A conversation record chained to the previous one; returns its uuid.

        The record is {parentUuid, isSidechain, [agentId], **head, uuid, timestamp, **extra,
        **tail}."""
        extra_json = b"," + _dumps(extra)[1:-1] if extra else b""
        return self.conv_json(ms, _dumps(head)[1:-1], extra_json)

    def conv_json(self, ms: int, head: bytes, extra: bytes = b"") -> str:
        """`conv` with the head's members already serialized (`"key":value,…`) and the extra
        ones too (`,"key":value…`, or empty)."""
        return self.conv_parts(ms, (head,), (extra,))

    def conv_parts(self, ms: int, head: tuple[bytes, ...], extra: tuple[bytes, ...] = ()) -> str:
        """`conv_json` with the head and extra members in pieces: joined once into the line (a
        step's content or a tool's result, often kilobytes, is then copied once, not twice)."""
        h = self._bits(128).to_bytes(16, "big").hex()  # `uuid4_like`, inlined
        uid = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
        uid_b = uid.encode()
        minutes, rest = divmod(ms, 60_000)  # `iso`, from byte tables
        minute = _MINUTE_STAMP.get(minutes)
        if minute is None:
            if len(_MINUTE_STAMP) >= 4096:
                _MINUTE_STAMP.clear()
            minute = _MINUTE_STAMP[minutes] = iso(minutes * 60_000)[:17].encode()
        self.lines.append(
            b"".join(
                (
                    self._lead,
                    *head,
                    b',"uuid":"',
                    uid_b,
                    b'","timestamp":"',
                    minute,
                    _SECOND_MS_B[rest],
                    *extra,
                    self._tail,
                )
            )
        )
        self.parent = uid
        self._lead = b'{"parentUuid":"' + uid_b + self._head
        return uid


class _Session:
    """Drives requests (prompt → steps ↔ tool results) into one `_File`."""

    def __init__(
        self,
        s: Sampler,
        out: SessionOutput,
        file: _File,
        cwd: str,
        rel_dir: str,
        model: Model,
        depth: int,
    ) -> None:
        self.s = s
        self.rng = s.rng
        self.out = out
        self.file = file
        self.cwd = cwd
        self.rel_dir = rel_dir
        self.model = model.name
        # A response line's members before its message id (constant for the session).
        self.opening = b'"message":{"model":' + _dumps(model.name) + b',"id":"'
        self.depth = depth
        self.ctx = Context(s, model)
        self.exclude = _NO_SUBAGENT if depth > 0 else frozenset()
        self.title = filler(self.rng, 40)
        self.trailer: tuple[bytes, ...] | None = None  # see `_trailer`
        self.force_agent = False  # make the next tool call of this session an Agent call

    # --- one request ------------------------------------------------------------------------

    def request(
        self, t: int, gap: float, single: bool, *, interrupt: bool = False, prompt: str = ""
    ) -> int:
        """A user prompt at `t` (after an idle `gap` ms) and the steps it triggers; returns the
        time of the request's last output."""
        s, rng, f = self.s, self.rng, self.file
        s.new_request()
        fresh = s.fresh(True, self.ctx.size)
        prompt = prompt or user_text(rng, s.chars(fresh))
        prompt_id = uuid4_like(rng)
        main = not f.sidechain
        if main:
            snap_id = uuid4_like(rng)
            f.meta(
                {
                    "type": "file-history-snapshot",
                    "messageId": snap_id,
                    "snapshot": {
                        "messageId": snap_id,
                        "trackedFileBackups": {},
                        "timestamp": iso(t),
                    },
                    "isSnapshotUpdate": False,
                }
            )
        head = {
            "promptId": prompt_id,
            "type": "user",
            "message": {"role": "user", "content": prompt},
        }
        f.conv(t, head, {"permissionMode": "default"})
        if main and s.feature("attachment"):
            f.conv(
                t,
                {
                    "attachment": {"type": "task_reminder", "content": [], "itemCount": 0},
                    "type": "attachment",
                },
            )
        n_loop = s.tool_steps(single)
        if self.force_agent:
            n_loop = max(n_loop, 1)
        start = t
        for user, n_tools, final in s.request_steps(n_loop, single, interrupt):
            t, calls = self._step(t, user, gap, fresh, n_tools)
            if final:
                break
            t, gap, fresh = self._results(t, calls, prompt_id)
        if interrupt:
            return t
        if main:
            end = t + 50 + int(rng.random() * 350)
            if s.feature("stop_hook"):
                f.conv(
                    end,
                    {
                        "type": "system",
                        "subtype": "stop_hook_summary",
                        "hookCount": 1,
                        "hookInfos": [
                            {
                                "command": "<hook command>",
                                "durationMs": 40 + int(rng.random() * 360),
                            }
                        ],
                        "hookErrors": [],
                        "preventedContinuation": False,
                        "stopReason": "",
                        "hasOutput": False,
                        "level": "suggestion",
                    },
                    {"toolUseID": uuid4_like(rng)},
                )
            f.conv(
                end + 2,
                {
                    "type": "system",
                    "subtype": "turn_duration",
                    "durationMs": end - start,
                    "messageCount": 2 * n_loop + 3,
                },
                {"isMeta": False},
            )
            self._trailer(prompt)
        return t

    def _trailer(self, prompt: str) -> None:
        f = self.file
        sid = f.session_id
        f.meta(
            {
                "type": "last-prompt",
                "lastPrompt": prompt[:200],
                "leafUuid": f.parent,
                "sessionId": sid,
            }
        )
        if self.trailer is None:  # the same three records after every request
            self.trailer = (
                _dumps({"type": "ai-title", "aiTitle": self.title, "sessionId": sid}),
                _dumps({"type": "mode", "mode": "normal", "sessionId": sid}),
                _dumps({"type": "permission-mode", "permissionMode": "default", "sessionId": sid}),
            )
        f.lines.extend(self.trailer)

    # --- one step (API call) ----------------------------------------------------------------

    def _step(
        self, t: int, user: bool, gap: float, fresh: int, n_tools: int
    ) -> tuple[int, list[_Call]]:
        """One API response written as one line per content block; returns (end, tool calls)."""
        s, rng, f = self.s, self.rng, self.file
        r, features = s.r, s.features  # `s.feature(name)` is `r() < features[name]`
        bits = rng.getrandbits  # `hex_id(rng, d)` is the hex of `bits(4 * d)`, d even
        prefix, append, compacted = self.ctx.step(user, gap, fresh)
        if compacted:
            f.conv(
                t,
                {
                    "type": "system",
                    "subtype": "compact_boundary",
                    "content": "Conversation compacted",
                    "compactMetadata": {"trigger": "auto", "preTokens": self.ctx.limit},
                },
            )
        out = s.output(n_tools == 0, user)
        self.ctx.prev_o = out  # `ctx.output(out)`; (below) `s.generation`, inlined
        uncached = min(append, 1 + int(r() * 6))
        create = append - uncached

        blocks: list[dict[str, Any]] = []
        if r() < features["thinking"]:
            thought = filler(rng, s.chars(out) // 4) if r() < 0.5 else ""
            signature = "SigV1_" + bits(128).to_bytes(16, "big").hex()
            blocks.append({"type": "thinking", "thinking": thought, "signature": signature})
        if n_tools == 0 or r() < features["text_with_tools"]:
            blocks.append({"type": "text", "text": filler(rng, s.chars(out))})
        exclude = self.exclude
        for _ in range(n_tools):
            if self.force_agent:
                self.force_agent = False
                name = "Agent"
            else:
                name = s.tool(exclude).name
            if name in _NO_SUBAGENT:
                tin: dict[str, Any] = {
                    "description": filler(rng, 30),
                    "prompt": user_text(rng, 400),
                    "subagent_type": pick(rng, ("general-purpose", "Explore")),
                }
            else:
                tin = tool_input(rng, name, self.cwd)
            blocks.append(
                {
                    "type": "tool_use",
                    "id": "toolu_01" + bits(80).to_bytes(10, "big").hex(),
                    "name": name,
                    "input": tin,
                    "caller": {"type": "direct"},
                }
            )

        msg_id = "msg_01" + bits(88).to_bytes(11, "big").hex()
        growing = len(blocks) > 1 and r() < features["growing_usage"]
        full = _USAGE_JSON % (uncached, create, prefix, out, create)
        ttft = round(s._ttft(r()))
        if ttft < 1:
            ttft = 1
        gen = ttft + round(out * s._ms_per_token(r()))
        n = len(blocks)
        calls: list[_Call] = []
        # The message's members around its one content block, serialized once per response.
        opening = self.opening + msg_id.encode() + _OPENING_REST
        closing = _STOP_TOOL_USE if n_tools else _STOP_END_TURN
        for k, block in enumerate(blocks):
            if growing and k < n - 1:
                partial = _usage_json(uncached, create, prefix, max(1, out * (k + 1) // n))
                head = (opening, _dumps(block), _STOP_NULL, partial, b'},"type":"assistant"')
            else:
                head = (opening, _dumps(block), closing, full, b'},"type":"assistant"')
            # A block's line is written once it is complete: the last one ends the response.
            ms = t + ttft + (gen - ttft) * (k + 1) // n
            uid = f.conv_parts(ms, head)
            if block["type"] == "tool_use":
                calls.append((block["id"], block["name"], block["input"], ms, uid))
        f.steps += 1
        f.tool_calls += n_tools
        f.intended.append((prefix, append, out, n_tools))
        return t + gen, calls

    # --- tool results -----------------------------------------------------------------------

    def _results(self, t: int, calls: list[_Call], prompt_id: str) -> tuple[int, int, int]:
        """Tool results in completion order; returns (time all are back, the longest tool
        latency, the fresh tokens they bring)."""
        s, rng, f = self.s, self.rng, self.file
        fresh, chars = s.tool_results(self.ctx.size, len(calls))
        done: list[tuple[int, int, _Call, Any, Any, Any]] = []
        longest = 0
        r, by_name = s.r, s.by_name
        for n, call in enumerate(calls):
            name, emitted = call[1], call[3]
            if name in _NO_SUBAGENT:
                end, content, tur = self._subagent(call, t)
                longest = max(longest, end - emitted)
                done.append((end, n, call, content, tur, ABSENT))
                continue
            tool = by_name.get(name) or s.tool_named(name)
            latency = s.latency_ms(tool)
            content, tur, is_error = tool_result(
                rng, name, call[2], latency, chars, r() < tool.error_rate
            )
            wall = latency + s.overhead_ms() if name in REPORTS_DURATION else latency
            if latency > longest:
                longest = latency
            done.append((emitted + wall, n, call, content, tur, is_error))
        if len(done) > 1:
            done.sort()  # by end time, then call order (both leading, and n is unique)
        prompt_head = (
            f'"promptId":"{prompt_id}","type":"user","message":{{"role":"user","content":['
        ).encode()
        for ms, _, call, content, tur, is_error in done:
            block: dict[str, Any] = {
                "tool_use_id": call[0],
                "type": "tool_result",
                "content": content,
            }
            if is_error is not ABSENT:
                block["is_error"] = is_error
            # {promptId, type, message: {role, content: [block]}} and {toolUseResult,
            # sourceToolAssistantUUID}, serialized around the two objects that vary.
            extra = (
                b',"toolUseResult":',
                _dumps(tur),
                b',"sourceToolAssistantUUID":"',
                call[4].encode(),
                b'"',
            )
            f.conv_parts(ms, (prompt_head, _dumps(block), b"]}"), extra)
            t = max(t, ms)
        if not f.sidechain and s.feature("snapshot_update"):
            f.meta(
                {
                    "type": "file-history-snapshot",
                    "messageId": f.parent,
                    "snapshot": {
                        "messageId": f.parent,
                        "trackedFileBackups": {},
                        "timestamp": iso(t),
                    },
                    "isSnapshotUpdate": True,
                }
            )
        return t, longest, fresh

    def _subagent(self, call: _Call, t: int) -> tuple[int, Any, Any]:
        """Run an Agent call as its own session file; returns (result time, content, result)."""
        s, rng = self.s, self.rng
        agent_id = "a" + hex_id(rng, 16)
        sub_file = _File(rng, self.file.session_id, self.cwd, self.file.tail["version"], agent_id)
        sub = _Session(s, self.out, sub_file, self.cwd, self.rel_dir, s.model(), self.depth + 1)
        request_z = s.request_z  # the subagent's request has its own latency factor
        end = sub.request(call[3] + 50 + int(rng.random() * 350), 0, True, prompt=call[2]["prompt"])
        s.request_z = request_z
        rel = f"{self.rel_dir}/{self.file.session_id}/subagents/agent-{agent_id}.jsonl"
        self.out.files.append((rel, sub_file.data()))
        key = f"claude:{self.file.session_id}/subagents/agent-{agent_id}"
        self.out.intended[key] = sub_file.intended
        self.out.sessions += 1
        self.out.steps += sub_file.steps
        self.out.tool_calls += sub_file.tool_calls
        text = filler(rng, lognormal(rng, 1200, 0.8, 50, 4000))
        end += 10 + int(rng.random() * 70)
        tur = {
            "status": "completed",
            "prompt": call[2]["prompt"],
            "agentId": agent_id,
            "content": [{"type": "text", "text": text}],
            "totalDurationMs": end - call[3],
            "totalTokens": sub.ctx.size,
            "totalToolUseCount": sub_file.tool_calls,
        }
        return end, [{"type": "text", "text": text}], tur

    # --- extras -----------------------------------------------------------------------------

    def synthetic_message(self, t: int) -> None:
        """A `<synthetic>` assistant message (CLI-made, not an API call: never a step)."""
        rng, f = self.rng, self.file
        head = {
            "promptId": uuid4_like(rng),
            "type": "user",
            "message": {"role": "user", "content": "[synthetic] [Request interrupted by user]"},
        }
        f.conv(t, head, {"permissionMode": "default"})
        by_id = rng.random() < 0.5
        message = {
            "model": self.model if by_id else "<synthetic>",
            "id": "<synthetic>" if by_id else uuid4_like(rng),
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "No response requested."}],
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "stop_details": None,
            "usage": _usage(0, 0, 0, 0),
        }
        f.conv(t + 1, {"message": message, "type": "assistant"})


def write_session(
    rng: random.Random,
    start_ms: int,
    project: str,
    profile: ProviderProfile,
    force: frozenset[str] = frozenset(),
    strata: Strata | None = None,
    text_cap: int = TEXT_CAP,
) -> SessionOutput:
    """One Claude Code session (and its subagents / backup copy) starting at `start_ms`.

    `strata` are the session's stratified uniforms (`workload.strata`). `force` guarantees
    rare features so small homes still contain every trap: "subagent",
    "synthetic", "interrupt", "backup". `text_cap`: see `workload.TEXT_CAP`.
    """
    s = Sampler(profile, rng, strata, text_cap)
    cwd = project_path(project)
    pdir = project_dir(cwd)
    rel_dir = f".claude/projects/{pdir}"
    session_id = uuid4_like(rng)
    version = pick(rng, VERSIONS)
    out = SessionOutput(sessions=1)
    file = _File(rng, session_id, cwd, version, None)
    file.meta({"type": "mode", "mode": "normal", "sessionId": session_id})
    file.meta({"type": "permission-mode", "permissionMode": "default", "sessionId": session_id})
    session = _Session(s, out, file, cwd, rel_dir, s.model(), 0)
    session.force_agent = "subagent" in force

    n_requests = s.requests()
    interrupt = s.feature("interrupt") or "interrupt" in force
    synthetic_at = int(rng.random() * n_requests) if s.feature("synthetic") else -1
    if "synthetic" in force:
        synthetic_at, interrupt = 0, "interrupt" in force
        n_requests = max(n_requests, 2)
    t, gap = start_ms, 0
    for r in range(n_requests):
        last = r == n_requests - 1
        if r:
            gap = s.human_wait_ms()
            if r - 1 == synthetic_at:
                # The user stops a response and types the next prompt later.
                session.synthetic_message(t + min(gap // 2, 1_000 + int(rng.random() * 4_000)))
            t += gap
        t = session.request(t, gap, n_requests == 1, interrupt=last and interrupt)
    if interrupt:
        file.meta(
            {
                "type": "last-prompt",
                "lastPrompt": "[synthetic]",
                "leafUuid": file.parent,
                "sessionId": session_id,
            }
        )

    data = file.data()
    out.files.append((f"{rel_dir}/{session_id}.jsonl", data))
    out.intended[f"claude:{session_id}"] = file.intended
    if s.feature("backup") or "backup" in force:
        # Same bytes under the backup store: same session key and message ids → pure duplicates.
        out.files.append((f".claude.back/projects/{pdir}/{session_id}.jsonl", data))
    out.steps += file.steps
    out.tool_calls += file.tool_calls
    out.end_ms = t
    return out
