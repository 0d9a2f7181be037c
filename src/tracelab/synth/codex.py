"""Synthetic Codex CLI sessions: `.codex/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`.

Lines are `{timestamp, type, payload}` as Codex writes them. A step is one `token_count` whose
cumulative total changed, so the writer adds the traps a parser must survive: `info: null`
counts, echoed counts (same total repeated), outputs arriving after the count, compactions,
and subagent files that replay part of the parent's history before their own turns (replayed
turn ids sort before the child id, so those steps belong to — and dedup against — the parent).
Every number (loop lengths, tokens, latencies, waits) is drawn from the profile by
`tracelab.synth.workload`.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from tracelab.synth.common import (
    _SECOND_MS,
    B64_CORPUS,
    SessionOutput,
    filler,
    hex_id,
    iso,
    pick,
    project_path,
    user_text,
    uuid7_like,
)
from tracelab.synth.profile import Model, ProviderProfile
from tracelab.synth.workload import (
    TEXT_CAP,
    Context,
    Sampler,
    Strata,
    lognormal,
)

CLI_VERSIONS = ("0.114.0", "0.118.0", "0.121.0")
#: Tools whose output is the exec wrapper's text with its `Wall time:` line (internal latency).
EXEC_TOOLS = frozenset({"exec_command", "write_stdin", "shell_command"})
SPAWN = "spawn_agent"

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
#: A token_count's usage object, filled with (input, cached, output, reasoning, total): the
#: bytes `orjson.dumps` gives for the dict, without building the dict for every step.
_USAGE = (
    b'{"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d,'
    b'"reasoning_output_tokens":%d,"total_tokens":%d}'
)
#: A line's members after its timestamp, by line type.
_KINDS = {
    kind: f'{kind}","payload":'.encode()
    for kind in ("session_meta", "response_item", "event_msg", "turn_context", "compacted")
}
_EVENT_MSG, _RESPONSE_ITEM = _KINDS["event_msg"], _KINDS["response_item"]
#: Spliced payloads: an assistant message's event and item up to their text, and after it by
#: phase; a function_call_output up to its call id.
_AGENT_MESSAGE = b'{"type":"agent_message","message":'
_ASSISTANT_MESSAGE = (
    b'{"type":"message","role":"assistant","content":[{"type":"output_text","text":'
)
_PHASE_END = {phase: b',"phase":"%s"}' % phase.encode() for phase in ("final_answer", "commentary")}
_CALL_OUTPUT = b'{"type":"function_call_output","call_id":"'
#: A reasoning item up to its encrypted content's random part (a slice of the base64 corpus).
_REASONING = b'{"type":"reasoning","summary":[],"content":null,"encrypted_content":"gAAAAAB'
_B64_BYTES = B64_CORPUS.encode()
_B64_SIZE = len(B64_CORPUS)
#: Cumulative token counts of a session before its first call.
_ZERO = (0, 0, 0, 0, 0)
_N_COMMANDS = len(_COMMANDS)
_MAX_TOKENS = (1200, 2000, 4000)  # an exec call's max_output_tokens choices


#: `SS.mmmZ","type":"` by milliseconds into a minute, and `{"timestamp":"YYYY-MM-DDTHH:MM:`
#: by epoch minute (bounded by clearing): a line's lead is then one concatenation.
_SECOND_TYPE = tuple(f'{sec}","type":"'.encode() for sec in _SECOND_MS)
_MINUTE_LEAD: dict[int, bytes] = {}


def _minute_lead(minutes: int) -> bytes:
    """`{"timestamp":"YYYY-MM-DDTHH:MM:` of an epoch minute, cached."""
    if len(_MINUTE_LEAD) >= 4096:
        _MINUTE_LEAD.clear()
    lead = _MINUTE_LEAD[minutes] = b'{"timestamp":"' + iso(minutes * 60_000)[:17].encode()
    return lead


def _stamp(ms: int) -> bytes:
    """A line's lead up to its type: `{"timestamp":"<iso(ms)>","type":"`."""
    minutes, rest = divmod(ms, 60_000)
    return (_MINUTE_LEAD.get(minutes) or _minute_lead(minutes)) + _SECOND_TYPE[rest]


def _dump_str(value: Any) -> str:
    return orjson.dumps(value).decode()


