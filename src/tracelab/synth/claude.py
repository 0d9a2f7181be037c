"""Synthetic Claude Code sessions: `.claude/projects/<project-dir>/<session-uuid>.jsonl`.

Written the way Claude Code writes them, so the real parser is exercised, not a friendly
subset: one API response split over several `assistant` lines sharing `message.id` (sometimes
with growing usage), tool results as later `user` records, bookkeeping records in between,
subagent files under `<session>/subagents/`, `<synthetic>` messages, interrupted tool calls
and, rarely, a `.claude.back` copy of a session. The counts in `SessionOutput` are what a
correct collector must find: one step per real `message.id`, one tool call per `tool_use`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from tracelab.synth.claude_tools import (
    ABSENT,
    LATENCY,
    TOOL_NAMES,
    TOOL_WEIGHTS,
    tool_input,
    tool_result,
)
from tracelab.synth.common import (
    SessionOutput,
    filler,
    hex_id,
    iso,
    project_dir,
    project_path,
    sized,
    user_text,
    uuid4_like,
)

MODELS = ("claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5")
MODEL_WEIGHTS = (5, 4, 1)
SUBAGENT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")
VERSIONS = ("2.1.157", "2.1.142", "2.0.76")
CACHE_TTL_MS = 5 * 60 * 1000
CONTEXT_LIMIT = 170_000

P_SUBAGENT = 0.015  # a tool call of the main session is an Agent call
P_INTERRUPT = 0.12  # the session ends on a tool call whose result never arrives
P_SYNTHETIC = 0.15  # a `<synthetic>` assistant message between two requests
P_BACKUP = 0.05  # a `.claude.back` copy of the session file
P_GROWING = 0.3  # earlier lines of a response carry a smaller, unfinished usage

_dumps = orjson.dumps


class _Tokens:
    """Prompt-cache model: each call reads what the previous one cached and creates the rest."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        system = rng.randint(12_000, 30_000)
        warm = rng.random() < 0.8  # system prompt + tools usually cached from an earlier session
        self.cached = system if warm else 0
        self.pending = 0 if warm else system

    @property
    def size(self) -> int:
        return self.cached + self.pending

    def call(self, append: int, uncached: int, miss: bool) -> tuple[int, int, int]:
        """(input_tokens, cache_creation_input_tokens, cache_read_input_tokens) of one call."""
        if miss:
            read, create = 0, self.cached + self.pending + append
        else:
            read, create = self.cached, self.pending + append
        self.cached = read + create
        self.pending = uncached
        return uncached, create, read

    def add_output(self, out: int) -> None:
        self.pending += out

    def compact(self) -> None:
        self.cached, self.pending = 0, self.rng.randint(15_000, 40_000)


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


@dataclass
class _Call:
    id: str
    name: str
    input: dict[str, Any]
    emitted_ms: int
    record_uuid: str


class _File:
    """Records of one session file (main session or a subagent) and the steps it holds."""

    def __init__(
        self, rng: random.Random, session_id: str, cwd: str, version: str, agent_id: str | None
    ) -> None:
        self.rng = rng
        self.session_id = session_id
        self.lines: list[bytes] = []
        self.parent: str | None = None
        self.sidechain = agent_id is not None
        self.agent = {"agentId": agent_id} if agent_id else {}
        self.tail = {
            "userType": "external",
            "entrypoint": "cli",
            "cwd": cwd,
            "sessionId": session_id,
            "version": version,
            "gitBranch": "main",
        }
        self.steps = 0
        self.tool_calls = 0

    def data(self) -> bytes:
        return b"\n".join(self.lines) + b"\n" if self.lines else b""

    def meta(self, record: dict[str, Any]) -> None:
        """A bookkeeping record (no place in the parentUuid chain)."""
        self.lines.append(_dumps(record))

    def conv(self, ms: int, head: dict[str, Any], tail: dict[str, Any] | None = None) -> str:
        """A conversation record chained to the previous one; returns its uuid."""
        uid = uuid4_like(self.rng)
        record = {"parentUuid": self.parent, "isSidechain": self.sidechain, **self.agent, **head}
        record["uuid"] = uid
        record["timestamp"] = iso(ms)
        if tail:
            record.update(tail)
        record.update(self.tail)
        self.lines.append(_dumps(record))
        self.parent = uid
        return uid


