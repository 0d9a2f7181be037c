"""Codex CLI rollout logs → normalized steps (spec: normalized-format §1–§4).

A step is one `token_count` event whose `info` carries both usage dicts and whose cumulative
total differs from the previous one (Codex repeats — echoes — token counts). The step's usage
is `last_token_usage`; cumulative totals are never differenced. Events between two counted
token counts are the step's outputs; user messages and tool outputs are inputs of the next step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from tracelab.schema import (
    REASONING,
    TEXT,
    TOOL_CALL,
    TOOL_RESULT,
    USAGE_REPORT,
    USER_MESSAGE,
    Row,
    make_trace_key,
)
from tracelab.sources.common import (
    ParseIssues,
    SourceContext,
    ToolCall,
    add_input_summary,
    as_count,
    content_chars,
    event,
    latency_ms,
    lean,
    load_line,
    seconds_to_ms,
)

PROVIDER = "codex"
WALL_TIME_RE = re.compile(r"^Wall time:\s*([0-9]+(?:\.[0-9]+)?)\s*seconds\b", re.MULTILINE)
EXIT_CODE_RE = re.compile(r"(?:Exit code|Process exited with code)[: ]+(-?\d+)")
_JSON_SPACE = " \t\n\r"
KNOWN_TYPES = frozenset({"session_meta", "turn_context", "response_item", "event_msg", "compacted"})
_CALL_TYPES = {
    "function_call": "response_item.function_call",
    "custom_tool_call": "response_item.custom_tool_call",
}
_OUTPUT_TYPES = {
    "function_call_output": "response_item.function_call_output",
    "custom_tool_call_output": "response_item.custom_tool_call_output",
}


def wall_time_ms(text: Any) -> int | None:
    """Runner-reported duration from an exec-wrapper output (`Wall time: 1.0016 seconds`)."""
    if not isinstance(text, str) or "Wall time:" not in text:  # a substring test is far
        return None  # cheaper than the regex scanning a long output for no match
    match = WALL_TIME_RE.search(text)
    return seconds_to_ms(float(match.group(1)), 1000.0) if match else None  # 1e400 s: None


def output_is_error(output: Any) -> bool | None:
    """Error flag of a tool output: exit-code line, else JSON metadata, else unknown (None)."""
    text = output if isinstance(output, str) else None
    if text is not None:
        # Both phrases contain "xit": only a text holding it can match (a substring test is
        # far cheaper than the regex scanning a long output); only an object has metadata.
        match = EXIT_CODE_RE.search(text) if "xit" in text else None
        if match:  # compared as digits: int() refuses numbers of more than 4300 digits
            return match.group(1).lstrip("-").strip("0") != ""
        if not text.lstrip(_JSON_SPACE).startswith("{"):
            return None
        try:
            output = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
    if isinstance(output, dict):
        meta = output.get("metadata")
        if isinstance(meta, dict):
            code = meta.get("exit_code")
            if isinstance(code, int) and not isinstance(code, bool):
                return code != 0
            if meta.get("success") is False:
                return True
            if meta.get("success") is True:
                return False
    return None


def _dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]… through dicts only; None where the shape differs (schema drift)."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _output_text(output: Any) -> Any:
    """Newer Codex versions wrap outputs as {content, success}; the text is what we measure."""
    if isinstance(output, dict) and "content" in output and isinstance(output["content"], str):
        return output["content"]
    return output


@dataclass
class _Result:
    result_at: str | None = None
    result_chars: int | None = None
    internal_ms: int | None = None
    is_error: bool | None = None


@dataclass
class _Step:
    session_id: str
    round_index: int
    round_id: str
    turn_id: str | None
    cwd: str | None
    model: str | None
    usage: dict
    events: list[dict]
    tool_ids: list[str]


class CodexParser:
    """Incremental parser of one Codex rollout file (a subagent's file replays its parent)."""

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.issues = ParseIssues()
        self.session_uuid: str | None = None
        self.parent_uuid: str | None = None
        self.turn_id: str | None = None
        self.cwd: str | None = None
        #: the session's working directory (its project): session_meta's, else the first seen
        self.project: str | None = None
        self.model: str | None = None
        self.last_total: dict | None = None
        self.pending: list[dict] = []
        self.outputs: list[dict] = []
        self.out_tools: list[str] = []
        self.steps: list[_Step] = []
        self.calls: dict[str, ToolCall] = {}
        self.results: dict[str, _Result] = {}
        self.turn_steps: dict[str, int] = {}
        self.session_steps: dict[str, int] = {}

    # --- feeding ------------------------------------------------------------------------

    def feed(self, line: bytes | memoryview) -> None:
        record = load_line(line, self.issues)
        if record is None:
            return
        kind = record.get("type")
        payload = record.get("payload")
        # The bulk of a rollout first (the checks below would pass them anyway).
        if kind == "response_item":
            if type(payload) is dict:
                self._response_item(payload, record.get("timestamp"))
            return
        if kind == "event_msg":
            if type(payload) is dict:
                self._event_msg(payload, record.get("timestamp"))
            return
        if type(kind) is not str:
            # Not "unknown type None": a record with no type is a malformed line.
            self.issues.other["record(s) without a type"] += 1
            return
        if kind not in KNOWN_TYPES:
            self.issues.unknown_types[kind[:40]] += 1
            return
        if type(payload) is not dict:
            return
        if kind == "turn_context":
            self._set_str("turn_id", payload.get("turn_id"))
            self._set_str("cwd", payload.get("cwd"))
            self._set_str("model", payload.get("model"))
            if self.project is None:
                self.project = self.cwd
        elif kind == "session_meta" and self.session_uuid is None:
            # Only the first session_meta names this file's session; a subagent file goes on
            # with its parent's session_meta and a replay of the parent's history.
            sid = payload.get("id")
            self.session_uuid = sid if isinstance(sid, str) else None
            self._set_str("cwd", payload.get("cwd"))
            cwd = payload.get("cwd")
            if isinstance(cwd, str) and cwd:
                self.project = cwd
            source = payload.get("source")
            parent = _dig(source, "subagent", "thread_spawn", "parent_thread_id")
            if isinstance(parent, str):
                self.parent_uuid = parent

    def _set_str(self, attr: str, value: Any) -> None:
        if isinstance(value, str) and value:
            setattr(self, attr, value)

    def _response_item(self, p: dict, ts: Any) -> None:
        ptype = p.get("type")
        if type(ptype) is not str:  # a list or dict here cannot even be looked up
            self.issues.other["response item(s) without a type"] += 1
            return
        if ptype in _OUTPUT_TYPES:
            output = _output_text(p.get("output"))
            self._tool_output(
                p.get("call_id"),
                ts,
                _OUTPUT_TYPES[ptype],
                len(output) if type(output) is str else content_chars(output),
                wall_time_ms(output),
                output_is_error(output),
            )
        elif ptype == "reasoning":
            ev = {"event_type": REASONING, "timestamp": ts, "source": "response_item.reasoning"}
            self.outputs.append(ev if ts is not None else lean(ev))
        elif ptype == "message":
            if p.get("role") == "assistant":
                ev = {
                    "event_type": TEXT,
                    "timestamp": ts,
                    "source": "response_item.message",
                    "content_chars": content_chars(p.get("content")),
                }
                self.outputs.append(ev if ts is not None else lean(ev))
            # user/developer copies: the user text is taken from event_msg.user_message.
        elif ptype in _CALL_TYPES:
            call_id = p.get("call_id")
            if type(call_id) is not str or call_id in self.calls:
                self.issues.other["tool call without a new call_id"] += 1
                return
            name = p.get("name")
            name = name if type(name) is str else None
            raw_input = p.get("arguments") if ptype == "function_call" else p.get("input")
            index = len(self.out_tools)
            self.calls[call_id] = ToolCall(name, ts, raw_input, index)
            self.out_tools.append(call_id)
            self.outputs.append(
                lean(
                    {
                        "event_type": TOOL_CALL,
                        "timestamp": ts,
                        "source": _CALL_TYPES[ptype],
                        "tool_call_id": call_id,
                        "tool_name": name,
                        "tool_index": index,
                    }
                )
            )

    def _event_msg(self, p: dict, ts: Any) -> None:
        ptype = p.get("type")
        if ptype == "token_count":
            self._token_count(p.get("info"), ts)
        elif ptype == "user_message":
            message = p.get("message")
            ev = {
                "event_type": USER_MESSAGE,
                "timestamp": ts,
                "source": "event_msg.user_message",
                "content_chars": len(message) if type(message) is str else content_chars(message),
            }
            self.pending.append(ev if ts is not None else lean(ev))
        elif ptype == "exec_command_end":
            code = p.get("exit_code")
            out = p.get("aggregated_output")
            self._tool_output(
                p.get("call_id"),
                ts,
                "event_msg.exec_command_end",
                len(out) if type(out) is str else None,
                None,
                code != 0 if type(code) is int else None,
            )
        elif ptype == "patch_apply_end":
            ok = p.get("success")
            self._tool_output(
                p.get("call_id"),
                ts,
                "event_msg.patch_apply_end",
                None,
                None,
                (not ok) if type(ok) is bool else None,
            )

    def _tool_output(
        self,
        call_id: Any,
        ts: Any,
        source: str,
        chars: int | None,
        internal: int | None,
        is_error: bool | None,
    ) -> None:
        """First output of a call sets its result and the one tool_result event; later ones
        only fill what is still unknown, except `is_error`, which takes the latest value."""
        if type(call_id) is not str:
            self.issues.other["tool output without call_id"] += 1
            return
        result = self.results.get(call_id)
        if result is None:
            self.results[call_id] = _Result(ts, chars, internal, is_error)
            self.pending.append(
                lean(
                    {
                        "event_type": TOOL_RESULT,
                        "timestamp": ts,
                        "source": source,
                        "tool_call_id": call_id,
                        "result_chars": chars,
                        "is_error": is_error,
                    }
                )
            )
            return
        if result.result_at is None:
            result.result_at = ts
        if result.result_chars is None:
            result.result_chars = chars
        if result.internal_ms is None:
            result.internal_ms = internal
        if is_error is not None:
            result.is_error = is_error

    def _token_count(self, info: Any, ts: Any) -> None:
        if not isinstance(info, dict):
            return
        total, last = info.get("total_token_usage"), info.get("last_token_usage")
        if not isinstance(total, dict) or not isinstance(last, dict):
            return
        if total == self.last_total:
            return  # an echo of the previous count, not a new call
        self.last_total = total
        session_id = self._session_for(self.turn_id)
        turn_key = self.turn_id or self.ctx.file_stem or "turn"
        k = self.turn_steps.get(turn_key, 0)
        self.turn_steps[turn_key] = k + 1
        index = self.session_steps.get(session_id, 0)
        self.session_steps[session_id] = index + 1
        events = [
            *self.pending,
            *self.outputs,
            event(USAGE_REPORT, ts, "event_msg.token_count"),
        ]
        self.steps.append(
            _Step(
                session_id,
                index,
                f"{turn_key}:{k}",
                self.turn_id,
                self.cwd,
                self.model,
                last,
                events,
                self.out_tools,
            )
        )
        self.pending, self.outputs, self.out_tools = [], [], []

    def _session_for(self, turn_id: str | None) -> str:
        """Subagent files replay the parent's history: older turns belong to the parent."""
        own = self.session_uuid or self.ctx.file_stem or "unknown"
        if self.parent_uuid and turn_id is not None and turn_id < own:
            return f"{PROVIDER}:{self.parent_uuid}"
        return f"{PROVIDER}:{own}"

    # --- emitting -----------------------------------------------------------------------

    def finish(self) -> list[Row]:
        """Rows for every counted step so far; the parser state is left untouched."""
        own = f"{PROVIDER}:{self.session_uuid or self.ctx.file_stem or 'unknown'}"
        parent = f"{PROVIDER}:{self.parent_uuid}" if self.parent_uuid is not None else None
        unmatched = sum(1 for cid in self.results if cid not in self.calls)
        self.issues.set_count("tool output(s) without a matching call", unmatched)
        # the model answered, yet no token count ever carried usage: a format without usage
        self.issues.no_usage = not self.steps and bool(self.outputs)
        template = self.ctx.row_template(PROVIDER)
        template["project"] = self.project
        tool = self._tool
        rows = []
        for step in self.steps:
            usage = step.usage
            inp = as_count(usage.get("input_tokens")) or 0
            cached = as_count(usage.get("cached_input_tokens")) or 0
            events = list(step.events)  # event dicts are never mutated
            own_step = step.session_id == own
            row = template.copy()
            row["session_id"] = step.session_id
            row["is_subagent"] = parent is not None and own_step
            # replayed parent steps are the parent's: their own parent is not named here
            row["parent_session_id"] = parent if own_step else None
            row["round_index"] = step.round_index
            row["round_id"] = step.round_id
            row["turn_id"] = step.turn_id
            row["cwd"] = step.cwd
            row["model"] = step.model
            row["input_tokens_total"] = inp
            row["prefix_tokens"] = cached
            row["newly_append_tokens"] = max(0, inp - cached)
            row["output_tokens"] = as_count(usage.get("output_tokens")) or 0
            row["reasoning_output_tokens"] = as_count(usage.get("reasoning_output_tokens"))
            row["timing_events"] = events
            row["tools"] = [tool(cid) for cid in step.tool_ids]
            add_input_summary(row, events)
            row["trace_key"] = make_trace_key(PROVIDER, step.session_id, step.round_id)
            rows.append(row)
        return rows

    def _tool(self, call_id: str) -> dict:
        call = self.calls[call_id]
        result = self.results.get(call_id) or _Result()
        return {
            "tool_index": call.index,
            "tool_name": call.name,
            "tool_call_id": call_id,
            "emitted_at": call.emitted_at,
            "result_at": result.result_at,
            "input": call.input,
            "input_chars": call.input_chars,
            "result_chars": result.result_chars,
            "tool_wall_latency_ms": latency_ms(call.emitted_at, result.result_at),
            "tool_internal_latency_ms": result.internal_ms,
            "is_error": result.is_error,
        }