#: A `token_count` event with `info`: filled with the total usage, the last one and the window.
_TOKEN_COUNT = (
    b'{"type":"token_count","info":{"total_token_usage":'
    + _USAGE
    + b',"last_token_usage":'
    + _USAGE
    + b',"model_context_window":%d},"rate_limits":null}'
)


def _token_count(total: tuple[int, ...], last: tuple[int, ...], window: int) -> bytes:
    """The payload of a `token_count` event with `info` (cumulative and last usage)."""
    return _TOKEN_COUNT % (*total, *last, window)


class _Session:
    """One rollout file: header, turns of steps, tool outputs after each step's count."""

    def __init__(
        self,
        s: Sampler,
        out: SessionOutput,
        cwd: str,
        start_ms: int,
        parent: _Session | None = None,
    ) -> None:
        self.s = s
        self.rng = s.rng
        self.out = out
        self.cwd = cwd
        self.start_ms = start_ms
        self.id = uuid7_like(self.rng, start_ms)
        self.parent = parent
        model: Model = s.model()
        self.model = model.name
        self.ctx = parent.ctx.fork(s, model) if parent else Context(s, model)
        self.window = self.ctx.limit
        self.version = parent.version if parent else pick(self.rng, CLI_VERSIONS)
        self.lines: list[bytes] = []
        self.stamp_ms, self.stamp = -1, b""  # the last line's moment, its serialized lead
        self.turn_starts: list[int] = []
        # Cumulative (input, cached, output, reasoning, total) tokens, and at the last count.
        self.total = _ZERO
        self.last_total: tuple[int, ...] | None = None
        self.exec_calls: dict[tuple[str, str, int], bytes] = {}  # see `_exec_call`
        self.running: int | None = None  # exec session id still running (write_stdin target)
        self.may_spawn = parent is None  # a top-level session may spawn one subagent
        self.exclude = frozenset() if self.may_spawn else frozenset({SPAWN})
        self.force_spawn = False  # spawn from the first tool call (set by write_session)
        self.force_echo = False  # echo the next token_count
        self.steps = 0
        self.tool_calls = 0
        self.intended: list[tuple[int, int, int, int]] = []
        self.turn_id = ""
        self.spawned_id = ""

    def line(self, ms: int, kind: str, payload: dict[str, Any]) -> None:
        """One `{timestamp, type, payload}` line (spliced: the bytes of `orjson.dumps`)."""
        # `raw_line`'s body, not a call to it: most lines are written here.
        if ms != self.stamp_ms:
            self.stamp_ms = ms
            minutes, rest = divmod(ms, 60_000)  # `_stamp`, inlined
            lead = _MINUTE_LEAD.get(minutes)
            self.stamp = (lead or _minute_lead(minutes)) + _SECOND_TYPE[rest]
        self.lines.append(b"".join((self.stamp, _KINDS[kind], _dumps(payload), b"}")))

    def raw_line(self, ms: int, kind: str, payload: bytes) -> None:
        """`line` with the payload already serialized."""
        if ms != self.stamp_ms:  # runs of lines share their moment (a turn's start, a count …)
            self.stamp_ms = ms
            minutes, rest = divmod(ms, 60_000)  # `_stamp`, inlined
            lead = _MINUTE_LEAD.get(minutes)
            self.stamp = (lead or _minute_lead(minutes)) + _SECOND_TYPE[rest]
        self.lines.append(b"".join((self.stamp, _KINDS[kind], payload, b"}")))

    def parts_line(self, ms: int, kind: bytes, parts: tuple[bytes, ...]) -> None:
        """`raw_line` with the payload in pieces (`kind` from `_KINDS`): joined once into the
        line (a message or an output, often kilobytes, is then copied once, not twice)."""
        if ms != self.stamp_ms:
            self.stamp_ms = ms
            minutes, rest = divmod(ms, 60_000)  # `_stamp`, inlined
            lead = _MINUTE_LEAD.get(minutes)
            self.stamp = (lead or _minute_lead(minutes)) + _SECOND_TYPE[rest]
        self.lines.append(b"".join((self.stamp, kind, *parts, b"}")))

    def data(self) -> bytes:
        # One join (the trailing empty line gives the final newline), not a join and a copy.
        return b"\n".join([*self.lines, b""])

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
            "base_instructions": {"text": filler(rng, lognormal(rng, 3000, 0.3, 1000, 6000))},
            "git": {
                "commit_hash": hex_id(rng, 40),
                "branch": "main",
                "repository_url": "https://example.invalid/synthetic/project.git",
            },
        }
        t += 200 + int(rng.random() * 19_800)
        self.line(t, "session_meta", meta)
        return t

    def preamble(self, t: int) -> None:
        rng = self.rng
        self.line(
            t,
            "response_item",
            _message("developer", "<permissions instructions>\n" + filler(rng, 800)),
        )
        env = (
            f"<environment_context>\n  <cwd>{self.cwd}</cwd>\n  <shell>bash</shell>\n"
            f"  <current_date>{iso(t)[:10]}</current_date>\n  <timezone>Etc/UTC</timezone>\n"
            "</environment_context>"
        )
        agents = f"# AGENTS.md instructions for {self.cwd}\n\n<INSTRUCTIONS>\n{filler(rng, 1200)}"
        self.line(t, "response_item", _message("user", agents, env))

    # --- turns ------------------------------------------------------------------------------

    def turn(
        self,
        t: int,
        gap: float,
        single: bool,
        *,
        first: bool,
        interrupt: bool = False,
        prompt: str = "",
    ) -> int:
        """One user turn whose message arrives at `t` (after an idle `gap` ms): its steps, tool
        outputs, and task_complete; returns the time of its last event."""
        s, rng = self.s, self.rng
        s.new_request()
        fresh = s.fresh(True, self.ctx.size)
        prompt = prompt or user_text(rng, s.chars(fresh))
        self.turn_id = uuid7_like(rng, t)
        self.turn_starts.append(len(self.lines))
        started = {
            "type": "task_started",
            "turn_id": self.turn_id,
            "model_context_window": self.window,
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
        self.line(t, "response_item", _message("user", prompt))
        self.line(
            t,
            "event_msg",
            {
                "type": "user_message",
                "message": prompt,
                "images": [],
                "local_images": [],
                "text_elements": [],
            },
        )
        if s.feature("null_info"):
            self.line(
                t,
                "event_msg",
                {"type": "token_count", "info": None, "rate_limits": _rate_limits(rng)},
            )
        n_loop = s.tool_steps(single)
        if self.force_spawn:
            n_loop = max(n_loop, 1)
        message = ""
        for user, n_tools, final in s.request_steps(n_loop, single, interrupt):
            t, calls, message = self._step(t, user, gap, fresh, n_tools)
            if final and interrupt:
                if calls and rng.random() < 0.5:  # a still-running command, then the user aborts
                    call_id = calls[0][0]
                    status = f"Process running with session ID {1000 + int(rng.random() * 98_999)}"
                    out = _exec_output(rng, 1.0014, status, "")
                    self.line(
                        t + 1010,
                        "response_item",
                        {"type": "function_call_output", "call_id": call_id, "output": out},
                    )
                self.line(
                    t + 1500 + int(rng.random() * 60_000),
                    "event_msg",
                    {"type": "turn_aborted", "turn_id": self.turn_id, "reason": "interrupted"},
                )
                return t
            if final:
                break
            t, gap, fresh = self._outputs(t, calls)
        self.line(
            t + 1 + int(rng.random() * 9),
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
        self, t: int, user: bool, gap: float, fresh: int, n_tools: int
    ) -> tuple[int, list[tuple[str, str, str, int]], str]:
        """Outputs of one model call then its token_count; returns (count time, calls, text)."""
        s, rng = self.s, self.rng
        r, features = s.r, s.features  # `s.feature(name)` is `r() < features[name]`
        prefix, append, compacted = self.ctx.step(user, gap, fresh)
        if compacted:
            self.line(t, "compacted", {"message": "", "replacement_history": []})
            self.line(t, "event_msg", {"type": "context_compacted"})
        out = s.output(n_tools == 0, user)
        shares = s.p.reasoning_share  # `s.reasoning(out)`, inlined
        reasoning = 0 if shares is None else min(out, int(out * shares.sample(r())))
        self.ctx.prev_o = out
        inp = prefix + append
        last = (inp, prefix, out, reasoning, inp + out)
        t_in, t_cached, t_out, t_reasoning, t_total = self.total
        total = (
            t_in + inp,
            t_cached + prefix,
            t_out + out,
            t_reasoning + reasoning,
            t_total + inp + out,
        )
        ttft = round(s._ttft(r()))
        if ttft < 1:
            ttft = 1
        gen = ttft + round(out * s._ms_per_token(r()))
        per_token = (gen - ttft) / out
        t0 = t
        if reasoning or r() < features["reasoning_item"]:
            # `filler(rng, n, B64_CORPUS)` (n < its size), inlined and sliced from its bytes:
            # base64 needs no JSON escaping, so the item is spliced around the slice.
            n = min(60 + reasoning * 4, 4_000)
            start = int(r() * (_B64_SIZE - n))
            self.parts_line(
                t0 + ttft + int(reasoning * per_token),
                _RESPONSE_ITEM,
                (_REASONING, _B64_BYTES[start : start + n], b'"}'),
            )
        n_out = n_tools + (1 if n_tools == 0 or r() < features["text_with_tools"] else 0)
        visible = gen - ttft - int(reasoning * per_token)
        # Output k of n_out is written at `shown + visible * (k + 1) // n_out` (computed where
        # it is used: a list comprehension is a call of its own).
        shown = t0 + gen - visible
        message = ""
        if n_out > n_tools:
            phase = "final_answer" if n_tools == 0 else "commentary"
            message = filler(rng, s.chars(out - reasoning))
            ms = shown + visible // n_out
            # The agent_message event and the message item, around the text serialized once.
            text = _dumps(message)
            closing = _PHASE_END[phase]
            self.parts_line(ms, _EVENT_MSG, (_AGENT_MESSAGE, text, closing))
            self.parts_line(ms, _RESPONSE_ITEM, (_ASSISTANT_MESSAGE, text, b"}]" + closing))
        calls: list[tuple[str, str, str, int]] = []  # (call_id, name, cmd/patch, emitted ms)
        spawn = None
        for k in range(n_out - n_tools, n_out):
            ms = shown + visible * (k + 1) // n_out
            call_id = "call_" + rng.getrandbits(96).to_bytes(12, "big").hex()  # hex_id(rng, 24)
            name = SPAWN if self.force_spawn else s.tool(self.exclude).name
            if name == SPAWN:
                self.may_spawn = self.force_spawn = False
                self.exclude = frozenset({SPAWN})
                spawn = call_id
                args = _dump_str({"message": user_text(rng, 300), "agent_type": "worker"})
                self._call(ms, name, call_id, args)
                calls.append((call_id, name, "", ms))
            elif name == "write_stdin":
                session = self.running or 1000 + int(rng.random() * 98_999)
                args = _dump_str(
                    {
                        "session_id": session,
                        "chars": "",
                        "yield_time_ms": 1000,
                        "max_output_tokens": 2000,
                    }
                )
                self._call(ms, name, call_id, args)
                calls.append((call_id, name, "", ms))
                self.running = None
            elif name in EXEC_TOOLS:
                cmd = _COMMANDS[int(r() * _N_COMMANDS)]  # `pick(rng, …)`, inlined (twice)
                payload = self._exec_call(name, cmd, _MAX_TOKENS[int(r() * 3)])
                self.raw_line(ms, "response_item", b"".join((payload, call_id.encode(), b'"}')))
                calls.append((call_id, name, cmd, ms))
            elif name == "apply_patch":
                path = f"src/{hex_id(rng, 6)}.py"
                old = filler(rng, lognormal(rng, 200, 1.0, 5, 2000))
                new = filler(rng, lognormal(rng, 260, 1.0, 5, 3000))
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
                self.line(ms, "response_item", item)
                calls.append((call_id, name, path, ms))
            elif name == "update_plan":
                plan = [
                    {
                        "step": filler(rng, 40),
                        "status": pick(rng, ("pending", "in_progress", "completed")),
                    }
                    for _ in range(2 + int(rng.random() * 4))
                ]
                self._call(ms, name, call_id, _dump_str({"plan": plan}))
                calls.append((call_id, name, "", ms))
            else:  # any other tool of the profile
                self._call(ms, name, call_id, _dump_str({"input": filler(rng, 60)}))
                calls.append((call_id, name, "", ms))
        t = t0 + gen + 1 + int(rng.random() * 20)  # the count follows the last item closely
        if total == self.last_total:  # never let a real call look like an echo
            t_in, t_cached, t_out, t_reasoning, t_total = total
            total = (t_in, t_cached, t_out + 1, t_reasoning, t_total + 1)
        self.total = total
        count = _token_count(total, last, self.window)
        self.raw_line(t, "event_msg", count)
        if r() < features["echo"] or self.force_echo:  # same total again: an echo, not a call
            self.force_echo = False
            self.raw_line(t, "event_msg", count)
        self.last_total = total
        self.steps += 1
        self.tool_calls += n_tools
        self.intended.append((prefix, append, out, n_tools))
        if spawn is not None:
            self._spawn(t)
        return t, calls, message

    def _exec_call(self, name: str, cmd: str, max_tokens: int) -> bytes:
        """An exec call's `function_call` payload up to its call id (`…"call_id":"`): few
        distinct ones per session, so each is serialized once."""
        payload = self.exec_calls.get((name, cmd, max_tokens))
        if payload is None:
            args = _dump_str(
                {
                    "cmd": cmd,
                    "workdir": self.cwd,
                    "max_output_tokens": max_tokens,
                    "yield_time_ms": 1000,
                }
            )
            call = {"type": "function_call", "name": name, "arguments": args, "call_id": ""}
            payload = _dumps(call)[:-2]
            self.exec_calls[name, cmd, max_tokens] = payload
        return payload

    def _call(self, t: int, name: str, call_id: str, arguments: str) -> None:
        self.line(
            t,
            "response_item",
            {"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id},
        )

    def _outputs(self, t: int, calls: list[tuple[str, str, str, int]]) -> tuple[int, int, int]:
        """Tool outputs in completion order; returns (time all are back, the longest tool
        latency, the fresh tokens they bring)."""
        s = self.s
        fresh, chars = s.tool_results(self.ctx.size, len(calls))
        done = []
        longest = 0
        r, by_name, latency_ms = s.r, s.by_name, s.latency_ms
        for n, (call_id, name, arg, emitted) in enumerate(calls):
            tool = by_name.get(name) or s.tool_named(name)
            latency = latency_ms(tool)
            if name in EXEC_TOOLS:
                overhead = round(s._overhead(r()))  # `s.overhead_ms()`, inlined
                wall = latency + overhead if overhead > 0 else latency
            else:
                wall = latency
            if latency > longest:
                longest = latency
            # An output is written after the response's token_count (at `t`).
            end = emitted + wall
            if end <= t:
                end = t + 1
            done.append((end, n, call_id, name, arg, latency, r() < tool.error_rate))
        if len(done) > 1:
            done.sort()  # by end time, then call order (both leading, and n is unique)
        for ms, _, call_id, name, arg, latency, error in done:
            self._output(ms, call_id, name, arg, latency, error, chars)
            t = max(t, ms)
        return t, longest, fresh

    def _output(
        self, ms: int, call_id: str, name: str, arg: str, latency: int, error: bool, chars: int
    ) -> None:
        s, rng = self.s, self.rng
        if name in EXEC_TOOLS:
            r, features = s.r, s.features  # `s.feature(name)` is `r() < features[name]`
            text = filler(rng, chars)
            running = name == "exec_command" and r() < features["running"]
            code = 1 if error else 0
            if running:
                self.running = 1000 + int(r() * 98_999)
                status = f"Process running with session ID {self.running}"
            else:
                status = f"Process exited with code {code}"
            wall = latency / 1000
            text_json = _dumps(text)  # serialized once, spliced where the text appears
            call_b = call_id.encode()
            if name == "exec_command" and not running and r() < features["exec_end"]:
                # {type, call_id, turn_id, command, cwd, aggregated_output, exit_code,
                # duration, status}, spliced.
                end = (
                    b'{"type":"exec_command_end","call_id":"',
                    call_b,
                    b'","turn_id":',
                    _dumps(self.turn_id),
                    b',"command":',
                    _dumps(["/bin/bash", "-lc", arg]),
                    b',"cwd":',
                    _dumps(self.cwd),
                    b',"aggregated_output":',
                    text_json,
                    b',"exit_code":%d,"duration":{"secs":%d,"nanos":%d},"status":"completed"}'
                    % (code, int(wall), int((wall % 1) * 1e9)),
                )
                self.parts_line(ms, _EVENT_MSG, end)
            # `_exec_output`, inlined (its chunk id is `hex_id(rng, 6)`): its wrapper and the
            # text serialized apart (JSON escapes character by character, so the two pieces
            # joined are the whole string's serialization).
            wrapper = (
                f"Chunk ID: {rng.getrandbits(24):06x}\nWall time: {wall:.4f} seconds\n{status}\n"
                f"Original token count: {len(text) // 4}\nOutput:\n"
            )
            self.parts_line(
                ms,
                _RESPONSE_ITEM,
                (_CALL_OUTPUT, call_b, b'","output":', _dumps(wrapper)[:-1], text_json[1:], b"}"),
            )
            return
        if name == "apply_patch":
            ok = not error
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
            if s.feature("patch_end"):
                end = {
                    "type": "patch_apply_end",
                    "call_id": call_id,
                    "turn_id": self.turn_id,
                    "stdout": msg if ok else "",
                    "stderr": "" if ok else msg,
                    "success": ok,
                }
                self.line(ms, "event_msg", end)
            return
        if name == SPAWN:
            output = _dump_str({"agent_id": self.spawned_id, "nickname": filler(rng, 10).strip()})
        elif name == "update_plan":
            output = "Plan updated"
        else:
            output = filler(rng, chars)
        self.line(
            ms,
            "response_item",
            {"type": "function_call_output", "call_id": call_id, "output": output},
        )

    # --- subagent ---------------------------------------------------------------------------

    def _spawn(self, t: int) -> None:
        """A child rollout: own meta, parent meta, a replay of whole parent turns, own turns."""
        rng = self.rng
        child = _Session(self.s, self.out, self.cwd, t + 50 + int(rng.random() * 450), self)
        self.spawned_id = child.id
        ct = child.header()
        child.lines.append(self.lines[0])  # the parent's session_meta, verbatim
        # Replay from a turn boundary (or the very start) up to this step's token_count, so
        # every replayed turn is complete and its step numbering matches the parent's file.
        starts = [1, *self.turn_starts]
        child.lines.extend(self.lines[pick(rng, starts) :])
        child.last_total = self.last_total
        child.total = self.total
        ct += 100 + int(rng.random() * 2900)
        request_z = self.s.request_z  # the child's turn has its own latency factor
        child.turn(ct, 0, True, first=True, prompt=user_text(rng, 300))
        self.s.request_z = request_z
        self.out.files.append((child.rel_path(), child.data()))
        self.out.intended[f"codex:{child.id}"] = child.intended
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
            "used_percent": round(rng.random() * 90, 1),
            "window_minutes": 300,
            "resets_at": 1767700000,
        },
        "secondary": None,
        "credits": None,
        "plan_type": None,
    }


