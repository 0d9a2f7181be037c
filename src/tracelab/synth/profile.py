"""Workload profiles: what `tracelab synth` draws from, as a small versioned JSON document.

A profile (format `tracelab-synth-profile/1`) describes a coding-agent workload per provider
with empirical distributions — never raw content — so it can be shared instead of a trace:

- **distributions** are quantile tables `{"q": [0, …, 1], "v": […], "scale": "log"|"linear"}`
  sampled by inverse-CDF interpolation: a uniform draw u in [q_i, q_{i+1}] gives the value
  between v_i and v_{i+1} at the same fraction (of log v on the "log" scale; a segment with an
  end at 0 is interpolated linearly). So the value at u = q_i is exactly v_i. Counts take the
  integer part of the draw.
- **discrete distributions** are weights `{"1": 0.8, "2": 0.15, …}` (normalized on load).
- per provider: session share, model mix (share, context limit, whether a step's output is
  re-sent as the next step's append), requests per session, tool-initiated steps per request
  (in multi-request and in single-request sessions), tool calls per tool-calling step (user-
  and tool-initiated steps; any step of a single-request session), tool mix (share,
  effective-latency distribution, error rate; latencies correlated within a request), token
  distributions, generation time (TTFT + per-token time), human waits, cache misses by idle
  gap and step kind (scaled by (context / 100k tokens)^exponent), compaction and
  context-reduction behaviour, and the rates of raw-format features (interrupts, subagents,
  echoes, …).
- **targets**: the calibrated quantities (keys of `tracelab.synth.calibration`) with the value
  the generated workload should reproduce and where that value comes from.

`load_profile("study")` is the packaged profile calibrated to the study; `load_profile(path)`
reads a JSON file and validates it strictly: a bad file gets a `ProfileError` naming the field.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

_exp = math.exp  # a global, not an attribute lookup, in `Dist.sample` (called per draw)

FORMAT = "tracelab-synth-profile/1"
PACKAGED = ("study",)
PROVIDERS = ("claude", "codex")
SCALES = ("log", "linear")
#: Claude tools that run a subagent session: their latency is that session's run time.
SUBAGENT_TOOLS = ("Agent", "Task")

#: Raw-format feature rates per provider and their defaults (probabilities). They shape the
#: files (parser traps), not the calibrated quantities.
FEATURE_DEFAULTS: dict[str, dict[str, float]] = {
    "claude": {
        "interrupt": 0.12,  # the session ends on a tool call whose result never arrives
        "synthetic": 0.15,  # a `<synthetic>` assistant message between two requests
        "backup": 0.05,  # a `.claude.back` copy of the session file
        "growing_usage": 0.3,  # earlier lines of a response carry a smaller usage
        "thinking": 0.6,  # a response starts with a thinking block
        "text_with_tools": 0.4,  # a tool-calling response also writes text
        "attachment": 0.3,  # an attachment record after a prompt
        "stop_hook": 0.5,  # a stop-hook summary after a request
        "snapshot_update": 0.1,  # a file-history snapshot update after tool results
    },
    "codex": {
        "interrupt": 0.12,
        "echo": 0.12,  # a token_count repeated with the same total (not a step)
        "null_info": 0.3,  # a token_count with `info: null` after a prompt
        "exec_end": 0.2,  # an exec_command_end event beside a command's output
        "patch_end": 0.3,  # a patch_apply_end event beside a patch's output
        "reasoning_item": 0.3,  # a response without reasoning tokens has a reasoning item
        "text_with_tools": 0.35,
        "running": 0.06,  # a command is still running when its output is written
    },
}


class ProfileError(ValueError):
    """A profile that is not valid, with the path of the offending field."""


# --- distributions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """A quantile table sampled by inverse-CDF interpolation (see the module docstring)."""

    q: tuple[float, ...]
    v: tuple[float, ...]
    scale: str = "log"

    def __post_init__(self) -> None:
        # Per segment i (u in [q_i, q_i+1)): (q_i, v_i, base, slope, on the log scale); one
        # more entry for u ≥ 1. Sampling is then a bisect and one multiply-add (and an exp).
        q, v = self.q, self.v
        segments = []
        for i in range(len(q) - 1):
            dq = q[i + 1] - q[i]
            if v[i] == v[i + 1]:
                segments.append((q[i], v[i], v[i], 0.0, False))
            elif self.scale == "log" and v[i] > 0:
                base = math.log(v[i])
                segments.append((q[i], v[i], base, (math.log(v[i + 1]) - base) / dq, True))
            else:
                segments.append((q[i], v[i], v[i], (v[i + 1] - v[i]) / dq, False))
        segments.append((q[-1], v[-1], v[-1], 0.0, False))
        # Indexed by bisect_right itself (≥ 1): entry 0 is never drawn, it saves a subtraction.
        object.__setattr__(self, "_segments", (segments[0], *segments))

    def sample(self, u: float) -> float:
        """The value at cumulative probability `u` (0 ≤ u ≤ 1)."""
        # q[0] = 0 ≤ u, so bisect_right is ≥ 1; u ≥ 1 lands on the extra last entry.
        q0, v0, base, slope, log = self._segments[bisect_right(self.q, u)]  # type: ignore[attr-defined]
        if u == q0:
            return v0  # exactly the table's value at its own quantile
        value = base + (u - q0) * slope
        return _exp(value) if log else value

    def quantile(self, u: float) -> float:
        return self.sample(u)

    def to_json(self) -> dict[str, Any]:
        return {"q": list(self.q), "v": list(self.v), "scale": self.scale}


@dataclass(frozen=True)
class Weights:
    """A discrete distribution over integer values, sampled by one uniform draw."""

    values: tuple[int, ...]
    cumulative: tuple[float, ...]  # normalized, last = 1

    def __post_init__(self) -> None:
        # The values with the last repeated: a draw at or past the last cumulative share
        # (bisect_right = len) lands on it without clamping the index (drawn at every step).
        object.__setattr__(self, "_padded", (*self.values, self.values[-1]))

    def sample(self, u: float) -> int:
        return self._padded[bisect_right(self.cumulative, u)]  # type: ignore[attr-defined]

    def mean(self) -> float:
        prev, total = 0.0, 0.0
        for value, cum in zip(self.values, self.cumulative, strict=True):
            total += value * (cum - prev)
            prev = cum
        return total

    def to_json(self) -> dict[str, float]:
        prev, out = 0.0, {}
        for value, cum in zip(self.values, self.cumulative, strict=True):
            out[str(value)] = round(cum - prev, 6)
            prev = cum
        return out


@dataclass(frozen=True)
class Binned:
    """Distributions by bins of a quantity: bin i is [edges[i-1], edges[i])."""

    edges: tuple[float, ...]
    dists: tuple[Dist, ...]

    def of(self, x: float) -> Dist:
        return self.dists[bisect_right(self.edges, x)]


# --- the profile --------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A model of the mix. `context_limits` are (limit, weight): a session draws its limit
    (e.g. a 200k window, or the same model with a 1M window)."""

    name: str
    share: float
    context_limits: tuple[tuple[int, float], ...]
    output_resend: bool

    @property
    def context_limit(self) -> int:
        """The largest limit (the window a client reports)."""
        return max(limit for limit, _ in self.context_limits)


