"""Hand-built raw agent logs for robustness tests (Claude Code and Codex CLI, real layouts).

Records follow the shapes of the real fixtures (spec §1): Claude writes one `assistant` line per
content block, each repeating the message's `usage`; tool results come back as `user` records.
Codex writes `{timestamp, type, payload}` lines; a step is a `token_count` whose cumulative
`total_token_usage` changed. Everything here is plain data so tests can corrupt it byte by byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tracelab.collect import CollectReport, collect
from tracelab.schema import Row
from tracelab.sources.discover import home_for

CLAUDE_SESSION = "5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLAUDE_PROJECT = "-work-proj"
CODEX_SESSION = "01a7c9e4-0000-7000-8000-000000000001"
MODEL_C = "claude-test-1"
MODEL_X = "gpt-test-1"

Line = dict | bytes  # a record, or raw bytes written as they are (garbage, truncated lines)


def ts(second: int) -> str:
    """An ISO timestamp `second` seconds into 2026-01-02 10:00 UTC (milliseconds, `Z`)."""
    minutes, sec = divmod(second, 60)
    return f"2026-01-02T10:{minutes:02d}:{sec:02d}.000Z"


def encode(lines: Iterable[Line]) -> bytes:
    """JSONL bytes: dicts compactly encoded, raw bytes as they are, one per line."""
    return b"".join((orjson.dumps(x) if isinstance(x, dict) else x) + b"\n" for x in lines)


def write(path: Path, lines: Iterable[Line] | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lines if isinstance(lines, bytes) else encode(lines))
    return path


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def bump_mtime(path: Path, seconds: int = 10) -> None:
    """Move mtime forward, as a later write would (coarse fs clocks can repeat a stamp)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


# --- layouts ----------------------------------------------------------------------------


def claude_path(
    home: Path,
    session: str = CLAUDE_SESSION,
    project: str = CLAUDE_PROJECT,
    store: str = ".claude",
) -> Path:
    return home / store / "projects" / project / f"{session}.jsonl"


def codex_path(home: Path, session: str = CODEX_SESSION, stamp: str = "10-00-00") -> Path:
    name = f"rollout-2026-01-02T{stamp}-{session}.jsonl"
    return home / ".codex" / "sessions" / "2026" / "01" / "02" / name


# --- Claude Code records ----------------------------------------------------------------


def usage_c(inp: int, create: int, read: int, out: int) -> dict:
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": create,
        "cache_read_input_tokens": read,
        "output_tokens": out,
    }


def _c_base(kind: str, second: int, session: str) -> dict:
    return {
        "parentUuid": None,
        "isSidechain": False,
        "type": kind,
        "uuid": f"u-{kind}-{second}",
        "timestamp": ts(second),
        "sessionId": session,
        "cwd": "/work/proj",
        "version": "2.1.0",
    }


def c_user(text: str, second: int = 0, session: str = CLAUDE_SESSION) -> dict:
    return {**_c_base("user", second, session), "message": {"role": "user", "content": text}}


def c_assistant(
    msg_id: str,
    block: dict,
    usage: dict | None,
    second: int = 1,
    *,
    stop_reason: str | None = None,
    model: str = MODEL_C,
    session: str = CLAUDE_SESSION,
    drop_usage: bool = False,
) -> dict:
    message: dict[str, Any] = {
        "model": model,
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "content": [block],
        "stop_reason": stop_reason,
    }
    if not drop_usage:
        message["usage"] = usage
    return {**_c_base("assistant", second, session), "message": message}


def c_text(text: str) -> dict:
    return {"type": "text", "text": text}


def c_thinking(text: str) -> dict:
    return {"type": "thinking", "thinking": text, "signature": "sig"}


def c_tool_use(call_id: str, name: str = "Bash", inp: Any = None) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": inp or {"command": "ls"}}