def write_session(
    rng: random.Random,
    start_ms: int,
    project: str,
    profile: ProviderProfile,
    force: frozenset[str] = frozenset(),
    strata: Strata | None = None,
    text_cap: int = TEXT_CAP,
) -> SessionOutput:
    """One Codex CLI session (and possibly one subagent rollout) starting at `start_ms`.

    `strata` are the session's stratified uniforms (`workload.strata`). `force` guarantees
    rare features so small homes still contain every trap: "subagent",
    "interrupt", "echo". `text_cap`: see `workload.TEXT_CAP`.
    """
    s = Sampler(profile, rng, strata, text_cap)
    out = SessionOutput(sessions=1)
    session = _Session(s, out, project_path(project), start_ms)
    if "subagent" in force:
        session.force_spawn = True
        session.exclude = frozenset()
    session.force_echo = "echo" in force
    t = session.header()
    session.preamble(t)
    n_turns = s.requests()
    interrupt = s.feature("interrupt") or "interrupt" in force
    gap = 0
    for k in range(n_turns):
        last = k == n_turns - 1
        if k:
            gap = s.human_wait_ms()
            t += gap
        t = session.turn(t, gap, n_turns == 1, first=k == 0, interrupt=last and interrupt)
    out.files.append((session.rel_path(), session.data()))
    out.intended[f"codex:{session.id}"] = session.intended
    out.steps += session.steps
    out.tool_calls += session.tool_calls
    out.end_ms = t
    return out
