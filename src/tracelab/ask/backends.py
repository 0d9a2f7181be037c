"""Chat backends with tool calling: any OpenAI-compatible endpoint, the local model, a script.

`OpenAIBackend` speaks `POST {base_url}/chat/completions` with `stream: true` over httpx and
assembles the streamed content and tool-call fragments (OpenAI, vLLM, SGLang, Ollama, a
llama.cpp server, OpenRouter). An endpoint not on loopback is refused unless the user passed
`--allow-remote`: only tool results are ever sent, but they leave the machine. `scripted`
returns recorded replies through the same HTTP client (an httpx mock transport), so tests
exercise the real streaming parser without a model. The local llama.cpp backend lives in
`local` and is imported only when used.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson

from tracelab.ask.settings import DEFAULT_API_KEY_ENV

if TYPE_CHECKING:  # imported where used: `tracelab serve` starts without it (~0.1 s)
    import httpx

TokenSink = Callable[[str], None]
#: How the CLI allows a remote endpoint (the web page names its remote switch instead).
CLI_REMOTE_HINT = "pass --allow-remote to allow it"


class BackendError(Exception):
    """The backend failed or refused: one line for the user."""


class RemoteRefused(BackendError):
    """A non-loopback endpoint without --allow-remote."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """One assistant turn: text, tool calls, and the token counts the backend reported."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    label: str

    def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_token: TokenSink | None = None,
        deadline: float | None = None,
    ) -> Reply: ...


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is loopback (127.0.0.0/8, ::1, localhost); no DNS lookup."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_remote(base_url: str, allow_remote: bool, hint: str = CLI_REMOTE_HINT) -> None:
    """The one rule of `--allow-remote` and the Ask page's remote switch: an endpoint not on
    loopback needs the user's explicit consent. `hint` says how to give it."""
    if not allow_remote and not is_loopback_url(base_url):
        raise RemoteRefused(
            f"{base_url} is not on this machine: tool results (tables computed from your "
            f"trace) would be sent there; {hint}"
        )


