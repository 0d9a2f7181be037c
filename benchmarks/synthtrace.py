"""A synthetic normalized trace shaped like the study's, for the benchmarks (never for results).

Why: the analyses must stay fast at the study's size (≈357k steps, ≈430k tool calls, ≈4.3k
sessions), and a benchmark only means something if the trace exercises every analysis the way
the real one does. So the generator follows the study's published shapes, roughly:

- sessions of several requests (median 1–2, heavy tail); a request is a user-initiated step
  followed by tool-initiated steps (the agent loop), ending in a text answer or an interruption
  that leaves its tool calls unfinished; Claude subagent sessions; 43 users, Sep 2025–Jun 2026;
- priced models (claude-opus-4-7, claude-sonnet-4-6, gpt-5.5, gpt-5.4, …) mixed with a few
  unpriced ones (gpt-5.3-codex, claude-3-7-sonnet, …), a rare switch of model mid-session;
- context that grows by outputs and tool results, hits the prompt cache on tool steps and often
  misses it after a long human wait, compacts near the context limit, and (Codex) shrinks a
  little at user steps; Claude's cache split (uncached / cache creation / cache read);
- Codex reasoning tokens with reasoning events, Claude thinking events, generation spans that
  follow a TTFT plus a per-model decode speed slowed by context;
- tool calls (up to a dozen names per provider) with heavy-tailed wall latencies, Codex
  runner-reported internal latencies plus a residual overhead, some Claude Bash durations,
  errors, parallel calls, a rare clock skew; human waits from seconds to days.

All randomness comes from one seeded `random.Random`: the same `n` and seed give the same file.
Per-row work is a few dict literals and cheap draws (≈10–15k rows/s per core).

    from synthtrace import write_trace
    write_trace(Path("trace.jsonl"), n=357_000)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracelab.io import dumps_clean_row, write_lines
from tracelab.schema import Row, make_trace_key

WINDOW_START_MS = int(datetime(2025, 9, 1, tzinfo=UTC).timestamp() * 1000)
WINDOW_END_MS = int(datetime(2026, 6, 30, tzinfo=UTC).timestamp() * 1000)
CODEX_SESSION_SHARE = 0.37  # 1,589 of 4,265 sessions
SUBAGENT_SHARE = 0.08  # of Claude sessions
INTERRUPT_SHARE = 0.03  # of requests: the user stops the loop mid-tool


@dataclass(frozen=True)
class ToolKind:
    """A tool's latency (log-normal: median ms, sigma), error rate and share of calls."""

    name: str
    weight: float
    median_ms: float
    sigma: float
    error_rate: float = 0.05
    internal_share: float = 0.0  # calls with a runner-reported (internal) latency
    result_tokens: float = 300.0  # median tokens of its result


@dataclass(frozen=True)
class Profile:
    """What differs between the two agents."""

    provider: str
    models: tuple[tuple[str, float], ...]
    speeds: dict[str, float]  # decode tokens/s at empty context
    tools: tuple[ToolKind, ...]
    users: tuple[int, ...]
    limits: tuple[int, ...]  # context limits a session may have
    base_tokens: tuple[int, int]  # system prompt + tool definitions
    requests_mu: float
    loop_mu: float  # log-median of tool-carrying steps per request
    parallel: tuple[int, ...]  # tool calls of a tool-carrying step (uniform pick)
    cache_ttl_s: float
    output_cached: bool  # the prefix of the next step includes this step's output
    store: str