class _Session:
    """Drives requests (prompt → steps ↔ tool results) into one `_File`."""

    def __init__(
        self,
        rng: random.Random,
        out: SessionOutput,
        file: _File,
        cwd: str,
        rel_dir: str,
        model: str,
        depth: int,
    ) -> None:
        self.rng = rng
        self.out = out
        self.file = file
        self.cwd = cwd
        self.rel_dir = rel_dir
        self.model = model
        self.depth = depth
        self.tok = _Tokens(rng)
        self.last_call_ms: int | None = None
        self.title = filler(rng, 40)
        self.force_agent = False  # make the next tool call of this session an Agent call

    # --- one request ------------------------------------------------------------------------

    def request(self, t: int, prompt: str, *, interrupt: bool = False) -> int:
        """A user prompt and the steps it triggers; returns the time the request ended."""
        rng, f = self.rng, self.file
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
        if main and rng.random() < 0.3:
            f.conv(
                t + 1,
                {
                    "attachment": {"type": "task_reminder", "content": [], "itemCount": 0},
                    "type": "attachment",
                },
            )
        append = len(prompt) // 4 + rng.randint(20, 200)
        uncached = append if rng.random() < 0.3 else rng.randint(1, 6)
        n_steps = 1 + min(int(rng.expovariate(0.22)), 40)
        if self.force_agent:
            n_steps = max(n_steps, 2)
        start = t
        for i in range(n_steps):
            final = i == n_steps - 1
            ends = final and not interrupt
            n_tools = 0 if ends else rng.choices((1, 2, 3), (75, 18, 7))[0]
            t, calls = self._step(t, n_tools, append, uncached)
            uncached = rng.randint(1, 6)
            if final:
                break
            t, append = self._results(t, calls, prompt_id)
        if interrupt:
            return t
        if main:
            t += rng.randint(50, 400)
            if rng.random() < 0.5:
                f.conv(
                    t,
                    {
                        "type": "system",
                        "subtype": "stop_hook_summary",
                        "hookCount": 1,
                        "hookInfos": [
                            {"command": "<hook command>", "durationMs": rng.randint(40, 400)}
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
                t + 2,
                {
                    "type": "system",
                    "subtype": "turn_duration",
                    "durationMs": t - start,
                    "messageCount": 2 * n_steps + 1,
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
        f.meta({"type": "ai-title", "aiTitle": self.title, "sessionId": sid})
        f.meta({"type": "mode", "mode": "normal", "sessionId": sid})
        f.meta({"type": "permission-mode", "permissionMode": "default", "sessionId": sid})

    # --- one step (API call) ----------------------------------------------------------------

    def _step(self, t: int, n_tools: int, append: int, uncached: int) -> tuple[int, list[_Call]]:
        """One API response written as one line per content block; returns (end, tool calls)."""
        rng, f = self.rng, self.file
        if self.tok.size > CONTEXT_LIMIT:
            self.tok.compact()
            f.conv(
                t,
                {
                    "type": "system",
                    "subtype": "compact_boundary",
                    "content": "Conversation compacted",
                    "compactMetadata": {"trigger": "auto", "preTokens": CONTEXT_LIMIT},
                },
            )
        gap = t - self.last_call_ms if self.last_call_ms is not None else 0
        miss = (gap > CACHE_TTL_MS and rng.random() < 0.85) or rng.random() < 0.01
        inp, create, read = self.tok.call(append, uncached, miss)
        out = sized(rng, 600 if n_tools == 0 else 220, 1.1, 8, 16_000)
        self.tok.add_output(out)

        blocks: list[dict[str, Any]] = []
        if rng.random() < 0.7:
            thought = filler(rng, sized(rng, 300, 1.2, 0, 8000)) if rng.random() < 0.5 else ""
            blocks.append(
                {"type": "thinking", "thinking": thought, "signature": f"SigV1_{hex_id(rng, 32)}"}
            )
        if n_tools == 0 or rng.random() < 0.55:
            text_chars = min(out * 4, sized(rng, 500 if n_tools else 1500, 1.0, 20, 12_000))
            blocks.append({"type": "text", "text": filler(rng, text_chars)})
        for _ in range(n_tools):
            if self.depth == 0 and (rng.random() < P_SUBAGENT or self.force_agent):
                self.force_agent = False
                name = "Agent"
                tin: dict[str, Any] = {
                    "description": filler(rng, 30),
                    "prompt": user_text(rng, 400),
                    "subagent_type": rng.choice(("general-purpose", "Explore")),
                }
            else:
                name = rng.choices(TOOL_NAMES, TOOL_WEIGHTS)[0]
                tin = tool_input(rng, name, self.cwd)
            tool_id = f"toolu_01{hex_id(rng, 20)}"
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": name,
                    "input": tin,
                    "caller": {"type": "direct"},
                }
            )

        msg_id = f"msg_01{hex_id(rng, 22)}"
        stop = "tool_use" if n_tools else "end_turn"
        growing = len(blocks) > 1 and rng.random() < P_GROWING
        full = _usage(inp, create, read, out)
        ms_per_token = rng.uniform(8.0, 25.0)
        t += sized(rng, 1500, 0.6, 200, 30_000)  # time to first token
        calls: list[_Call] = []
        for k, block in enumerate(blocks):
            last = k == len(blocks) - 1
            if growing and not last:
                usage, stop_k = (
                    _usage(inp, create, read, max(1, out * (k + 1) // len(blocks))),
                    None,
                )
            else:
                usage, stop_k = full, stop
            head = {
                "message": {
                    "model": self.model,
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "content": [block],
                    "stop_reason": stop_k,
                    "stop_sequence": None,
                    "stop_details": None,
                    "usage": usage,
                },
                "type": "assistant",
            }
            # A block's line is written once it is complete: the last one ends the response.
            t += int(out * ms_per_token / len(blocks)) + rng.randint(1, 30)
            uid = f.conv(t, head)
            if block["type"] == "tool_use":
                calls.append(_Call(block["id"], block["name"], block["input"], t, uid))
        self.last_call_ms = t
        f.steps += 1
        f.tool_calls += n_tools
        return t, calls

    # --- tool results -----------------------------------------------------------------------

    def _results(self, t: int, calls: list[_Call], prompt_id: str) -> tuple[int, int]:
        """Tool results in completion order; returns (time all are back, tokens they add)."""
        rng, f = self.rng, self.file
        done: list[tuple[int, int, _Call, Any, Any, Any]] = []
        for n, call in enumerate(calls):
            if call.name == "Agent":
                end, content, tur = self._subagent(call, t)
                done.append((end, n, call, content, tur, ABSENT))
                continue
            median, sigma = LATENCY[call.name]
            latency = sized(rng, median, sigma, 1, 600_000)
            content, tur, is_error = tool_result(rng, call.name, call.input, latency)
            done.append((t + latency, n, call, content, tur, is_error))
        done.sort(key=lambda d: (d[0], d[1]))
        chars = 0
        for ms, _, call, content, tur, is_error in done:
            block: dict[str, Any] = {
                "tool_use_id": call.id,
                "type": "tool_result",
                "content": content,
            }
            if is_error is not ABSENT:
                block["is_error"] = is_error
            head = {
                "promptId": prompt_id,
                "type": "user",
                "message": {"role": "user", "content": [block]},
            }
            f.conv(ms, head, {"toolUseResult": tur, "sourceToolAssistantUUID": call.record_uuid})
            chars += len(content) if isinstance(content, str) else len(content[0]["text"])
            t = max(t, ms)
        if f.lines and not f.sidechain and rng.random() < 0.1:
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
        return t + rng.randint(5, 60), chars // 4 + rng.randint(30, 300)

    def _subagent(self, call: _Call, t: int) -> tuple[int, Any, Any]:
        """Run an Agent call as its own session file; returns (result time, content, result)."""
        rng = self.rng
        agent_id = "a" + hex_id(rng, 16)
        sub_file = _File(rng, self.file.session_id, self.cwd, self.file.tail["version"], agent_id)
        sub = _Session(
            rng,
            self.out,
            sub_file,
            self.cwd,
            self.rel_dir,
            rng.choice(SUBAGENT_MODELS),
            self.depth + 1,
        )
        end = sub.request(t + rng.randint(50, 400), call.input["prompt"])
        rel = f"{self.rel_dir}/{self.file.session_id}/subagents/agent-{agent_id}.jsonl"
        self.out.files.append((rel, sub_file.data()))
        self.out.sessions += 1
        self.out.steps += sub_file.steps
        self.out.tool_calls += sub_file.tool_calls
        text = filler(rng, sized(rng, 1200, 0.8, 50, 8000))
        tur = {
            "status": "completed",
            "prompt": call.input["prompt"],
            "agentId": agent_id,
            "content": [{"type": "text", "text": text}],
            "totalDurationMs": end - call.emitted_ms,
            "totalTokens": sub.tok.size,
            "totalToolUseCount": sub_file.tool_calls,
        }
        return end + rng.randint(10, 80), [{"type": "text", "text": text}], tur

    # --- extras -----------------------------------------------------------------------------

    def synthetic_message(self, t: int) -> int:
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
        f.conv(t + rng.randint(1, 20), {"message": message, "type": "assistant"})
        return t + 50


def write_session(
    rng: random.Random, start_ms: int, project: str, force: frozenset[str] = frozenset()
) -> SessionOutput:
    """One Claude Code session (and its subagents / backup copy) starting at `start_ms`.

    `force` guarantees rare features so small homes still contain every trap: "subagent",
    "synthetic", "interrupt", "backup".
    """
    cwd = project_path(project)
    pdir = project_dir(cwd)
    rel_dir = f".claude/projects/{pdir}"
    session_id = uuid4_like(rng)
    version = rng.choice(VERSIONS)
    model = rng.choices(MODELS, MODEL_WEIGHTS)[0]
    out = SessionOutput(sessions=1)
    file = _File(rng, session_id, cwd, version, None)
    file.meta({"type": "mode", "mode": "normal", "sessionId": session_id})
    file.meta({"type": "permission-mode", "permissionMode": "default", "sessionId": session_id})
    session = _Session(rng, out, file, cwd, rel_dir, model, 0)
    session.force_agent = "subagent" in force

    n_requests = 1 + min(int(rng.expovariate(0.45)), 12)
    interrupt = rng.random() < P_INTERRUPT or "interrupt" in force
    synthetic_at = rng.randrange(n_requests) if rng.random() < P_SYNTHETIC else -1
    if "synthetic" in force:
        synthetic_at, interrupt = 0, "interrupt" in force
    t = start_ms
    for r in range(n_requests):
        last = r == n_requests - 1
        t = session.request(t, user_text(rng), interrupt=last and interrupt)
        if r == synthetic_at and not (last and interrupt):
            t = session.synthetic_message(t + rng.randint(1_000, 30_000))
        t += sized(rng, 60_000, 2.0, 2_000, 6 * 3600_000)  # human gap: seconds to hours
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
    if rng.random() < P_BACKUP or "backup" in force:
        # Same bytes under the backup store: same session key and message ids → pure duplicates.
        out.files.append((f".claude.back/projects/{pdir}/{session_id}.jsonl", data))
    out.steps += file.steps
    out.tool_calls += file.tool_calls
    out.end_ms = t
    return out