def c_tool_result(
    call_id: str,
    content: Any = "ok",
    second: int = 2,
    *,
    is_error: bool = False,
    duration_ms: Any = None,
    session: str = CLAUDE_SESSION,
) -> dict:
    record = {
        **_c_base("user", second, session),
        "message": {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": content,
                    "is_error": is_error,
                }
            ],
        },
    }
    if duration_ms is not None:
        record["toolUseResult"] = {"durationMs": duration_ms}
    return record


def c_bookkeeping(kind: str = "file-history-snapshot", session: str = CLAUDE_SESSION) -> dict:
    return {"type": kind, "sessionId": session, "snapshot": {"trackedFileBackups": {}}}


def claude_step(
    msg_id: str,
    usage: dict | None,
    second: int = 1,
    *,
    text: str | None = "done",
    thinking: str | None = None,
    tools: Iterable[str] = (),
    session: str = CLAUDE_SESSION,
) -> list[dict]:
    """One API response: one assistant line per block, each repeating `usage`; the last line
    carries the stop reason (as Claude Code writes them)."""
    blocks = []
    if thinking is not None:
        blocks.append(c_thinking(thinking))
    if text is not None:
        blocks.append(c_text(text))
    blocks.extend(c_tool_use(cid) for cid in tools)
    stop = "tool_use" if tools else "end_turn"
    return [
        c_assistant(
            msg_id,
            block,
            usage,
            second,
            stop_reason=stop if i == len(blocks) - 1 else None,
            session=session,
        )
        for i, block in enumerate(blocks)
    ]


def claude_session(
    n_steps: int, *, first: int = 1, tools: bool = True, session: str = CLAUDE_SESSION
) -> list[dict]:
    """A plain session: user prompt, then `n_steps` responses; every response but the last
    calls one tool whose result comes back before the next response. Message ids are
    `msg_<k>` (k from `first`), usage of step k is usage_c(k, 10k, 100k, 1000+k)."""
    lines: list[dict] = [c_bookkeeping("permission-mode", session), c_user("hi", 0, session)]
    for k in range(first, first + n_steps):
        sec = 10 * k
        call = [f"toolu_{k}"] if tools and k < first + n_steps - 1 else []
        lines += claude_step(
            f"msg_{k}", usage_c(k, 10 * k, 100 * k, 1000 + k), sec, tools=call, session=session
        )
        if call:
            lines.append(c_tool_result(call[0], f"out {k}", sec + 3, session=session))
    return lines


# --- Codex CLI records ------------------------------------------------------------------


def _x(kind: str, payload: dict, second: int) -> dict:
    return {"timestamp": ts(second), "type": kind, "payload": payload}


def x_meta(session: str = CODEX_SESSION, parent: str | None = None, second: int = 0) -> dict:
    source: Any = "cli"
    if parent is not None:
        source = {"subagent": {"thread_spawn": {"parent_thread_id": parent, "depth": 1}}}
    return _x(
        "session_meta",
        {"id": session, "cwd": "/work/proj", "source": source, "cli_version": "0.114.0"},
        second,
    )


def x_turn(turn_id: str, second: int = 0, model: str = MODEL_X) -> dict:
    return _x("turn_context", {"turn_id": turn_id, "cwd": "/work/proj", "model": model}, second)


def x_task_started(turn_id: str, second: int = 0) -> dict:
    return _x("event_msg", {"type": "task_started", "turn_id": turn_id}, second)


def x_user(text: str, second: int = 0) -> dict:
    return _x("event_msg", {"type": "user_message", "message": text}, second)


def x_reasoning(second: int = 0) -> dict:
    return _x("response_item", {"type": "reasoning", "summary": [], "content": None}, second)


def x_agent_message(text: str, second: int = 0) -> dict:
    return _x("event_msg", {"type": "agent_message", "message": text}, second)


def x_message(text: str, second: int = 0) -> dict:
    content = [{"type": "output_text", "text": text}]
    return _x("response_item", {"type": "message", "role": "assistant", "content": content}, second)


def x_call(call_id: str, second: int = 0, name: str = "exec_command") -> dict:
    payload = {"type": "function_call", "name": name, "arguments": '{"cmd":"ls"}'}
    return _x("response_item", {**payload, "call_id": call_id}, second)


