"""The Ask page's API: a question about the trace the page shows, answered as a stream.

The same pieces as `tracelab ask` (`tracelab.ask`): the trace's `Sandbox` (the public copy —
sanitized columns only — kept open per trace and shared by its conversations; its queries are
serialized by its own lock), a backend from `make_backend` (the local model by default, or an
OpenAI-compatible endpoint; `check_remote` refuses one not on loopback unless the page's
remote switch is on — the rule of `--allow-remote`), and a `Conversation` whose messages
persist, so a follow-up names its conversation id and continues it.

`POST /api/ask` streams server-sent events (`data: {"kind": …}` lines) from the loop's
callbacks: `conversation`, `status`, `token`, `tool_call`, `evidence` (the query, the result
table, a chart spec), `error`, `answer`, `done`. The page reads them with `fetch` (a POST
carries the app's token; `EventSource` cannot). Everything the request names is checked
before the stream starts, so bad input is a 4xx JSON answer with one clear message.

The API key is never part of a request: the page names an environment variable of the server
process, whose value goes only into the endpoint's `Authorization` header — never into an
answer, a message or a log.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tracelab.ask.backends import Backend, BackendError, RemoteRefused, make_backend
from tracelab.ask.loop import Conversation
from tracelab.ask.sandbox import Sandbox
from tracelab.ask.settings import (
    DEFAULT_MAX_TURNS,
    DEFAULT_TIME_LIMIT_S,
    MAX_TIME_LIMIT_S,
    MAX_TURNS_LIMIT,
    BackendSettings,
    SettingsError,
    check_base_url,
    check_key_env,
)
from tracelab.web.traces import TraceStore, start_idle_reaper

MAX_QUESTION_CHARS = 2000
#: Conversations kept per server (the least recently used beyond it are forgotten), and how
#: long an unused one is kept.
MAX_CONVERSATIONS = 32
CONVERSATION_IDLE_S = 3600.0
#: What the page's switch is called in a refusal (`check_remote`'s hint).
REMOTE_HINT = "turn on the remote switch to allow it"


class AskRequest(BaseModel):
    trace: str = Field(max_length=200)
    question: str
    #: A conversation to continue (a follow-up); none starts one with the settings below.
    conversation: str | None = Field(None, max_length=64)
    base_url: str | None = Field(None, max_length=500)
    model: str | None = Field(None, max_length=200)
    api_key_env: str | None = Field(None, max_length=200)
    allow_remote: bool = False
    max_turns: int = Field(DEFAULT_MAX_TURNS, ge=1, le=MAX_TURNS_LIMIT)
    time_limit_s: float = Field(DEFAULT_TIME_LIMIT_S, gt=0, le=MAX_TIME_LIMIT_S)


def local_problem() -> str | None:
    """Why the local model cannot run here (None: it can), without importing llama.cpp."""
    from tracelab.ask.local import EXTRA_HINT, smollm2_gguf

    if importlib.util.find_spec("llama_cpp") is None:
        return EXTRA_HINT
    try:
        smollm2_gguf()
    except BackendError as exc:
        return str(exc)
    return None


def no_backend(problem: str) -> str:
    return (
        f"no backend available: {problem}; or enter the base URL of an OpenAI-compatible "
        "server (vLLM, Ollama, a llama.cpp server, …)"
    )


def question_text(raw: str) -> str:
    question = raw.strip()
    if not question:
        raise HTTPException(422, "the question is empty: type a question about the trace")
    if len(question) > MAX_QUESTION_CHARS:
        raise HTTPException(
            422,
            f"the question is too long: {len(question):,} characters, at most "
            f"{MAX_QUESTION_CHARS:,}",
        )
    return question


def endpoint_url(raw: str | None) -> str | None:
    """`settings.check_base_url`, refused as a 422."""
    try:
        return check_base_url(raw)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from None


def key_env_name(raw: str | None) -> str:
    """`settings.check_key_env`, refused as a 422 (never echoing the value)."""
    try:
        return check_key_env(raw)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from None


@dataclass
class _Chat:
    """One conversation of the page: its trace, its backend, a lock (one question at a time)."""

    id: str
    trace: str
    backend: Backend
    max_turns: int
    time_limit_s: float
    conversation: Conversation | None = None
    busy: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class _Held:
    """A trace's open sandbox and the database state it was built from."""

    db: Path
    stamp: tuple[int, int]
    sandbox: Sandbox
    last_used: float = field(default_factory=time.monotonic)