@dataclass(frozen=True)
class Tool:
    name: str
    share: float
    latency_ms: Dist | None  # None: the latency comes from the call itself (a subagent)
    error_rate: float


@dataclass(frozen=True)
class MissProbability:
    """P(cache miss) by the step's idle gap: bin i is [gap_ms[i-1], gap_ms[i]) (ms)."""

    gap_ms: tuple[float, ...]
    user: tuple[float, ...]
    tool: tuple[float, ...]

    def of(self, user: bool, gap_ms: float) -> float:
        i = bisect_right(self.gap_ms, gap_ms)
        return (self.user if user else self.tool)[i]


@dataclass(frozen=True)
class ProviderProfile:
    name: str
    session_share: float
    models: tuple[Model, ...]
    requests_per_session: Dist
    tool_steps_per_request: Dist
    tool_steps_single_request: Dist
    tools_per_step: Weights
    tools_per_user_step: Weights
    tools_per_step_single: Weights
    tools: tuple[Tool, ...]
    tool_overhead_ms: Dist
    tool_latency_correlation: float
    first_context: Dist
    first_prefix: Dist
    user_fresh: Dist
    tool_fresh: Binned
    output_user_step: Dist
    output_tool_step: Dist
    output_final_step: Dist
    reasoning_share: Dist | None
    ttft_ms: Dist
    ms_per_token: Dist
    human_wait_ms: Dist
    miss: MissProbability
    miss_prefix: Dist
    miss_keep: Dist
    miss_context_exponent: float
    prefix_round: int
    turn_prefix: float
    compaction_tool_threshold: float
    compaction_user_threshold: float
    compaction_summary: Dist
    user_reduction_probability: float
    user_reduction_tokens: Dist
    features: dict[str, float] = field(default_factory=dict)

    def model_weights(self) -> tuple[list[Model], list[float]]:
        return list(self.models), [m.share for m in self.models]