def x_output(call_id: str, output: str = "", second: int = 0) -> dict:
    text = output or "Chunk ID: a\nWall time: 0.5000 seconds\nProcess exited with code 0\nOutput:\n"
    payload = {"type": "function_call_output", "call_id": call_id, "output": text}
    return _x("response_item", payload, second)


def usage_x(inp: int, cached: int, out: int, reasoning: int = 0) -> dict:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def x_tokens(total: dict | None, last: dict | None, second: int = 0) -> dict:
    info = None if total is None else {"total_token_usage": total, "last_token_usage": last}
    return _x("event_msg", {"type": "token_count", "info": info, "rate_limits": None}, second)


class CodexBuilder:
    """Builds a rollout step by step, keeping the cumulative totals consistent."""

    def __init__(self, session: str = CODEX_SESSION, parent: str | None = None) -> None:
        self.lines: list[Line] = [x_meta(session, parent)]
        self.total = usage_x(0, 0, 0)
        self.second = 0

    def turn(self, turn_id: str, prompt: str = "do it") -> CodexBuilder:
        self.second += 1
        self.lines += [
            x_task_started(turn_id, self.second),
            x_turn(turn_id, self.second),
            x_user(prompt, self.second),
        ]
        return self

    def step(self, last: dict, *, calls: Iterable[str] = (), text: str = "") -> CodexBuilder:
        """One model call: reasoning, optional text, tool calls, then its token_count (and an
        echo of it); the calls' outputs follow (inputs of the next step)."""
        self.second += 1
        s = self.second
        self.lines.append(x_reasoning(s))
        if text:
            self.lines += [x_agent_message(text, s), x_message(text, s)]
        calls = list(calls)
        self.lines += [x_call(cid, s) for cid in calls]
        self.total = {k: self.total[k] + last[k] for k in self.total}
        tokens = x_tokens(dict(self.total), dict(last), s)
        self.lines += [tokens, tokens]  # Codex echoes token counts
        self.lines += [x_output(cid, second=s + 1) for cid in calls]
        return self

    def data(self) -> bytes:
        return encode(self.lines)


def codex_usage(k: int) -> dict:
    return usage_x(1000 * k, 900 * k, 10 * k, k)


def codex_session(
    n_steps: int,
    *,
    session: str = CODEX_SESSION,
    turn: str = "01a7c9e4-0001-7000-8000-000000000001",
) -> CodexBuilder:
    """One turn of `n_steps` calls; step k (from 1) has usage codex_usage(k); every step but
    the last calls one tool `call_<k>`."""
    b = CodexBuilder(session).turn(turn)
    for k in range(1, n_steps + 1):
        b.step(codex_usage(k), calls=[f"call_{k}"] if k < n_steps else [], text=f"step {k}")
    return b


# --- running ----------------------------------------------------------------------------


def run(
    home: Path, *, cache: Path | None = None, output: Path | None = None, keep: bool = True
) -> tuple[CollectReport, list[Row]]:
    """collect() over one fake home, sequentially."""
    return collect([home_for(home)], output, cache=cache or False, workers=1, keep_rows=keep)


def tokens_c(row: Row) -> tuple:
    return (
        row["claude_uncached_input_tokens"],
        row["claude_cache_creation_input_tokens"],
        row["claude_cache_read_input_tokens"],
        row["output_tokens"],
    )


def tokens_x(row: Row) -> tuple:
    return (
        row["input_tokens_total"],
        row["prefix_tokens"],
        row["output_tokens"],
        row["reasoning_output_tokens"],
    )


def usage_tuple_c(u: dict) -> tuple:
    return (
        u["input_tokens"],
        u["cache_creation_input_tokens"],
        u["cache_read_input_tokens"],
        u["output_tokens"],
    )


def usage_tuple_x(u: dict) -> tuple:
    return (
        u["input_tokens"],
        u["cached_input_tokens"],
        u["output_tokens"],
        u["reasoning_output_tokens"],
    )
