"""Synthetic Codex CLI sessions: `.codex/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`.

Lines are `{timestamp, type, payload}` as Codex writes them. A step is one `token_count` whose
cumulative total changed, so the writer adds the traps a parser must survive: `info: null`
counts, echoed counts (same total repeated), outputs arriving after the count, and subagent
files that replay part of the parent's history before their own turns (replayed turn ids sort
before the child id, so those steps belong to — and dedup against — the parent).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from tracelab.synth.common import (
    B64_CORPUS,
    SessionOutput,
    alnum_id,
    filler,
    hex_id,
    iso,
    project_path,
    sized,
    user_text,
    uuid7_like,
)

MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.3-codex")
MODEL_WEIGHTS = (4, 4, 2)
CLI_VERSIONS = ("0.114.0", "0.118.0", "0.121.0")
CONTEXT_WINDOW = 258_400
CONTEXT_LIMIT = 200_000
CACHE_TTL_MS = 10 * 60 * 1000

P_SUBAGENT_SESSION = 0.25  # the session may spawn one subagent …
P_SUBAGENT_STEP = 0.08  # … from this tool step
P_INTERRUPT = 0.12
P_ECHO = 0.12
P_NULL_INFO = 0.3
P_EXEC_END = 0.3

_COMMANDS = (
    "rg -n 'TODO' src",
    "ls -la",
    "git status --short",
    "uv run pytest -q",
    "sed -n '1,120p' src/main.py",
    "cargo test --quiet",
    "npm run lint",
    "git diff --stat",
)
_dumps = orjson.dumps


def _dump_str(value: Any) -> str:
    return orjson.dumps(value).decode()


class _Tokens:
    """Cumulative and per-call usage; the cache serves the previous input, rounded to 128."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.system = rng.randint(7_000, 14_000)
        self.ctx = self.system
        self.prev_input = 0
        self.total = {
            "input_tokens": 0,
            "cached_input_tokens": 0,
            "output_tokens": 0,
            "reasoning_output_tokens": 0,
            "total_tokens": 0,
        }

    def call(self, append: int, miss: bool) -> tuple[dict[str, int], dict[str, int]]:
        rng = self.rng
        if self.ctx > CONTEXT_LIMIT:  # auto-compaction
            self.ctx, self.prev_input, miss = rng.randint(20_000, 40_000), 0, True
        inp = self.ctx + append
        if self.prev_input == 0:
            cached = (self.system * 3 // 4) // 128 * 128
        elif miss:
            cached = rng.randint(0, self.system) // 128 * 128
        elif rng.random() < 0.05:
            cached = rng.randint(0, self.prev_input) // 128 * 128  # partial cache miss
        else:
            cached = self.prev_input // 128 * 128
        out = sized(rng, 250, 1.1, 5, 16_000)
        reasoning = int(out * rng.uniform(0.0, 0.7))
        last = {
            "input_tokens": inp,
            "cached_input_tokens": cached,
            "output_tokens": out,
            "reasoning_output_tokens": reasoning,
            "total_tokens": inp + out,
        }
        for key, value in last.items():
            self.total[key] += value
        self.prev_input = inp
        self.ctx = inp + out
        return dict(self.total), last


class _Session:
    """One rollout file: header, turns of steps, tool outputs after each step's count."""

    def __init__(
        self,
        rng: random.Random,
        out: SessionOutput,
        cwd: str,
        start_ms: int,
        parent: _Session | None = None,
    ) -> None:
        self.rng = rng
        self.out = out
        self.cwd = cwd
        self.start_ms = start_ms
        self.id = uuid7_like(rng, start_ms)
        self.parent = parent
        self.model = rng.choices(MODELS, MODEL_WEIGHTS)[0]
        self.version = parent.version if parent else rng.choice(CLI_VERSIONS)
        self.lines: list[bytes] = []
        self.turn_starts: list[int] = []
        self.tok = _Tokens(rng)
        self.last_total: dict[str, int] | None = None
        self.last_call_ms: int | None = None
        self.running: int | None = None  # exec session id still running (write_stdin target)
        self.may_spawn = parent is None and rng.random() < P_SUBAGENT_SESSION
        self.force_spawn = False  # spawn from the first tool call (set by write_session)
        self.force_echo = False  # echo the next token_count
        self.steps = 0
        self.tool_calls = 0
        self.turn_id = ""
        self.spawned_id = ""

    def line(self, ms: int, kind: str, payload: dict[str, Any]) -> None:
        self.lines.append(_dumps({"timestamp": iso(ms), "type": kind, "payload": payload}))

    def data(self) -> bytes:
        return b"\n".join(self.lines) + b"\n"

    def rel_path(self) -> str:
        stamp = iso(self.start_ms)
        day = stamp[:10].replace("-", "/")
        name = stamp[:19].replace(":", "-")
        return f".codex/sessions/{day}/rollout-{name}-{self.id}.jsonl"

    # --- header -----------------------------------------------------------------------------

    def header(self) -> int:
        rng = self.rng
        t = self.start_ms
        if self.parent is None:
            source: Any = "cli"
        else:
            source = {"subagent": {"thread_spawn": {"parent_thread_id": self.parent.id}}}
        meta = {
            "id": self.id,
            "timestamp": iso(t),
            "cwd": self.cwd,
            "originator": "codex_cli_rs",
            "cli_version": self.version,
            "source": source,
            "model_provider": "openai",
            "base_instructions": {"text": filler(rng, sized(rng, 6000, 0.3, 2000, 12_000))},
            "git": {
                "commit_hash": hex_id(rng, 40),
                "branch": "main",
                "repository_url": "https://example.invalid/synthetic/project.git",
            },
        }
        t += rng.randint(200, 20_000)
        self.line(t, "session_meta", meta)
        return t

    def preamble(self, t: int) -> None:
        rng = self.rng
        self.line(
            t,
            "response_item",
            _message("developer", "<permissions instructions>\n" + filler(rng, 1500)),
        )
        env = (
            f"<environment_context>\n  <cwd>{self.cwd}</cwd>\n  <shell>bash</shell>\n"
            f"  <current_date>{iso(t)[:10]}</current_date>\n  <timezone>Etc/UTC</timezone>\n"
            "</environment_context>"
        )
        agents = f"# AGENTS.md instructions for {self.cwd}\n\n<INSTRUCTIONS>\n{filler(rng, 2500)}"
        self.line(t, "response_item", _message("user", agents, env))

    # --- turns ------------------------------------------------------------------------------

    def turn(self, t: int, prompt: str, *, first: bool, interrupt: bool = False) -> int:
        """One user turn: its steps, tool outputs, and task_complete; returns the end time."""
        rng = self.rng
        self.turn_id = uuid7_like(rng, t)
        self.turn_starts.append(len(self.lines))
        started = {
            "type": "task_started",
            "turn_id": self.turn_id,
            "model_context_window": CONTEXT_WINDOW,
            "collaboration_mode_kind": "default",
        }
        self.line(t, "event_msg", started)
        if first:
            self.line(
                t,
                "response_item",
                _message(
                    "developer",
                    "<collaboration_mode># Collaboration Mode: Default\n" + filler(rng, 400),
                ),
            )
        self.line(t, "turn_context", self._turn_context(t))
        t += rng.randint(1, 5)
        self.line(t, "response_item", _message("user", prompt))
        self.line(
            t + 1,
            "event_msg",
            {
                "type": "user_message",
                "message": prompt,
                "images": [],
                "local_images": [],
                "text_elements": [],
            },
        )
        if rng.random() < P_NULL_INFO:
            self.line(
                t + 2,
                "event_msg",
                {"type": "token_count", "info": None, "rate_limits": _rate_limits(rng)},
            )
        append = len(prompt) // 4 + rng.randint(20, 200)
        n_steps = 1 + min(int(rng.expovariate(0.22)), 40)
        if self.force_spawn:
            n_steps = max(n_steps, 2)
        message = ""
        for i in range(n_steps):
            final = i == n_steps - 1
            n_tools = 0 if final and not interrupt else rng.choices((1, 2, 3), (70, 20, 10))[0]
            t, calls, message = self._step(t, n_tools, append)
            if final and interrupt:
                if calls and rng.random() < 0.5:  # a still-running command, then the user aborts
                    call_id = calls[0][0]
                    status = f"Process running with session ID {rng.randint(1000, 99_999)}"
                    out = _exec_output(rng, 1.0014, status, "")
                    self.line(
                        t + 1010,
                        "response_item",
                        {"type": "function_call_output", "call_id": call_id, "output": out},
                    )
                    t += 1010
                self.line(
                    t + rng.randint(500, 60_000),
                    "event_msg",
                    {"type": "turn_aborted", "turn_id": self.turn_id, "reason": "interrupted"},
                )
                return t
            if final:
                break
            t, append = self._outputs(t, calls)
        t += rng.randint(1, 10)
        self.line(
            t,
            "event_msg",
            {"type": "task_complete", "turn_id": self.turn_id, "last_agent_message": message},
        )
        return t

    def _turn_context(self, t: int) -> dict[str, Any]:
        effort = "high"
        return {
            "turn_id": self.turn_id,
            "cwd": self.cwd,
            "current_date": iso(t)[:10],
            "timezone": "Etc/UTC",
            "approval_policy": "on-request",
            "sandbox_policy": {
                "type": "workspace-write",
                "writable_roots": ["/home/synthetic/.codex/memories"],
                "network_access": False,
                "exclude_tmpdir_env_var": False,
                "exclude_slash_tmp": False,
            },
            "model": self.model,
            "personality": "pragmatic",
            "collaboration_mode": {
                "mode": "default",
                "settings": {
                    "model": self.model,
                    "reasoning_effort": effort,
                    "developer_instructions": "# Collaboration Mode: Default\n"
                    + filler(self.rng, 300),
                },
            },
            "realtime_active": False,
            "effort": effort,
            "summary": "none",
            "user_instructions": "## Skills\n" + filler(self.rng, 400),
            "truncation_policy": {"mode": "tokens", "limit": 10000},
        }

    # --- one step ---------------------------------------------------------------------------

    def _step(
        self, t: int, n_tools: int, append: int
    ) -> tuple[int, list[tuple[str, str, str, int]], str]:
        """Outputs of one model call then its token_count; returns (end, calls, text)."""
        rng = self.rng
        gap = t - self.last_call_ms if self.last_call_ms is not None else 0
        miss = gap > CACHE_TTL_MS and rng.random() < 0.8
        total, last = self.tok.call(append, miss)
        if total == self.last_total:  # never let a real call look like an echo
            total["output_tokens"] += 1
            total["total_tokens"] += 1
            self.tok.total = dict(total)
        out = last["output_tokens"]
        ms_per_token = rng.uniform(6.0, 20.0)
        t += sized(rng, 1800, 0.6, 200, 40_000)
        if rng.random() < 0.85:
            enc = "gAAAAAB" + filler(
                rng, min(60 + last["reasoning_output_tokens"] * 4, 40_000), B64_CORPUS
            )
            self.line(
                t,
                "response_item",
                {"type": "reasoning", "summary": [], "content": None, "encrypted_content": enc},
            )
            t += int(last["reasoning_output_tokens"] * ms_per_token) + rng.randint(5, 200)
        message = ""
        if n_tools == 0 or rng.random() < 0.5:
            phase = "final_answer" if n_tools == 0 else "commentary"
            message = filler(
                rng, min(out * 4, sized(rng, 1200 if n_tools == 0 else 200, 1.0, 20, 12_000))
            )
            self.line(t, "event_msg", {"type": "agent_message", "message": message, "phase": phase})
            item = {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": message}],
                "phase": phase,
            }
            self.line(t + 1, "response_item", item)
            t += rng.randint(2, 400)
        t += int((out - last["reasoning_output_tokens"]) * ms_per_token / 2)  # call arguments
        calls: list[tuple[str, str, str, int]] = []  # (call_id, kind, cmd/patch, emitted ms)
        spawn = None
        for _ in range(n_tools):
            call_id = f"call_{alnum_id(rng, 24)}"
            t += rng.randint(1, 60)
            if self.may_spawn and (rng.random() < P_SUBAGENT_STEP or self.force_spawn):
                self.may_spawn = self.force_spawn = False
                spawn = call_id
                args = _dump_str({"message": user_text(rng, 300), "agent_type": "worker"})
                self._call(t, "spawn_agent", call_id, args)
                calls.append((call_id, "spawn_agent", "", t))
                continue
            roll = rng.random()
            if self.running is not None and roll < 0.4:
                args = _dump_str(
                    {
                        "session_id": self.running,
                        "chars": "",
                        "yield_time_ms": 1000,
                        "max_output_tokens": 2000,
                    }
                )
                self._call(t, "write_stdin", call_id, args)
                calls.append((call_id, "write_stdin", "", t))
                self.running = None
            elif roll < 0.68:
                cmd = rng.choice(_COMMANDS)
                args = _dump_str(
                    {
                        "cmd": cmd,
                        "workdir": self.cwd,
                        "max_output_tokens": rng.choice((1200, 2000, 4000)),
                        "yield_time_ms": 1000,
                    }
                )
                self._call(t, "exec_command", call_id, args)
                calls.append((call_id, "exec_command", cmd, t))
            elif roll < 0.93:
                path = f"src/{hex_id(rng, 6)}.py"
                old = filler(rng, sized(rng, 200, 1.0, 5, 4000))
                new = filler(rng, sized(rng, 260, 1.0, 5, 6000))
                patch = (
                    f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"
                )
                item = {
                    "type": "custom_tool_call",
                    "status": "completed",
                    "call_id": call_id,
                    "name": "apply_patch",
                    "input": patch,
                }
                self.line(t, "response_item", item)
                calls.append((call_id, "apply_patch", path, t))
            else:
                plan = [
                    {
                        "step": filler(rng, 40),
                        "status": rng.choice(("pending", "in_progress", "completed")),
                    }
                    for _ in range(rng.randint(2, 5))
                ]
                self._call(t, "update_plan", call_id, _dump_str({"plan": plan}))
                calls.append((call_id, "update_plan", "", t))
        t += rng.randint(5, 80)  # the count follows the response's last item closely
        info = {
            "total_token_usage": total,
            "last_token_usage": last,
            "model_context_window": CONTEXT_WINDOW,
        }
        count = {"type": "token_count", "info": info, "rate_limits": None}
        self.line(t, "event_msg", count)
        if rng.random() < P_ECHO or self.force_echo:  # same total again: an echo, not a call
            self.force_echo = False
            t += rng.randint(0, 30)
            self.line(t, "event_msg", count)
        self.last_total = total
        self.last_call_ms = t
        self.steps += 1
        self.tool_calls += n_tools
        if spawn is not None:
            self._spawn(t)
        return t, calls, message

    def _call(self, t: int, name: str, call_id: str, arguments: str) -> None:
        self.line(
            t,
            "response_item",
            {"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id},
        )

    def _outputs(self, t: int, calls: list[tuple[str, str, str, int]]) -> tuple[int, int]:
        """Tool outputs in completion order; returns (time all are back, tokens they add)."""
        rng = self.rng
        done = []
        for n, (call_id, kind, arg, emitted) in enumerate(calls):
            if kind in ("exec_command", "write_stdin"):
                latency = sized(rng, 1200, 1.6, 2, 600_000)
            elif kind == "apply_patch":
                latency = sized(rng, 80, 0.8, 2, 20_000)
            else:
                latency = sized(rng, 40, 0.6, 1, 5_000)
            # Commands run once the response is complete (its token_count is written at `t`).
            done.append((max(emitted, t) + latency, n, call_id, kind, arg, latency))
        done.sort(key=lambda d: (d[0], d[1]))
        chars = 0
        for ms, _, call_id, kind, arg, latency in done:
            chars += self._output(ms, call_id, kind, arg, latency)
            t = max(t, ms)
        return t + rng.randint(5, 80), chars // 4 + rng.randint(30, 300)

    def _output(self, ms: int, call_id: str, kind: str, arg: str, latency: int) -> int:
        rng = self.rng
        if kind in ("exec_command", "write_stdin"):
            text = filler(rng, sized(rng, 900, 1.3, 0, 30_000))
            running = kind == "exec_command" and rng.random() < 0.06
            code = 1 if rng.random() < 0.1 else 0
            wall = max(0.0, (latency - rng.randint(1, 30)) / 1000)
            if running:
                self.running = rng.randint(1000, 99_999)
                status = f"Process running with session ID {self.running}"
            else:
                status = f"Process exited with code {code}"
            if kind == "exec_command" and not running and rng.random() < P_EXEC_END:
                end = {
                    "type": "exec_command_end",
                    "call_id": call_id,
                    "turn_id": self.turn_id,
                    "command": ["/bin/bash", "-lc", arg],
                    "cwd": self.cwd,
                    "aggregated_output": text,
                    "exit_code": code,
                    "duration": {"secs": int(wall), "nanos": int((wall % 1) * 1e9)},
                    "status": "completed",
                }
                self.line(ms, "event_msg", end)
            output = _exec_output(rng, wall, status, text)
            self.line(
                ms,
                "response_item",
                {"type": "function_call_output", "call_id": call_id, "output": output},
            )
            return len(output)
        if kind == "apply_patch":
            ok = rng.random() > 0.05
            msg = (
                f"Success. Updated the following files:\nM {arg}\n"
                if ok
                else f"Failed to find expected lines in {arg}"
            )
            body = {
                "output": msg,
                "metadata": {
                    "exit_code": 0 if ok else 1,
                    "duration_seconds": round(latency / 1000, 1),
                },
            }
            self.line(
                ms,
                "response_item",
                {"type": "custom_tool_call_output", "call_id": call_id, "output": _dump_str(body)},
            )
            if rng.random() < 0.5:
                end = {
                    "type": "patch_apply_end",
                    "call_id": call_id,
                    "turn_id": self.turn_id,
                    "stdout": msg if ok else "",
                    "stderr": "" if ok else msg,
                    "success": ok,
                }
                self.line(ms, "event_msg", end)
            return len(msg)
        if kind == "spawn_agent":
            output = _dump_str({"agent_id": self.spawned_id, "nickname": filler(rng, 10).strip()})
        else:
            output = "Plan updated"
        self.line(
            ms,
            "response_item",
            {"type": "function_call_output", "call_id": call_id, "output": output},
        )
        return len(output)

    # --- subagent ---------------------------------------------------------------------------

    def _spawn(self, t: int) -> None:
        """A child rollout: own meta, parent meta, a replay of whole parent turns, own turns."""
        rng = self.rng
        child = _Session(rng, self.out, self.cwd, t + rng.randint(50, 500), parent=self)
        self.spawned_id = child.id
        ct = child.header()
        child.lines.append(self.lines[0])  # the parent's session_meta, verbatim
        # Replay from a turn boundary (or the very start) up to this step's token_count, so
        # every replayed turn is complete and its step numbering matches the parent's file.
        starts = [1, *self.turn_starts]
        child.lines.extend(self.lines[rng.choice(starts) :])
        child.last_total = self.last_total
        child.tok.ctx = self.tok.ctx  # a fork starts from the parent's context
        for k in range(1 + int(rng.random() < 0.3)):
            ct = child.turn(ct + rng.randint(100, 3000), user_text(rng, 300), first=k == 0)
        self.out.files.append((child.rel_path(), child.data()))
        self.out.sessions += 1
        self.out.steps += child.steps
        self.out.tool_calls += child.tool_calls


def _exec_output(rng: random.Random, wall_s: float, status: str, text: str) -> str:
    """The exec wrapper's text, with the `Wall time:` line the collector reads latency from."""
    return (
        f"Chunk ID: {hex_id(rng, 6)}\nWall time: {wall_s:.4f} seconds\n{status}\n"
        f"Original token count: {len(text) // 4}\nOutput:\n{text}"
    )


def _message(role: str, *texts: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": x} for x in texts]}


def _rate_limits(rng: random.Random) -> dict[str, Any]:
    return {
        "limit_id": "codex",
        "primary": {
            "used_percent": round(rng.uniform(0, 90), 1),
            "window_minutes": 300,
            "resets_at": 1767700000,
        },
        "secondary": None,
        "credits": None,
        "plan_type": None,
    }


def write_session(
    rng: random.Random, start_ms: int, project: str, force: frozenset[str] = frozenset()
) -> SessionOutput:
    """One Codex CLI session (and possibly one subagent rollout) starting at `start_ms`.

    `force` guarantees rare features so small homes still contain every trap: "subagent",
    "interrupt", "echo".
    """
    out = SessionOutput(sessions=1)
    session = _Session(rng, out, project_path(project), start_ms)
    if "subagent" in force:
        session.may_spawn = session.force_spawn = True
    session.force_echo = "echo" in force
    t = session.header()
    session.preamble(t)
    n_turns = 1 + min(int(rng.expovariate(0.45)), 12)
    interrupt = rng.random() < P_INTERRUPT or "interrupt" in force
    for k in range(n_turns):
        last = k == n_turns - 1
        t = session.turn(t, user_text(rng), first=k == 0, interrupt=last and interrupt)
        t += sized(rng, 60_000, 2.0, 2_000, 6 * 3600_000)
    out.files.append((session.rel_path(), session.data()))
    out.steps += session.steps
    out.tool_calls += session.tool_calls
    out.end_ms = t
    return out