def _sse_data(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream (`data: …` lines, up to `[DONE]`)."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            try:
                yield orjson.loads(data)
            except orjson.JSONDecodeError:
                continue


class OpenAIBackend:
    """A chat-completions endpoint with tool calling, streamed."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        allow_remote: bool = False,
        transport: httpx.BaseTransport | None = None,
        temperature: float = 0.0,
    ) -> None:
        check_remote(base_url, allow_remote)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.label = f"{model} at {self.base_url}"
        self.temperature = temperature
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, transport=transport, timeout=120.0)

    def close(self) -> None:
        self._client.close()

    def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_token: TokenSink | None = None,
        deadline: float | None = None,
    ) -> Reply:
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
        }
        if tools:
            body["tools"] = tools
        reply = Reply()
        parts: dict[int, dict[str, str]] = {}
        try:
            with self._client.stream(
                "POST", f"{self.base_url}/chat/completions", content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            ) as resp:  # fmt: skip
                if resp.status_code >= 400:
                    resp.read()
                    raise BackendError(
                        f"{self.base_url} answered {resp.status_code}: {_error_text(resp)}"
                    )
                for chunk in _sse_data(resp.iter_lines()):
                    if deadline is not None and time.monotonic() > deadline:
                        raise BackendError("the answer ran past the time limit")
                    if chunk.get("error"):
                        raise BackendError(f"backend error: {_short(chunk['error'])}")
                    usage = chunk.get("usage") or {}
                    reply.prompt_tokens = usage.get("prompt_tokens") or reply.prompt_tokens
                    reply.completion_tokens = (
                        usage.get("completion_tokens") or reply.completion_tokens
                    )
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or choice.get("message") or {}
                        text = delta.get("content")
                        if text:
                            reply.content += text
                            if on_token:
                                on_token(text)
                        for tc in delta.get("tool_calls") or []:
                            slot = parts.setdefault(
                                int(tc.get("index", len(parts))),
                                {"id": "", "name": "", "arguments": ""},
                            )
                            slot["id"] = tc.get("id") or slot["id"]
                            fn = tc.get("function") or {}
                            slot["name"] += fn.get("name") or ""
                            args = fn.get("arguments")
                            slot["arguments"] += (
                                args if isinstance(args, str) else orjson.dumps(args).decode()
                            ) if args is not None else ""  # fmt: skip
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {self.base_url}: {exc}") from None
        for i in sorted(parts):
            p = parts[i]
            reply.tool_calls.append(ToolCall(p["id"] or f"call_{i}", p["name"], p["arguments"]))
        return reply


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("message") or value
    return str(value).splitlines()[0][:300] if str(value) else "unknown"


def _error_text(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or "no message"
    return _short(data.get("error", data) if isinstance(data, dict) else data)


def format_value(value: Any) -> str:
    """A result cell as an answer writes it: six significant digits, never an exponent (a
    large value keeps its integer digits and two decimals)."""
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.6g}"
    if "e" not in text:
        return text
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.10f}".rstrip("0").rstrip(".")


def state_result(tool_content: str) -> str:
    """A tool message (`Evidence.for_model`) stated as an answer: every value of every row, as
    returned. The local model's answer and the scripted backend's, so both only repeat
    numbers that a tool computed."""
    try:
        result = orjson.loads(tool_content)
    except orjson.JSONDecodeError:
        return "The tool returned no readable result."
    if "error" in result:
        return f"The tool failed: {result['error']}"
    columns, rows = result.get("columns") or [], result.get("rows") or []
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]}: {format_value(rows[0][0])}."
    lines = ["; ".join(f"{c} {format_value(v)}" for c, v in zip(columns, row, strict=False))
             for row in rows]  # fmt: skip
    return " | ".join(lines) + (" (more rows were cut)" if result.get("note") else "") + "."


# --- the scripted test double ---------------------------------------------------------------

#: A scripted turn: {"content": str, "tool_calls": [{"name": …, "arguments": {…}}]}, or a
#: function of the messages so far returning one (e.g. an answer built from the last result).
Turn = dict[str, Any] | Callable[[list[dict[str, Any]]], dict[str, Any]]


def _sse_body(turn: dict[str, Any]) -> bytes:
    """A turn as the chunks a streaming endpoint sends: content word by word, then tool calls."""
    chunks: list[dict[str, Any]] = []
    content = turn.get("content") or ""
    words = content.split(" ")
    for i, word in enumerate(words):
        piece = word if i == len(words) - 1 else word + " "
        if piece:
            chunks.append({"choices": [{"index": 0, "delta": {"content": piece}}]})
    for i, call in enumerate(turn.get("tool_calls") or []):
        args = call.get("arguments", {})
        text = args if isinstance(args, str) else orjson.dumps(args).decode()
        half = len(text) // 2
        first = {"index": i, "id": f"call_{i}", "type": "function",
                 "function": {"name": call["name"], "arguments": text[:half]}}  # fmt: skip
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
        rest = {"index": i, "function": {"arguments": text[half:]}}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [rest]}}]})
    words_out = len(content.split()) + sum(len(str(c)) // 4 for c in turn.get("tool_calls") or [])
    chunks.append({"choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": words_out}})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


class ScriptedEndpoint:
    """A stand-in chat endpoint replaying `turns` in order; records every request body."""

    def __init__(self, turns: list[Turn]) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import httpx

        body = orjson.loads(request.content)
        self.requests.append(body)
        if not self.turns:
            return httpx.Response(500, json={"error": {"message": "script exhausted"}})
        turn = self.turns.pop(0)
        if callable(turn):
            turn = turn(body["messages"])
        return httpx.Response(
            200, content=_sse_body(turn), headers={"Content-Type": "text/event-stream"}
        )


def scripted(turns: list[Turn]) -> tuple[OpenAIBackend, ScriptedEndpoint]:
    """An `OpenAIBackend` wired to a `ScriptedEndpoint` (no network, no model)."""
    import httpx

    endpoint = ScriptedEndpoint(turns)
    backend = OpenAIBackend(
        "http://127.0.0.1:9/v1", "scripted", transport=httpx.MockTransport(endpoint)
    )
    backend.label = "scripted"
    return backend, endpoint


def make_backend(
    base_url: str | None,
    model: str | None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    allow_remote: bool = False,
    remote_hint: str = CLI_REMOTE_HINT,
) -> Backend:
    """The backend the CLI / page options name: an endpoint, or the local model by default."""
    if base_url:
        check_remote(base_url, allow_remote, remote_hint)
        key = os.environ.get(api_key_env) if api_key_env else None
        return OpenAIBackend(base_url, model or "default", key, allow_remote=allow_remote)
    from tracelab.ask.local import LocalBackend

    return LocalBackend()