@dataclass(frozen=True)
class Target:
    key: str
    value: float
    source: str
    bound: str | None = None  # "lower": the achieved value must be at least `value`
    tolerance: float | None = None  # relative; None: the check's default

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "value": self.value, "source": self.source}
        if self.bound is not None:
            out["bound"] = self.bound
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        return out


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    session_gap_ms: Dist
    providers: dict[str, ProviderProfile]
    targets: tuple[Target, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def provider_shares(self, chosen: tuple[str, ...]) -> dict[str, float]:
        """Session shares of the `chosen` providers, renormalized to sum to 1."""
        missing = [p for p in chosen if p not in self.providers]
        if missing:
            raise ProfileError(
                f"profile {self.name!r} has no provider {', '.join(missing)} "
                f"(it has {', '.join(self.providers)})"
            )
        total = sum(self.providers[p].session_share for p in chosen)
        if total <= 0:
            return {p: 1 / len(chosen) for p in chosen}
        return {p: self.providers[p].session_share / total for p in chosen}

    def to_json(self) -> dict[str, Any]:
        return self.raw


# --- validation ---------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _obj(value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()):
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: expected an object, got {_type_name(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ProfileError(f"{path}: missing {', '.join(repr(k) for k in missing)}")
    unknown = [k for k in value if k not in required and k not in optional]
    if unknown:
        allowed = ", ".join(repr(k) for k in (*required, *optional))
        raise ProfileError(
            f"{path}: unknown field {', '.join(repr(k) for k in unknown)} (allowed: {allowed})"
        )
    return value


def _num(value: Any, path: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{path}: expected a number, got {_type_name(value)}")
    if not math.isfinite(value):
        raise ProfileError(f"{path}: must be finite, got {value}")
    if lo is not None and value < lo:
        raise ProfileError(f"{path}: must be ≥ {lo}, got {value}")
    if hi is not None and value > hi:
        raise ProfileError(f"{path}: must be ≤ {hi}, got {value}")
    return float(value)


def _prob(value: Any, path: str) -> float:
    return _num(value, path, 0.0, 1.0)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{path}: expected a string, got {_type_name(value)}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"{path}: expected true or false, got {_type_name(value)}")
    return value


def dist(value: Any, path: str) -> Dist:
    """Validate a quantile table (see the module docstring) and build its sampler."""
    d = _obj(value, path, ("q", "v"), ("scale",))
    qs, vs = d["q"], d["v"]
    for key, seq in (("q", qs), ("v", vs)):
        if not isinstance(seq, list):
            raise ProfileError(f"{path}.{key}: expected a list, got {_type_name(seq)}")
    if len(qs) < 2:
        raise ProfileError(f"{path}.q: needs at least 2 points (q = 0 and q = 1)")
    if len(qs) != len(vs):
        raise ProfileError(f"{path}: q has {len(qs)} points but v has {len(vs)}")
    q = tuple(_num(x, f"{path}.q[{i}]", 0.0, 1.0) for i, x in enumerate(qs))
    v = tuple(_num(x, f"{path}.v[{i}]") for i, x in enumerate(vs))
    if q[0] != 0.0 or q[-1] != 1.0:
        raise ProfileError(f"{path}.q: must start at 0 and end at 1, got {q[0]} … {q[-1]}")
    for i in range(1, len(q)):
        if q[i] <= q[i - 1]:
            raise ProfileError(f"{path}.q: must be strictly increasing (q[{i}] = {q[i]})")
        if v[i] < v[i - 1]:
            raise ProfileError(
                f"{path}.v: must be non-decreasing (v[{i}] = {v[i]} < v[{i - 1}] = {v[i - 1]})"
            )
    scale = d.get("scale", "log")
    if scale not in SCALES:
        raise ProfileError(f"{path}.scale: must be 'log' or 'linear', got {scale!r}")
    if scale == "log" and v[0] < 0:
        raise ProfileError(f"{path}.v: a log-scale table needs values ≥ 0, got {v[0]}")
    return Dist(q, v, scale)


def binned(value: Any, path: str, edges_key: str, dists_key: str) -> Binned:
    """Distributions by bins: `{edges_key: [e1, …], dists_key: [table, …]}` (one more table
    than edges; bin i is [e_(i-1), e_i))."""
    b = _obj(value, path, (edges_key, dists_key))
    edges, tables = b[edges_key], b[dists_key]
    if not isinstance(edges, list):
        raise ProfileError(f"{path}.{edges_key}: expected a list")
    if not isinstance(tables, list) or len(tables) != len(edges) + 1:
        raise ProfileError(
            f"{path}.{dists_key}: expected a list of {len(edges) + 1} distributions "
            f"(one per bin of {edges_key})"
        )
    e = tuple(_num(x, f"{path}.{edges_key}[{i}]", 0) for i, x in enumerate(edges))
    if any(b <= a for a, b in pairwise(e)):
        raise ProfileError(f"{path}.{edges_key}: must be strictly increasing")
    return Binned(e, tuple(dist(t, f"{path}.{dists_key}[{i}]") for i, t in enumerate(tables)))


def weights(value: Any, path: str) -> Weights:
    if not isinstance(value, dict) or not value:
        raise ProfileError(f"{path}: expected a non-empty object of value → weight")
    items = []
    for key, w in value.items():
        try:
            k = int(key)
        except ValueError:
            raise ProfileError(f"{path}: key {key!r} is not an integer") from None
        if k < 0 or str(k) != key:
            raise ProfileError(f"{path}: key {key!r} must be a non-negative integer")
        items.append((k, _num(w, f"{path}.{key}", 0.0)))
    total = sum(w for _, w in items)
    if total <= 0:
        raise ProfileError(f"{path}: weights sum to 0")
    items.sort()
    cum, acc = [], 0.0
    for _, w in items:
        acc += w / total
        cum.append(acc)
    cum[-1] = 1.0
    return Weights(tuple(k for k, _ in items), tuple(cum))


def _limits(value: Any, path: str) -> tuple[tuple[int, float], ...]:
    """A context limit (tokens) or weights {limit: share} of several limits."""
    if not isinstance(value, dict):
        return ((int(_num(value, path, 1024)), 1.0),)
    if not value:
        raise ProfileError(f"{path}: expected a number or a non-empty object of limit → share")
    out = []
    for key, share in value.items():
        try:
            limit = int(key)
        except ValueError:
            raise ProfileError(f"{path}: key {key!r} is not a token count") from None
        if limit < 1024:
            raise ProfileError(f"{path}: limit {limit} is below 1024 tokens")
        out.append((limit, _num(share, f"{path}.{key}", 0.0)))
    _shares([w for _, w in out], path)
    return tuple(sorted(out))


def _shares(value: Any, path: str) -> None:
    total = sum(value)
    if total <= 0:
        raise ProfileError(f"{path}: shares sum to 0")


_PROVIDER_FIELDS = (
    "session_share",
    "models",
    "requests_per_session",
    "tool_steps_per_request",
    "tool_steps_single_request",
    "tools_per_step",
    "tools_per_user_step",
    "tools_per_step_single",
    "tools",
    "tool_overhead_ms",
    "tool_latency_correlation",
    "tokens",
    "generation",
    "human_wait_ms",
    "cache",
    "context",
)
_TOKEN_FIELDS = (
    "first_context",
    "first_prefix",
    "user_fresh",
    "tool_fresh",
    "output_user_step",
    "output_tool_step",
    "output_final_step",
)


def _provider(name: str, value: Any, path: str) -> ProviderProfile:
    p = _obj(value, path, _PROVIDER_FIELDS, ("features",))
    models_obj = p["models"]
    if not isinstance(models_obj, dict) or not models_obj:
        raise ProfileError(f"{path}.models: expected a non-empty object of model name → model")
    models = []
    for mname, m in models_obj.items():
        mp = f"{path}.models.{mname}"
        m = _obj(m, mp, ("share", "context_limit", "output_resend"))
        models.append(
            Model(
                mname,
                _num(m["share"], f"{mp}.share", 0.0),
                _limits(m["context_limit"], f"{mp}.context_limit"),
                _bool(m["output_resend"], f"{mp}.output_resend"),
            )
        )
    _shares([m.share for m in models], f"{path}.models")

    tools_obj = p["tools"]
    if not isinstance(tools_obj, dict) or not tools_obj:
        raise ProfileError(f"{path}.tools: expected a non-empty object of tool name → tool")
    tools = []
    for tname, t in tools_obj.items():
        tp = f"{path}.tools.{tname}"
        t = _obj(t, tp, ("share", "latency_ms", "error_rate"))
        latency = None if t["latency_ms"] is None else dist(t["latency_ms"], f"{tp}.latency_ms")
        if latency is None and tname not in SUBAGENT_TOOLS:
            raise ProfileError(
                f"{tp}.latency_ms: only a subagent tool ({', '.join(SUBAGENT_TOOLS)}) may have "
                "no latency distribution (its latency is the subagent's run)"
            )
        tools.append(
            Tool(tname, _num(t["share"], f"{tp}.share", 0.0), latency, _prob(t["error_rate"], tp))
        )
    _shares([t.share for t in tools], f"{path}.tools")

    tok = _obj(p["tokens"], f"{path}.tokens", _TOKEN_FIELDS, ("reasoning_share",))
    reasoning = tok.get("reasoning_share")
    gen = _obj(p["generation"], f"{path}.generation", ("ttft_ms", "ms_per_token"))
    cache = _obj(
        p["cache"],
        f"{path}.cache",
        (
            "miss_probability",
            "miss_context_exponent",
            "miss_prefix",
            "miss_keep",
            "prefix_round",
            "turn_prefix",
        ),
    )
    mp = _obj(
        cache["miss_probability"], f"{path}.cache.miss_probability", ("gap_ms", "user", "tool")
    )
    gaps = mp["gap_ms"]
    if not isinstance(gaps, list):
        raise ProfileError(f"{path}.cache.miss_probability.gap_ms: expected a list")
    gap_ms = tuple(
        _num(g, f"{path}.cache.miss_probability.gap_ms[{i}]", 0) for i, g in enumerate(gaps)
    )
    if any(b <= a for a, b in pairwise(gap_ms)):
        raise ProfileError(f"{path}.cache.miss_probability.gap_ms: must be strictly increasing")
    probs = {}
    for kind in ("user", "tool"):
        seq = mp[kind]
        kp = f"{path}.cache.miss_probability.{kind}"
        if not isinstance(seq, list) or len(seq) != len(gap_ms) + 1:
            raise ProfileError(
                f"{kp}: expected a list of {len(gap_ms) + 1} probabilities (one per gap bin)"
            )
        probs[kind] = tuple(_prob(x, f"{kp}[{i}]") for i, x in enumerate(seq))
    ctx = _obj(p["context"], f"{path}.context", ("compaction", "user_reduction"))
    comp = _obj(
        ctx["compaction"],
        f"{path}.context.compaction",
        ("tool_threshold", "user_threshold", "summary_tokens"),
    )
    red = _obj(ctx["user_reduction"], f"{path}.context.user_reduction", ("probability", "tokens"))
    features = dict(FEATURE_DEFAULTS.get(name, {}))
    if "features" in p:
        fobj = p["features"]
        if not isinstance(fobj, dict):
            raise ProfileError(f"{path}.features: expected an object")
        for key, rate in fobj.items():
            if key not in features:
                allowed = ", ".join(FEATURE_DEFAULTS.get(name, {})) or "none"
                raise ProfileError(f"{path}.features: unknown feature {key!r} (allowed: {allowed})")
            features[key] = _prob(rate, f"{path}.features.{key}")
    return ProviderProfile(
        name=name,
        session_share=_num(p["session_share"], f"{path}.session_share", 0.0),
        models=tuple(models),
        requests_per_session=dist(p["requests_per_session"], f"{path}.requests_per_session"),
        tool_steps_per_request=dist(p["tool_steps_per_request"], f"{path}.tool_steps_per_request"),
        tool_steps_single_request=dist(
            p["tool_steps_single_request"], f"{path}.tool_steps_single_request"
        ),
        tools_per_step=weights(p["tools_per_step"], f"{path}.tools_per_step"),
        tools_per_user_step=weights(p["tools_per_user_step"], f"{path}.tools_per_user_step"),
        tools_per_step_single=weights(p["tools_per_step_single"], f"{path}.tools_per_step_single"),
        tools=tuple(tools),
        tool_overhead_ms=dist(p["tool_overhead_ms"], f"{path}.tool_overhead_ms"),
        tool_latency_correlation=_prob(
            p["tool_latency_correlation"], f"{path}.tool_latency_correlation"
        ),
        first_context=dist(tok["first_context"], f"{path}.tokens.first_context"),
        first_prefix=dist(tok["first_prefix"], f"{path}.tokens.first_prefix"),
        user_fresh=dist(tok["user_fresh"], f"{path}.tokens.user_fresh"),
        tool_fresh=binned(
            tok["tool_fresh"], f"{path}.tokens.tool_fresh", "context_tokens", "fresh"
        ),
        output_user_step=dist(tok["output_user_step"], f"{path}.tokens.output_user_step"),
        output_tool_step=dist(tok["output_tool_step"], f"{path}.tokens.output_tool_step"),
        output_final_step=dist(tok["output_final_step"], f"{path}.tokens.output_final_step"),
        reasoning_share=None
        if reasoning is None
        else dist(reasoning, f"{path}.tokens.reasoning_share"),
        ttft_ms=dist(gen["ttft_ms"], f"{path}.generation.ttft_ms"),
        ms_per_token=dist(gen["ms_per_token"], f"{path}.generation.ms_per_token"),
        human_wait_ms=dist(p["human_wait_ms"], f"{path}.human_wait_ms"),
        miss=MissProbability(gap_ms, probs["user"], probs["tool"]),
        miss_prefix=dist(cache["miss_prefix"], f"{path}.cache.miss_prefix"),
        miss_keep=dist(cache["miss_keep"], f"{path}.cache.miss_keep"),
        miss_context_exponent=_num(
            cache["miss_context_exponent"], f"{path}.cache.miss_context_exponent", -4.0, 4.0
        ),
        prefix_round=int(_num(cache["prefix_round"], f"{path}.cache.prefix_round", 1)),
        turn_prefix=_prob(cache["turn_prefix"], f"{path}.cache.turn_prefix"),
        compaction_tool_threshold=_num(
            comp["tool_threshold"], f"{path}.context.compaction.tool_threshold", 0.05, 1.0
        ),
        compaction_user_threshold=_num(
            comp["user_threshold"], f"{path}.context.compaction.user_threshold", 0.05, 1.0
        ),
        compaction_summary=dist(
            comp["summary_tokens"], f"{path}.context.compaction.summary_tokens"
        ),
        user_reduction_probability=_prob(
            red["probability"], f"{path}.context.user_reduction.probability"
        ),
        user_reduction_tokens=dist(red["tokens"], f"{path}.context.user_reduction.tokens"),
        features=features,
    )


def _targets(value: Any, path: str) -> tuple[Target, ...]:
    from tracelab.synth.calibration import QUANTITY_KEYS

    if not isinstance(value, list):
        raise ProfileError(f"{path}: expected a list of targets")
    out, seen = [], set()
    for i, t in enumerate(value):
        tp = f"{path}[{i}]"
        t = _obj(t, tp, ("key", "value", "source"), ("bound", "tolerance"))
        key = _str(t["key"], f"{tp}.key")
        if key not in QUANTITY_KEYS:
            raise ProfileError(f"{tp}.key: unknown quantity {key!r} (see `tracelab synth check`)")
        if key in seen:
            raise ProfileError(f"{tp}.key: {key!r} is listed twice")
        seen.add(key)
        bound = t.get("bound")
        if bound not in (None, "lower"):
            raise ProfileError(f"{tp}.bound: must be 'lower' or absent, got {bound!r}")
        tol = t.get("tolerance")
        out.append(
            Target(
                key,
                _num(t["value"], f"{tp}.value"),
                _str(t["source"], f"{tp}.source"),
                bound,
                None if tol is None else _num(tol, f"{tp}.tolerance", 0.0),
            )
        )
    return tuple(out)


def validate(data: Any, where: str = "profile") -> Profile:
    """Check a parsed profile document and build the `Profile`; `ProfileError` if invalid."""
    d = _obj(
        data, where, ("format", "name", "session_gap_ms", "providers", "targets"), ("description",)
    )
    if d["format"] != FORMAT:
        raise ProfileError(f"{where}.format: expected {FORMAT!r}, got {d['format']!r}")
    providers_obj = d["providers"]
    if not isinstance(providers_obj, dict) or not providers_obj:
        raise ProfileError(f"{where}.providers: expected an object with claude and/or codex")
    unknown = [p for p in providers_obj if p not in PROVIDERS]
    if unknown:
        raise ProfileError(
            f"{where}.providers: unknown provider {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(PROVIDERS)})"
        )
    providers = {
        name: _provider(name, value, f"{where}.providers.{name}")
        for name, value in providers_obj.items()
    }
    return Profile(
        name=_str(d["name"], f"{where}.name"),
        description=_str(d.get("description", ""), f"{where}.description"),
        session_gap_ms=dist(d["session_gap_ms"], f"{where}.session_gap_ms"),
        providers=providers,
        targets=_targets(d["targets"], f"{where}.targets"),
        raw=data,
    )


def read_profile_json(source: str | Path) -> dict[str, Any]:
    """The JSON document of a packaged profile name or a profile file (not yet validated)."""
    if isinstance(source, str) and source in PACKAGED:
        text = resources.files("tracelab.synth").joinpath(f"profiles/{source}.json").read_text()
        return json.loads(text)
    path = Path(source)
    if not path.is_file():
        raise ProfileError(
            f"{path}: no such profile file (packaged profiles: {', '.join(PACKAGED)})"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{path}: not a JSON document ({exc})") from None


def load_profile(source: str | Path = "study") -> Profile:
    """The packaged profile `source` ("study") or the profile JSON file at `source`."""
    where = source if isinstance(source, str) and source in PACKAGED else Path(source).name
    return validate(read_profile_json(source), str(where))


def dumps_profile(data: dict[str, Any]) -> str:
    """A profile document as indented JSON with each list of numbers on one line."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    # `indent` puts every list item on its own line; JSON strings never hold a raw newline,
    # so a "[\n … \n]" holding only numbers is a list of numbers.
    return _NUMBER_LIST.sub(_one_line, text) + "\n"


_NUMBER_LIST = re.compile(r"\[\n\s*([-0-9.eE+,\s]+?)\n\s*\]")


def _one_line(match: re.Match[str]) -> str:
    return "[" + ", ".join(x.strip() for x in match.group(1).split(",")) + "]"
