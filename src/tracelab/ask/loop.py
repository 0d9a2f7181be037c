"""The conversation: a question, the model's tool calls run in the sandbox, a grounded answer.

Each `Conversation.ask` is one answer: up to `max_turns` model turns within `time_limit_s`;
every tool call leaves `Evidence` (its SQL, the result table, a chart spec). The messages
persist, so a follow-up question sees the earlier answers. The model is sent the question
and tool results only. After the answer, every number in its text is checked against the
numbers of this answer's tool results (and the question): one that is not there is listed in
`ungrounded` and shown as a warning, so no number reaches the user unflagged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracelab.ask.backends import Backend, BackendError
from tracelab.ask.sandbox import Sandbox
from tracelab.ask.settings import DEFAULT_MAX_TURNS, DEFAULT_TIME_LIMIT_S
from tracelab.ask.tools import Evidence, call_tool, tool_specs

SYSTEM_PROMPT = """You answer questions about the user's coding-agent trace (each step is one
model call of a Claude Code or Codex session) by calling tools, then answering briefly.
- First call a tool: prefer `metric` (the project's own metric definitions); use `sql` only
  for what the catalog cannot express.
- Every number in your answer must appear in a tool result of this answer. Copy values as
  given (you may round them, or show a ratio as a percent). Never guess a number.
- If a tool returns an error, fix the call and try again.
- Answer in plain text: name each group and its value."""

Event = Callable[[str, Any], None]


@dataclass
class Answer:
    """One answered question with everything it rests on."""

    question: str
    text: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    stopped: str | None = None
    ungrounded: list[str] = field(default_factory=list)

    @property
    def tool_calls(self) -> int:
        return len(self.evidence)

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "evidence": [e.as_dict() for e in self.evidence],
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "ungrounded": self.ungrounded,
        }


#: Not inside a name or a date: "claude-opus-4-7" and "2026-01-05" hold no number 7 or 5.
_NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?(?![\d])")


def numbers_in(text: str) -> list[str]:
    """The numbers written in `text` (thousands separators allowed)."""
    return [m.group(0) for m in _NUMBER.finditer(text)]


def _as_float(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def _decimals(token: str) -> int:
    return len(token.split(".", 1)[1]) if "." in token else 0


def evidence_values(evidence: list[Evidence], question: str = "") -> list[float]:
    """Every number the answer may state: numeric cells, numbers inside text cells, the
    question's own numbers."""
    values: list[float] = []
    texts = [question]
    for ev in evidence:
        if not ev.ok:
            continue
        for row in ev.rows:
            for cell in row:
                if isinstance(cell, bool) or cell is None:
                    continue
                if isinstance(cell, int | float):
                    values.append(float(cell))
                else:
                    texts.append(str(cell))
    for text in texts:
        values.extend(v for v in map(_as_float, numbers_in(text)) if v is not None)
    return values


def is_grounded(token: str, values: list[float]) -> bool:
    """`token` equals a value (or a ratio's percent) rounded to the token's decimals."""
    n = _as_float(token)
    if n is None:
        return True
    d = _decimals(token)
    tol = 0.5 * 10**-d + 1e-9
    for v in values:
        for candidate in (v, v * 100, v / 1000, v / 60_000, v / 1_000_000):
            if abs(abs(candidate) - abs(n)) <= tol:
                return True
    return False


def ungrounded_numbers(text: str, evidence: list[Evidence], question: str = "") -> list[str]:
    values = evidence_values(evidence, question)
    return [t for t in numbers_in(text) if not is_grounded(t, values)]


class Conversation:
    """Questions and follow-ups over one sandbox with one backend."""

    def __init__(
        self,
        sandbox: Sandbox,
        backend: Backend,
        *,
        max_turns: int = DEFAULT_MAX_TURNS,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    ) -> None:
        self.sandbox = sandbox
        self.backend = backend
        self.max_turns = max_turns
        self.time_limit_s = time_limit_s
        self.tools = tool_specs(sandbox)
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]

    def ask(self, question: str, on_event: Event | None = None) -> Answer:
        """Answer `question` (a follow-up sees the conversation so far)."""
        emit = on_event or (lambda kind, payload: None)
        answer = Answer(question)
        start = time.monotonic()
        deadline = start + self.time_limit_s
        self.messages.append({"role": "user", "content": question})
        try:
            self._turns(answer, deadline, emit)
        except BackendError as exc:
            answer.stopped = str(exc)
            emit("error", str(exc))
        answer.seconds = time.monotonic() - start
        if answer.text:
            answer.ungrounded = ungrounded_numbers(answer.text, answer.evidence, question)
        if answer.stopped and not answer.text:
            answer.text = f"(no answer: {answer.stopped})"
        emit("answer", answer.as_dict())
        return answer

    def _turns(self, answer: Answer, deadline: float, emit: Event) -> None:
        for _ in range(self.max_turns):
            if time.monotonic() > deadline:
                answer.stopped = f"time limit of {self.time_limit_s:g} s reached"
                return
            answer.turns += 1
            reply = self.backend.chat(
                self.messages, self.tools, lambda t: emit("token", t), deadline
            )
            answer.prompt_tokens += reply.prompt_tokens
            answer.completion_tokens += reply.completion_tokens
            message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
            if reply.tool_calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": c.arguments}}
                    for c in reply.tool_calls
                ]  # fmt: skip
            self.messages.append(message)
            if not reply.tool_calls:
                answer.text = reply.content.strip()
                return
            for call in reply.tool_calls:
                emit("tool_call", {"tool": call.name, "arguments": call.arguments})
                ev = call_tool(self.sandbox, call.name, call.arguments)
                answer.evidence.append(ev)
                emit("evidence", ev.as_dict())
                self.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": ev.for_model()}
                )
        answer.stopped = f"turn limit of {self.max_turns} reached"