class AskService:
    """The Ask page's sandboxes (one per trace) and conversations."""

    def __init__(self, defaults: BackendSettings | None = None) -> None:
        """`defaults`: the backend the page starts with (`serve --ask-…`; none: local)."""
        self.defaults = defaults or BackendSettings()
        self._sandboxes: dict[str, _Held] = {}  # by trace id
        self._sandbox_locks: dict[str, threading.Lock] = {}
        self._chats: dict[str, _Chat] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- settings --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """What the page starts with: the default backend, whether its key variable is set
        (never its value), whether the local model can run, the limits."""
        d = self.defaults
        problem = local_problem()
        return {
            "defaults": {
                "base_url": d.base_url or "",
                "model": d.model or "",
                "api_key_env": d.api_key_env,
                "key_set": bool(os.environ.get(d.api_key_env)),
            },
            "local": {"available": problem is None, "problem": problem},
            "no_backend": no_backend(problem) if problem and not d.base_url else None,
            "limits": {
                "max_turns": DEFAULT_MAX_TURNS,
                "max_turns_limit": MAX_TURNS_LIMIT,
                "time_limit_s": DEFAULT_TIME_LIMIT_S,
                "time_limit_max_s": MAX_TIME_LIMIT_S,
                "question_chars": MAX_QUESTION_CHARS,
            },
        }

    # --- sandboxes -------------------------------------------------------------------------

    def sandbox(self, store: TraceStore) -> Sandbox:
        """The trace's sandbox, opened on first use (the public copy is built then, once per
        database state) or again after an idle close; a changed database file gets a new one."""
        st = store.db.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            lock = self._sandbox_locks.setdefault(store.id, threading.Lock())
        with lock:
            held = self._sandboxes.get(store.id)
            if held is not None and (held.db, held.stamp) == (store.db, stamp):
                held.last_used = time.monotonic()
                return held.sandbox
            if held is not None:
                held.sandbox.close()
            sandbox = Sandbox(store.db, prices=store.prices)
            self._sandboxes[store.id] = _Held(store.db, stamp, sandbox)
            return sandbox

    def _drop(self, held: list[_Held], delete: bool = False) -> None:
        for h in held:
            h.sandbox.close()
            if delete:
                h.sandbox.path.unlink(missing_ok=True)

    def close_idle(self, idle_s: float) -> int:
        """Close the sandboxes unused for `idle_s` seconds and not answering (their DuckDB
        memory is released; the next question opens one again). Returns how many closed."""
        now = time.monotonic()
        with self._lock:
            busy = {c.trace for c in self._chats.values() if c.busy.locked()}
            idle = [
                t
                for t, h in self._sandboxes.items()
                if t not in busy and now - h.last_used >= idle_s
            ]
            dropped = [self._sandboxes.pop(t) for t in idle]
        self._drop(dropped)
        return len(dropped)

    def start_reaper(self, idle_s: float) -> threading.Thread:
        """A daemon thread running `close_idle(idle_s)` until `close` (`start_idle_reaper`, as
        for the traces' own connections)."""
        return start_idle_reaper(
            self._stop, idle_s, lambda: self.close_idle(idle_s), "ask-idle-close"
        )

    def sweep(self, live: set[str]) -> None:
        """Forget conversations unused too long (or too many) and close the sandboxes of
        traces no longer served — their public copy is deleted with them (a removed upload
        leaves nothing behind)."""
        now = time.monotonic()
        with self._lock:
            chats = sorted(self._chats.values(), key=lambda c: c.last_used, reverse=True)
            for i, chat in enumerate(chats):
                idle = now - chat.last_used > CONVERSATION_IDLE_S
                if (idle or i >= MAX_CONVERSATIONS or chat.trace not in live) and (
                    chat.busy.acquire(blocking=False)
                ):
                    del self._chats[chat.id]
                    _close_backend(chat.backend)
                    chat.busy.release()
            gone = [t for t in self._sandboxes if t not in live]
            dropped = [self._sandboxes.pop(t) for t in gone]
        self._drop(dropped, delete=True)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            dropped = list(self._sandboxes.values())
            self._sandboxes.clear()
            chats = list(self._chats.values())
            self._chats.clear()
        for chat in chats:
            _close_backend(chat.backend)
        self._drop(dropped)

    # --- conversations ---------------------------------------------------------------------

    def chat_for(self, body: AskRequest, store: TraceStore) -> _Chat:
        """The conversation a request continues, or a new one with its backend made now (a
        refused or unavailable backend is a 4xx/503 before anything streams)."""
        if body.conversation:
            chat = self._chats.get(body.conversation)
            if chat is None:
                raise HTTPException(
                    404, "this conversation is gone (the server restarted or forgot it): "
                    "start a new conversation",
                )  # fmt: skip
            if chat.trace != store.id:
                raise HTTPException(409, "this conversation is about another trace")
            return chat
        base_url = endpoint_url(body.base_url)
        key_env = key_env_name(body.api_key_env)
        if base_url is None:
            problem = local_problem()
            if problem is not None:
                raise HTTPException(503, no_backend(problem))
        try:
            backend = make_backend(
                base_url, (body.model or "").strip() or None, key_env, body.allow_remote,
                remote_hint=REMOTE_HINT,
            )  # fmt: skip
        except RemoteRefused as exc:
            raise HTTPException(403, str(exc)) from None
        except (BackendError, ImportError) as exc:
            raise HTTPException(503, f"no backend available: {exc}") from None
        chat = _Chat(secrets.token_hex(8), store.id, backend, body.max_turns, body.time_limit_s)
        with self._lock:
            self._chats[chat.id] = chat
        return chat

    def stream(self, chat: _Chat, store: TraceStore, question: str) -> Iterator[bytes]:
        """The answer as server-sent events; the loop runs in a thread and the events pass
        through a queue (a client that goes away leaves it to finish within its limits)."""
        if not chat.busy.acquire(blocking=False):
            raise HTTPException(409, "this conversation is still answering; wait for it")
        events: queue.Queue[tuple[str, Any] | None] = queue.Queue()

        def emit(kind: str, payload: Any) -> None:
            events.put((kind, payload))

        def run() -> None:
            try:
                if store.id not in self._sandboxes:
                    emit("status", "opening the trace (sanitized columns only)")
                sandbox = self.sandbox(store)  # opened again if an idle close released it
                if chat.conversation is None:
                    chat.conversation = Conversation(
                        sandbox, chat.backend,
                        max_turns=chat.max_turns, time_limit_s=chat.time_limit_s,
                    )  # fmt: skip
                chat.conversation.sandbox = sandbox
                emit("status", f"asking {chat.backend.label}")
                chat.conversation.ask(question, emit)
            except Exception as exc:  # a failure is the stream's error event, never a dead page
                emit("error", _one_line(exc))
            finally:
                chat.last_used = time.monotonic()
                held = self._sandboxes.get(store.id)
                if held is not None:
                    held.last_used = chat.last_used
                chat.busy.release()
                events.put(None)

        emit("conversation", {"id": chat.id, "trace": chat.trace, "backend": chat.backend.label})
        threading.Thread(target=run, daemon=True, name=f"ask-{chat.id}").start()

        def frames() -> Iterator[bytes]:
            while (item := events.get()) is not None:
                yield _frame(*item)
            yield _frame("done", None)

        return frames()


def _close_backend(backend: Backend) -> None:
    """An endpoint backend's HTTP client is closed with its conversation."""
    close = getattr(backend, "close", None)
    if callable(close):
        close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _frame(kind: str, payload: Any) -> bytes:
    return b"data: " + orjson.dumps({"kind": kind, "data": payload}) + b"\n\n"


def router(state) -> APIRouter:
    """The routes over `state.ask` (an `AskService`) and the app's traces."""
    api = APIRouter(prefix="/api/ask")
    service: AskService = state.ask

    @api.get("")
    def settings() -> dict[str, Any]:
        return service.settings()

    @api.post("")
    def ask(body: AskRequest) -> StreamingResponse:
        question = question_text(body.question)
        store = state.traces.get(body.trace)
        if store is None:
            raise HTTPException(404, f"no trace {body.trace[:80]!r}")
        service.sweep({t.id for t in state.traces.all()})
        chat = service.chat_for(body, store)
        return StreamingResponse(
            service.stream(chat, store, question),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return api
