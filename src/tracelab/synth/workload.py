"""The workload model both raw-log writers share: every number a session draws from its profile.

`Sampler` turns one provider's profile and a session's RNG into the draws a writer needs
(requests, loop lengths, tool calls and their latencies, token counts, generation times, human
waits). `Context` is the session's context window and prompt cache, step by step:

- the first step's input `C_0` and prefix come from `first_context` / `first_prefix`;
- every later step adds what the previous step wrote (its output) and what is new (the user's
  message or the tool results: `user_fresh` / `tool_fresh` by context size):
  `C_i = C_{i−1} + O_{i−1} + fresh`;
- on a cache hit the prefix is the previous step's whole prompt (`C_{i−1}`) — plus its output
  for models that cache the output (`output_resend` false); a model that re-sends its output
  appends it again. A miss (probability by the step's idle gap and kind) keeps only a
  `miss_prefix` (e.g. the cached system prompt) or a `miss_keep` share of the previous prompt,
  whichever is larger; the miss probability scales with (context / 100k)^`miss_context_exponent`;
- near the model's context limit (`tool_threshold` / `user_threshold` × limit, checked at tool-
  and user-initiated steps) the context is compacted to `summary_tokens`, its prefix drawn like
  a session's first step (`first_prefix`);
- with `user_reduction.probability` a user-initiated step drops earlier context (`tokens`), as
  Codex drops a finished turn's reasoning; the cache then serves only up to the previous turn
  — as it does, with probability `cache.turn_prefix`, for any user-initiated step (the
  finished turn is re-sent).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator

from tracelab.synth.profile import Dist, Model, ProviderProfile, Tool, Weights

#: The context size (tokens) at which the gap-and-kind miss probabilities apply unscaled.
MISS_CONTEXT_REF = 100_000
#: A step's fresh text is written at this many characters per token, up to `TEXT_CAP`
#: characters: the token counts are the workload; the text only has to look plausible.
#: Real logs carry the whole text (tool outputs of several KB): a `text_cap` of about
#: 20,000 writes logs of their density (9–10 KB per step), for benchmarks that need it.
CHARS_PER_TOKEN = 4
TEXT_CAP = 200


_QUICK = Dist((0.0, 1.0), (20.0, 200.0))
_SQRT_HALF = math.sqrt(0.5)
_erf = math.erf
_TWOPI, _sqrt, _log, _cos, _sin = 2.0 * math.pi, math.sqrt, math.log, math.cos, math.sin


class Sampler:
    """One provider's profile drawn with one session's RNG."""

    def __init__(
        self,
        profile: ProviderProfile,
        rng: random.Random,
        strata: Strata | None = None,
        text_cap: int = TEXT_CAP,
    ) -> None:
        self.p = profile
        self.rng = rng
        self.r = rng.random
        self.text_cap = text_cap
        # Stratified uniforms for the session's first model, its context limit, request count
        # and (single-request session) loop length; used once each, then the RNG takes over.
        self.u_model, self.u_limit, self.u_requests, self.u_single = strata or (None,) * 4
        tools = profile.tools
        total = sum(t.share for t in tools)
        acc, cum = 0.0, []
        for t in tools:
            acc += t.share / total
            cum.append(acc)
        cum[-1] = 1.0
        self.tools = tools
        cum[-1] = 2.0  # a draw of exactly 1.0 still lands on the last tool
        self.tool_cum = cum
        self.features = profile.features
        self.by_name = {t.name: t for t in tools}
        total = sum(m.share for m in profile.models)
        acc, mcum = 0.0, []
        for m in profile.models:
            acc += m.share / total
            mcum.append(acc)
        mcum[-1] = 2.0
        self.model_cum = mcum
        self.rho = profile.tool_latency_correlation
        self.rho_a = math.sqrt(profile.tool_latency_correlation)
        self.rho_b = math.sqrt(1.0 - profile.tool_latency_correlation)
        self.request_z = 0.0
        # The per-step draws' samplers, bound once (they run several times per step).
        self._output = (
            profile.output_final_step.sample,
            profile.output_user_step.sample,
            profile.output_tool_step.sample,
        )
        self._user_fresh = profile.user_fresh.sample
        self._tool_edges = profile.tool_fresh.edges
        self._tool_dists = profile.tool_fresh.dists
        self._ttft = profile.ttft_ms.sample
        self._ms_per_token = profile.ms_per_token.sample
        self._overhead = profile.tool_overhead_ms.sample

    # --- structure ------------------------------------------------------------------------

    def _once(self, slot: str) -> float:
        """The stratified uniform of `slot` the first time, a random one afterwards."""
        u = getattr(self, slot)
        if u is None:
            return self.r()
        setattr(self, slot, None)
        return u

    def model(self) -> Model:
        return self.p.models[bisect_right(self.model_cum, self._once("u_model"))]

    def requests(self) -> int:
        n = max(1, int(self.p.requests_per_session.sample(self._once("u_requests"))))
        if n > 1:
            self.u_single = None  # the loop stratum is for a session of one request only
        return n

    def tool_steps(self, single: bool) -> int:
        if single:
            d, u = self.p.tool_steps_single_request, self._once("u_single")
        else:
            d, u = self.p.tool_steps_per_request, self.r()
        return max(0, int(d.sample(u)))

    def request_steps(
        self, n_loop: int, single: bool, interrupt: bool
    ) -> Iterator[tuple[bool, int, bool]]:
        """(user-initiated, tool calls, final) of each step of a request: `n_loop` steps that
        call tools, then the final answer, which calls none — unless the user `interrupt`s the
        request while its last call runs. Each step's count is drawn when the writer asks for
        it (after the previous step's results), from `tools_weights`: the request's first
        step's, then the rest's."""
        user, w = True, self.tools_weights(True, single)
        for i in range(n_loop + 1):
            final = i == n_loop
            if final and not interrupt:
                n_tools = 0
            else:
                n_tools = w.sample(self.r())
                if n_tools < 1:
                    n_tools = 1
            yield user, n_tools, final
            if user:
                user, w = False, self.tools_weights(False, single)

    def tools_weights(self, user: bool, single: bool) -> Weights:
        """The tool calls of a step that calls tools (`user`: a request's user-initiated step;
        `single`: in a session of one request)."""
        p = self.p
        if single:
            return p.tools_per_step_single
        return p.tools_per_user_step if user else p.tools_per_step

    def tool_named(self, name: str) -> Tool:
        """The profile's tool `name`, or a quick one (a forced subagent call the mix lacks)."""
        tool = self.by_name.get(name)
        return tool if tool is not None else Tool(name, 0.0, _QUICK, 0.0)

    def tool(self, exclude: frozenset[str] = frozenset(), tries: int = 8) -> Tool:
        """A tool drawn from the mix; names in `exclude` are drawn again (a subagent cannot
        start another subagent, …), `tries` draws at most. The first draw is the hot path
        (every tool call of every step), so it runs without the loop."""
        tools, cum, r = self.tools, self.tool_cum, self.r
        tool = tools[bisect_right(cum, r())]
        if tool.name not in exclude:
            return tool
        for _ in range(tries - 1):
            tool = tools[bisect_right(cum, r())]
            if tool.name not in exclude:
                return tool
        return next(t for t in tools if t.name not in exclude)

    # --- numbers --------------------------------------------------------------------------

    def new_request(self) -> None:
        """Start a request: draw its shared latency factor (see `latency_ms`)."""
        self.request_z = self.rng.gauss()

    def latency_ms(self, tool: Tool) -> int:
        """A tool call's effective latency. Calls of one request are correlated through a
        Gaussian copula: the call's quantile is Φ(√ρ·z_request + √(1−ρ)·z_call), so every call
        still follows its tool's distribution while slow calls cluster in slow requests."""
        d = tool.latency_ms
        if d is None:
            return 1
        if self.rho:
            # `rng.gauss()`, inlined: the same state (`gauss_next`), draws and arithmetic.
            rng = self.rng
            g = rng.gauss_next
            rng.gauss_next = None
            if g is None:
                x2pi = self.r() * _TWOPI
                g2rad = _sqrt(-2.0 * _log(1.0 - self.r()))
                g = _cos(x2pi) * g2rad
                rng.gauss_next = _sin(x2pi) * g2rad
            z = self.rho_a * self.request_z + self.rho_b * (0.0 + g)
            u = 0.5 * (1.0 + _erf(z * _SQRT_HALF))
        else:
            u = self.r()
        ms = round(d.sample(u))
        return ms if ms > 1 else 1

    def overhead_ms(self) -> int:
        ms = round(self._overhead(self.r()))
        return ms if ms > 0 else 0

    def is_error(self, tool: Tool) -> bool:
        return self.r() < tool.error_rate

    def fresh(self, user: bool, context: int) -> int:
        """New tokens a step brings: the user's message, or the tool results (by the size of
        the `context` they join)."""
        if user:
            sample = self._user_fresh
        else:  # `tool_fresh.of(context)`, inlined
            sample = self._tool_dists[bisect_right(self._tool_edges, context)].sample
        tokens = int(sample(self.r()))
        return tokens if tokens > 1 else 1

    def tool_results(self, context: int, calls: int) -> tuple[int, int]:
        """(fresh tokens, characters of text per result) of the results of `calls` tool calls
        joining a `context` of that size: `fresh(False, context)` spread over the calls."""
        tokens = int(self._tool_dists[bisect_right(self._tool_edges, context)].sample(self.r()))
        if tokens < 1:
            tokens = 1
        chars = tokens * CHARS_PER_TOKEN
        if chars > self.text_cap:
            chars = self.text_cap
        return tokens, max(1, chars // calls)

    def output(self, final: bool, user: bool) -> int:
        """Output tokens of a step: a final answer (no tool call), or a tool-calling step that
        starts a request (`user`) or continues it."""
        sample = self._output[0 if final else 1 if user else 2]
        tokens = int(sample(self.r()))
        return tokens if tokens > 1 else 1

    def reasoning(self, output: int) -> int:
        d = self.p.reasoning_share
        if d is None:
            return 0
        return min(output, int(output * d.sample(self.r())))

    def generation(self, output: int) -> tuple[int, int]:
        """(time to first token, whole generation time) of a step writing `output` tokens."""
        ttft = round(self._ttft(self.r()))
        if ttft < 1:
            ttft = 1
        return ttft, ttft + round(output * self._ms_per_token(self.r()))

    def ms_per_token(self) -> float:
        return self.p.ms_per_token.sample(self.r())

    def human_wait_ms(self) -> int:
        return max(1, round(self.p.human_wait_ms.sample(self.r())))

    def chars(self, tokens: int) -> int:
        """Characters of filler text standing for `tokens` tokens."""
        chars = tokens * CHARS_PER_TOKEN
        return chars if chars < self.text_cap else self.text_cap

    def feature(self, name: str) -> bool:
        return self.r() < self.features[name]


#: Bases of the Halton sequence giving each session-level draw its stratified uniform.
_HALTON_BASES = (2, 3, 5, 7)
STRATA = len(_HALTON_BASES)

Strata = tuple[float, float, float, float]


def _radical_inverse(n: int, base: int) -> float:
    value, scale = 0.0, 1.0
    while n:
        n, digit = divmod(n, base)
        scale /= base
        value += digit * scale
    return value


def strata(n: int, offsets: Strata) -> Strata:
    """Stratified uniforms (model, context limit, request count, single-request loop) of a
    provider's n-th session: the Halton point n + 1 (bases 2, 3, 5, 7) shifted by `offsets`
    (mod 1). Session-level draws are few (thousands, heavy-tailed), so independent draws leave
    e.g. the mean steps per session 10 % off at random; a low-discrepancy sequence follows the
    profile's distributions closely for any number of sessions, and Halton's dimensions stay
    uncorrelated even in the tails (the model of a long session is drawn like any other)."""
    return tuple(  # type: ignore[return-value]
        (_radical_inverse(n + 1, b) + o) % 1.0 for b, o in zip(_HALTON_BASES, offsets, strict=True)
    )


class Context:
    """A session's context window and prompt cache (see the module docstring)."""

    __slots__ = (
        "first",
        "limit",
        "p",
        "prev_c",
        "prev_o",
        "r",
        "resend",
        "round",
        "turn_c",
    )

    def __init__(self, sampler: Sampler, model: Model) -> None:
        self.p = sampler.p
        self.r = sampler.r
        limits = model.context_limits
        if len(limits) == 1:
            self.limit = limits[0][0]
        else:  # the session's window, drawn by the limits' shares
            u = sampler._once("u_limit") * sum(w for _, w in limits)
            for limit, w in limits:
                self.limit = limit
                u -= w
                if u < 0:
                    break
        self.resend = model.output_resend
        self.round = self.p.prefix_round
        self.prev_c = 0  # C of the previous step
        self.prev_o = 0  # its output tokens
        self.turn_c = 0  # C of the current request's user-initiated step
        self.first = True

    def fork(self, sampler: Sampler, model: Model) -> Context:
        """A copy continuing from this context (a subagent forked from its parent)."""
        other = Context(sampler, model)
        other.prev_c, other.prev_o, other.turn_c = self.prev_c, self.prev_o, self.turn_c
        other.first = self.first
        return other

    @property
    def size(self) -> int:
        return self.prev_c + self.prev_o

    def _draw(self, d: Dist) -> int:
        return max(0, int(d.sample(self.r())))

    def step(self, user: bool, gap_ms: float, fresh: int) -> tuple[int, int, bool]:
        """(prefix, append, compacted) of the next call: `user` tells whether it is
        user-initiated, `gap_ms` is its idle gap, `fresh` the new tokens it brings."""
        p = self.p
        compacted = False
        if self.first:
            self.first = False
            c = max(1, self._draw(p.first_context), fresh)
            prefix = min(self._draw(p.first_prefix), c)
        else:
            base = self.prev_c + self.prev_o
            threshold = p.compaction_user_threshold if user else p.compaction_tool_threshold
            if base >= threshold * self.limit:
                compacted = True
                c = self._draw(p.compaction_summary) + fresh
                prefix = min(self._draw(p.first_prefix), c)  # a fresh context, as at the start
            else:
                reduced = bool(
                    user
                    and p.user_reduction_probability
                    and self.r() < p.user_reduction_probability
                )
                if reduced:
                    c = max(1, self.prev_c - max(1, self._draw(p.user_reduction_tokens)))
                else:
                    c = base + fresh
                # P(miss) (`_miss`, inlined: this runs at every step).
                m = p.miss  # `m.of(user, gap_ms)`, inlined
                miss = (m.user if user else m.tool)[bisect_right(m.gap_ms, gap_ms)]
                k = p.miss_context_exponent
                if k and self.prev_c > 0:
                    miss *= (self.prev_c / MISS_CONTEXT_REF) ** k
                if self.r() < miss:
                    # what a miss still serves: the cached system prompt, or part of the
                    # previous prompt (a partial miss)
                    keep = int(p.miss_keep.sample(self.r()) * self.prev_c)
                    prefix = min(max(self._draw(p.miss_prefix), keep), c)
                elif reduced or (user and p.turn_prefix and self.r() < p.turn_prefix):
                    prefix = min(self.turn_c, c)  # the cache ends where the last turn began
                else:
                    prefix = self.prev_c if self.resend else base
        if self.round > 1:
            prefix -= prefix % self.round
        self.prev_c = c
        self.prev_o = 0
        if user:
            self.turn_c = c
        return prefix, c - prefix, compacted

    def _miss(self, user: bool, gap_ms: float) -> float:
        """P(cache miss) of the next step: by its idle gap and kind, scaled by the size of the
        context it resumes ((C / 100k)^exponent: large contexts are evicted sooner)."""
        p = self.p.miss.of(user, gap_ms)
        k = self.p.miss_context_exponent
        if k and self.prev_c > 0:
            p *= (self.prev_c / MISS_CONTEXT_REF) ** k
        return p

    def output(self, tokens: int) -> None:
        self.prev_o = tokens


def lognormal(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    """A log-normal integer clamped to [lo, hi] (sizes of incidental text)."""
    return int(min(hi, max(lo, math.exp(math.log(median) + sigma * rng.gauss()))))