CLAUDE = Profile(
    provider="claude",
    models=(
        ("claude-opus-4-7", 63.1),
        ("claude-opus-4-6", 12.0),
        ("claude-haiku-4-5-20251001", 7.9),
        ("claude-sonnet-4-6", 7.8),
        ("claude-opus-4-8", 7.7),
        ("claude-3-7-sonnet-20250219", 1.0),  # unpriced
        ("claude-opus-4-1-20250805", 0.5),  # unpriced
    ),
    speeds={"haiku": 140.0, "sonnet": 75.0, "opus": 55.0},
    tools=(
        ToolKind("Bash", 30, 1_500, 2.2, 0.11, 0.5, 500),
        ToolKind("Read", 25, 40, 1.0, 0.02, 0.0, 1_200),
        ToolKind("Edit", 15, 90, 1.0, 0.06),
        ToolKind("Grep", 7, 250, 1.1, 0.01, 0.0, 400),
        ToolKind("Glob", 3, 120, 1.0, 0.01, 0.0, 200),
        ToolKind("Write", 4, 80, 0.9, 0.02),
        ToolKind("TodoWrite", 6, 15, 0.8, 0.0, 0.0, 60),
        ToolKind("Task", 2, 90_000, 1.2, 0.03, 0.0, 1_500),
        ToolKind("WebFetch", 1.5, 4_000, 1.0, 0.15, 0.0, 2_000),
        ToolKind("WebSearch", 1, 6_000, 0.8, 0.03, 0.0, 1_500),
        ToolKind("MultiEdit", 1.5, 110, 1.0, 0.05),
        ToolKind("BashOutput", 1, 200, 1.5, 0.01),
        ToolKind("AskUserQuestion", 0.3, 45_000, 1.5, 0.0, 0.0, 50),
        ToolKind("mcp__playwright__browser_click", 0.4, 1_200, 1.0, 0.08),
        ToolKind("ExitPlanMode", 0.3, 20_000, 1.5, 0.1, 0.0, 30),
    ),
    users=tuple(range(0, 37)),
    limits=(200_000, 1_000_000, 1_000_000),
    base_tokens=(14_000, 32_000),
    requests_mu=0.0,
    loop_mu=1.35,
    parallel=(1,) * 17 + (2, 2, 3),
    cache_ttl_s=300.0,
    output_cached=False,
    store=".claude",
)

CODEX = Profile(
    provider="codex",
    models=(
        ("gpt-5.5", 47.5),
        ("gpt-5.4", 26.0),
        ("gpt-5.3-codex", 13.7),  # unpriced
        ("gpt-5.2-codex", 3.4),  # unpriced
        ("gpt-5.4-mini", 5.0),  # unpriced
        ("gpt-5-codex", 4.3),  # unpriced
    ),
    speeds={"mini": 150.0, "gpt-5.5": 65.0, "gpt-5": 80.0},
    tools=(
        ToolKind("exec_command", 62, 450, 2.3, 0.09, 0.93, 600),
        ToolKind("apply_patch", 16, 120, 0.8, 0.04, 0.0, 80),
        ToolKind("write_stdin", 8, 4_000, 1.8, 0.02, 0.9, 400),
        ToolKind("update_plan", 5, 10, 0.6, 0.0, 0.0, 20),
        ToolKind("shell", 3, 700, 2.0, 0.1, 0.9, 600),
        ToolKind("view_image", 1, 60, 0.7, 0.02, 0.0, 1_000),
        ToolKind("web_search", 1, 5_000, 0.9, 0.04, 0.0, 1_500),
        ToolKind("spawn_agent", 0.8, 60_000, 1.3, 0.05, 0.0, 300),
        ToolKind("wait", 0.8, 120_000, 1.2, 0.0, 0.0, 800),
        ToolKind("list_mcp_resources", 0.3, 300, 1.0, 0.05),
        ToolKind("request_user_input", 0.3, 40_000, 1.4, 0.0, 0.0, 50),
        ToolKind("mcp__github__search_issues", 0.5, 1_500, 1.0, 0.1, 0.0, 1_200),
        ToolKind("read_mcp_resource", 0.3, 400, 1.0, 0.05, 0.0, 900),
    ),
    users=tuple(range(21, 43)),
    limits=(258_000,),
    base_tokens=(7_000, 14_000),
    requests_mu=0.55,
    loop_mu=2.0,
    parallel=(1,) * 14 + (2, 2, 2, 3, 4),
    cache_ttl_s=600.0,
    output_cached=True,
    store=".codex",
)


class _Iso:
    """ms since the epoch → ISO-8601 `Z` text; the date/hour/minute part cached (hot path)."""

    def __init__(self) -> None:
        self._minute = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(ms, 60_000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        sec, milli = divmod(rest, 1000)
        return f"{self._prefix}{sec:02d}.{milli:03d}Z"


def _lognormal(rnd: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rnd.gauss(0.0, sigma))


def _speed(profile: Profile, model: str) -> float:
    """Decode tokens/s at empty context: the first speed key found in the model name."""
    for key, speed in profile.speeds.items():
        if key in model:
            return speed
    return 60.0


def _human_wait_ms(rnd: random.Random) -> int:
    """Median ≈ 1.4 min, p90 ≈ 20 min; one in 25 a break of hours to days."""
    if rnd.random() < 0.04:
        return int(rnd.uniform(1, 72) * 3_600_000)
    return max(1_500, int(_lognormal(rnd, 84_000, 2.0)))


class _Session:
    """One session's state while its steps are written."""

    def __init__(self, rnd: random.Random, iso: _Iso) -> None:
        self.rnd, self.iso = rnd, iso
        self.profile = p = CODEX if rnd.random() < CODEX_SESSION_SHARE else CLAUDE
        names, weights = zip(*p.models, strict=True)
        self.model_names, self.model_weights = names, weights
        self.model = rnd.choices(names, weights)[0]
        user_no = rnd.choices(p.users, [1 / (i + 1) for i in range(len(p.users))])[0]
        self.user = f"dev{user_no:02d}"
        self.subagent = p is CLAUDE and rnd.random() < SUBAGENT_SHARE
        key = f"{rnd.getrandbits(128):032x}"
        uuid = f"{key[:8]}-{key[8:12]}-7{key[13:16]}-a{key[17:20]}-{key[20:]}"
        if p is CLAUDE:
            self.project = f"-home-{self.user}-proj{rnd.randrange(12)}"
            name = f"{uuid}/subagents/agent-{key[:8]}" if self.subagent else uuid
            self.session_id = f"claude:{name}"
            self.file = f"/home/{self.user}/.claude/projects/{self.project}/{name}.jsonl"
            self.cwd = None
        else:
            self.project = None
            self.session_id = f"codex:{uuid}"
            self.file = f"/home/{self.user}/.codex/sessions/2026/01/01/rollout-{uuid}.jsonl"
            self.cwd = f"/home/{self.user}/proj{rnd.randrange(12)}"
        self.limit = rnd.choice(p.limits)
        self.base = rnd.randint(*p.base_tokens)
        self.t = rnd.randint(WINDOW_START_MS, WINDOW_END_MS)
        self.round_index = 0
        self.context = 0  # C of the previous step (0: no step yet)
        self.prev_output = 0
        self.turn = ""
        self.turn_steps = 0
        self.tool_weights = [k.weight for k in p.tools]

    # --- the loop -------------------------------------------------------------------------

    def steps(self) -> Iterator[Row]:
        rnd, p = self.rnd, self.profile
        requests = 1 if self.subagent else min(400, max(1, round(_lognormal(rnd, 1.0, 2.0))))
        if p.requests_mu:
            requests = max(requests, round(requests * math.exp(p.requests_mu)))
        for r in range(requests):
            wait = 0 if r == 0 else _human_wait_ms(rnd)
            self.t += wait
            if r and rnd.random() < 0.02:
                self.model = rnd.choices(self.model_names, self.model_weights)[0]
            self.turn = f"019{self.t:013x}-{rnd.getrandbits(48):012x}"
            self.turn_steps = 0
            chars = int(_lognormal(rnd, 400, 1.3))
            pending = [self._user_event(chars)]
            added = max(5, chars // 4)
            loop = int(_lognormal(rnd, math.exp(p.loop_mu), 1.0))
            interrupted = loop > 0 and rnd.random() < INTERRUPT_SHARE
            for j in range(loop + 1):
                final = j == loop
                if final and interrupted:
                    break
                unfinished = interrupted and j == loop - 1
                row, pending, added = self._step(pending, added, wait, final, unfinished)
                wait = 0
                yield row

    def _user_event(self, chars: int) -> dict:
        source = "user.message" if self.profile is CLAUDE else "event_msg.user_message"
        return {
            "event_type": "user_message",
            "timestamp": self.iso(self.t),
            "source": source,
            "content_chars": chars,
        }

    # --- one step -------------------------------------------------------------------------

    def _tokens(self, user_step: bool, wait_ms: int, added: int) -> tuple[int, int]:
        """(prefix, append) of the step: growth, compaction, cache hits and misses."""
        rnd, p = self.rnd, self.profile
        prev = self.context
        if prev == 0:
            return self._cold(self.base + added)
        context = prev + self.prev_output + added
        if p is CODEX and user_step and rnd.random() < 0.3:  # older items dropped
            context = max(self.base, prev - int(_lognormal(rnd, 900, 1.8)) + added)
        if context > 0.92 * self.limit:  # compaction: a summary replaces the history
            return self._cold(self.base + int(_lognormal(rnd, 12_000, 0.5)) + added)
        missed = user_step and wait_ms > p.cache_ttl_s * 1000 and rnd.random() < 0.85
        if missed or rnd.random() < 0.004:
            return self._cold(context)
        cached = prev + (self.prev_output if p.output_cached else 0)
        if p is CODEX:
            cached -= cached % 256  # the cache works in blocks
        prefix = min(cached, context)
        return prefix, context - prefix

    def _cold(self, context: int) -> tuple[int, int]:
        """Only the system prompt (if anything) is still cached."""
        prefix = self.base - self.base % 256 if self.rnd.random() < 0.7 else 0
        prefix = min(prefix, context)
        return prefix, context - prefix

    def _step(
        self, pending: list[dict], added: int, wait_ms: int, final: bool, unfinished: bool
    ) -> tuple[Row, list[dict], int]:
        rnd, p, iso = self.rnd, self.profile, self.iso
        user_step = pending[0]["event_type"] == "user_message"
        prefix, append = self._tokens(user_step, wait_ms, added)
        context = prefix + append
        output = max(1, min(32_000, int(_lognormal(rnd, 600 if final else 190, 1.1))))
        reasoning = None
        if p is CODEX:
            reasoning = int(output * rnd.uniform(0.2, 0.9)) if rnd.random() < 0.6 else 0
        # timing: generation starts at the last input, TTFT then decode slowed by context
        start = self.t
        ttft = int(_lognormal(rnd, 900 + context / 150, 0.6))
        speed = _speed(p, self.model) * (1 - 0.4 * min(context, 1_000_000) / 1_000_000)
        speed *= math.exp(rnd.gauss(0.0, 0.25))
        end = start + ttft + int(output * 1000 / speed)
        events = list(pending)
        thought_at = start + ttft
        if reasoning or (p is CLAUDE and rnd.random() < 0.4):
            thought_at = min(end, thought_at + int((reasoning or output * 0.3) * 1000 / speed))
            event = {"event_type": "reasoning", "timestamp": iso(thought_at)}
            if p is CLAUDE:
                event["source"] = "assistant.content.thinking"
                event["content_chars"] = int(output * rnd.uniform(0.5, 3))
            else:
                event["source"] = "response_item.reasoning"
            events.append(event)
        if final or rnd.random() < 0.35:
            events.append(
                {
                    "event_type": "text",
                    "timestamp": iso(end if final else max(thought_at, (start + ttft + end) // 2)),
                    "source": "assistant.content.text" if p is CLAUDE else "response_item.message",
                    "content_chars": int(output * rnd.uniform(1, 4)),
                }
            )
        tools, results = ([], []) if final else self._tools(end, unfinished)
        events.extend(tool_events(tools, p))
        if p is CODEX:
            events.append(
                {
                    "event_type": "usage_report",
                    "timestamp": iso(end + rnd.randint(20, 200)),
                    "source": "event_msg.token_count",
                }
            )
        row = self._row(prefix, append, output, reasoning, events, tools, pending)
        self.context, self.prev_output = context, output
        self.round_index += 1
        self.turn_steps += 1
        # the next step starts once the last result is back (its events in arrival order)
        results.sort(key=lambda r: r[0])
        self.t = max([end, *(r[0] for r in results)]) + rnd.randint(5, 400)
        return row, [r[2] for r in results], sum(r[1] for r in results)

    def _tools(
        self, emitted: int, unfinished: bool
    ) -> tuple[list[dict], list[tuple[int, int, dict]]]:
        """This step's tool calls and the (ms, tokens, tool_result event) of each result."""
        rnd, p, iso = self.rnd, self.profile, self.iso
        calls, results = [], []
        for i in range(rnd.choice(p.parallel)):
            kind = rnd.choices(p.tools, self.tool_weights)[0]
            call_id = f"call_{rnd.getrandbits(96):024x}"
            at = emitted + 3 * i
            cmd = f"{kind.name} #{rnd.getrandbits(40):x} " + "x" * rnd.randint(5, 200)
            call = {
                "tool_index": i,
                "tool_name": kind.name,
                "tool_call_id": call_id,
                "emitted_at": iso(at),
                "result_at": None,
                "input": {"command": cmd},
                "input_chars": len(cmd) + 14,
                "result_chars": None,
                "tool_wall_latency_ms": None,
                "tool_internal_latency_ms": None,
                "is_error": None,
            }
            calls.append(call)
            if unfinished:
                continue
            latency = max(1, int(_lognormal(rnd, kind.median_ms, kind.sigma)))
            internal = None
            wall = latency
            if rnd.random() < kind.internal_share:
                internal = latency
                if p is CODEX:  # runner overhead on top of the command's own time
                    wall = latency + int(_lognormal(rnd, 130, 1.8))
                else:
                    internal = max(0, latency - rnd.randint(0, 40))
            if rnd.random() < 0.0005:  # clock skew: the result is stamped before the call
                wall = -rnd.randint(1, 500)
            tokens = max(1, int(_lognormal(rnd, kind.result_tokens, 1.4)))
            error = rnd.random() < kind.error_rate
            call["result_at"] = iso(at + wall)
            call["result_chars"] = tokens * 4
            call["tool_wall_latency_ms"] = wall
            call["tool_internal_latency_ms"] = internal
            call["is_error"] = error
            event = {
                "event_type": "tool_result",
                "timestamp": call["result_at"],
                "source": "user.content.tool_result"
                if p is CLAUDE
                else "response_item.function_call_output",
                "tool_call_id": call_id,
                "result_chars": tokens * 4,
                "is_error": error,
            }
            results.append((at + wall, tokens, event))
        return calls, results

    def _row(
        self,
        prefix: int,
        append: int,
        output: int,
        reasoning: int | None,
        events: list[dict],
        tools: list[dict],
        inputs: list[dict],
    ) -> Row:
        claude = self.profile is CLAUDE
        if claude:
            round_id = f"msg_{self.rnd.getrandbits(96):024x}"
            uncached = min(append, self.rnd.randint(1, 12))
        else:
            round_id = f"{self.turn}:{self.turn_steps}"
            uncached = None
        user_chars = sum(e.get("content_chars", 0) for e in inputs)
        tool_chars = sum(e.get("result_chars", 0) for e in inputs)
        users = sum(e["event_type"] == "user_message" for e in inputs)
        return {
            "provider": self.profile.provider,
            "project": self.project,
            "session_id": self.session_id,
            "session_file": self.file,
            "is_subagent": self.subagent,
            "round_index": self.round_index,
            "round_id": round_id,
            "turn_id": None if claude else self.turn,
            "cwd": self.cwd,
            "model": self.model,
            "input_tokens_total": prefix + append,
            "prefix_tokens": prefix,
            "newly_append_tokens": append,
            "claude_uncached_input_tokens": uncached,
            "claude_cache_creation_input_tokens": append - uncached if claude else None,
            "claude_cache_read_input_tokens": prefix if claude else None,
            "output_tokens": output,
            "reasoning_output_tokens": reasoning,
            "timing_events": events,
            "tools": tools,
            "current_user_message_count": users,
            "current_tool_result_count": len(inputs) - users,
            "current_input_event_count": len(inputs),
            "current_user_message_chars": user_chars,
            "current_tool_result_chars": tool_chars,
            "current_input_chars": user_chars + tool_chars,
            "first_input_event_type": inputs[0]["event_type"] if inputs else None,
            "home": f"/home/{self.user}",
            "user": self.user,
            "store": self.profile.store,
            "trace_key": make_trace_key(self.profile.provider, self.session_id, round_id),
        }


def tool_events(tools: list[dict], profile: Profile) -> list[dict]:
    """The tool_call timing events of a step's calls."""
    source = "assistant.content.tool_use" if profile is CLAUDE else "response_item.function_call"
    return [
        {
            "event_type": "tool_call",
            "timestamp": t["emitted_at"],
            "source": source,
            "tool_call_id": t["tool_call_id"],
            "tool_name": t["tool_name"],
            "tool_index": t["tool_index"],
        }
        for t in tools
    ]


def synth_rows(n: int, seed: int = 7) -> Iterator[Row]:
    """Yield `n` step rows, session after session (each session's steps in order)."""
    rnd = random.Random(seed)
    iso = _Iso()
    made = 0
    while made < n:
        for row in _Session(rnd, iso).steps():
            yield row
            made += 1
            if made >= n:
                return


def write_trace(path: Path, n: int, seed: int = 7) -> int:
    """Write `n` synthetic steps to `path` (.jsonl / .jsonl.gz), atomically; returns rows."""
    return write_lines((dumps_clean_row(row) for row in synth_rows(n, seed)), path)
