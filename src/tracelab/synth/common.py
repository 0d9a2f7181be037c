"""Shared building blocks of the synthetic log writers: ids, clock, filler text, numbers.

Everything is drawn from one `random.Random` so a seed fixes every byte written; there is no
wall-clock time and no `uuid4()`. Filler text is sliced out of a fixed corpus built once at
import, because generating text character by character would dominate the run time.
"""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass, field
from functools import lru_cache

from tracelab.synthmarks import SYNTHETIC_ROOT

#: 2026-01-05T09:00:00Z in epoch milliseconds: the synthetic timeline starts here.
BASE_MS = 1_767_603_600_000
PROJECT_NAMES = (
    "orbit-api",
    "lumen-ui",
    "ferry-cli",
    "quartz-db",
    "atlas-infra",
    "cobalt-ml",
    "harbor-docs",
    "nimbus-sdk",
)

_PROSE = (
    "the function returns a list of parsed records and the caller checks each value before "
    "writing config cache index request response handler module test fixture build deploy "
    "schema migration table column query result error warning retry timeout buffer stream "
    "token session user client server worker queue event loop thread lock file path directory "
    "import export class method field option flag argument default value string integer float "
    "update create delete read write open close parse format render validate compute merge "
    "branch commit diff patch review lint type check coverage benchmark latency throughput "
    "memory disk network socket port host route endpoint payload header status code version"
)
_WORDS = tuple(_PROSE.split())
_CODE = (
    "def handle(request):",
    "    return self._cache.get(key, default)",
    "for item in items:",
    "    if not item.valid:",
    "        continue",
    "class Worker(BaseWorker):",
    "import os, sys, json",
    "    raise ValueError(f'bad value: {value!r}')",
    "assert result == expected",
    "const config = loadConfig(process.env);",
    "fn main() -> Result<(), Error> {",
    "SELECT id, name FROM users WHERE active = 1;",
    "    logger.info('processed %d rows', count)",
    "}",
)


def _build_corpus(size: int) -> str:
    """A fixed mix of prose and code-looking lines to slice filler from."""
    rng = random.Random(0x5EED)
    parts: list[str] = []
    total = 0
    while total < size:
        if rng.random() < 0.35:
            line = rng.choice(_CODE)
        else:
            line = " ".join(rng.choices(_WORDS, k=rng.randint(6, 16)))
        parts.append(line)
        total += len(line) + 1
    return "\n".join(parts)


CORPUS = _build_corpus(1 << 20)
B64_CORPUS = base64.b64encode(random.Random(0xB64).randbytes(1 << 18)).decode()


_CORPUS_SIZE = len(CORPUS)


def filler(rng: random.Random, n: int, corpus: str = CORPUS) -> str:
    """`n` characters of plausible text (a slice of the corpus at a random offset)."""
    size = _CORPUS_SIZE if corpus is CORPUS else len(corpus)
    # Clamped with comparisons, not min/max: this runs several times per step.
    if n >= size:
        n = size - 1
    elif n < 0:
        n = 0
    start = int(rng.random() * (size - n))
    return corpus[start : start + n]


@lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))


#: "SS.mmmZ" by milliseconds into a minute (60,000 strings, ~3 MB, built once): a timestamp
#: is then a cached minute prefix plus one of these, at a third of the cost of formatting it.
_SECOND_MS = tuple(f"{s:02d}.{ms:03d}Z" for s in range(60) for ms in range(1000))
#: "YYYY-MM-DDTHH:MM:" by epoch minute. A session's records cluster in its minutes (tool
#: latencies are seconds, so seconds rarely repeat, minutes do); bounded by clearing.
_MINUTE_PREFIX: dict[int, str] = {}
_MINUTE_PREFIX_MAX = 1 << 12


def _minute_prefix(minutes: int) -> str:
    day, minute = divmod(minutes, 1440)
    hour, minute = divmod(minute, 60)
    if len(_MINUTE_PREFIX) >= _MINUTE_PREFIX_MAX:
        _MINUTE_PREFIX.clear()
    prefix = f"{_iso_day(day)}{hour:02d}:{minute:02d}:"
    _MINUTE_PREFIX[minutes] = prefix
    return prefix


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as both agents write timestamps."""
    minutes, rest = divmod(ms, 60_000)
    prefix = _MINUTE_PREFIX.get(minutes)
    if prefix is None:
        prefix = _minute_prefix(minutes)
    return prefix + _SECOND_MS[rest]


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4_like(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from the RNG (deterministic, unlike uuid.uuid4)."""
    h = rng.getrandbits(128).to_bytes(16, "big").hex()  # twice as fast as a format spec
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def uuid7_like(rng: random.Random, ms: int) -> str:
    """A UUIDv7-shaped id: its string sorts by the millisecond timestamp `ms` (Codex ids)."""
    h = f"{ms:012x}7{rng.getrandbits(12):03x}{8 | rng.getrandbits(2):x}{rng.getrandbits(60):015x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pick(rng: random.Random, seq: tuple | list) -> object:
    """An element of `seq` (random.choice without its rejection sampling: one draw)."""
    return seq[int(rng.random() * len(seq))]


def hex_id(rng: random.Random, digits: int) -> str:
    """`digits` random hex digits (the hex of bytes: a third cheaper than a format spec)."""
    bits = rng.getrandbits(4 * digits)
    if digits % 2:
        return f"{bits:0{digits}x}"
    return bits.to_bytes(digits // 2, "big").hex()


_ALNUM = str.maketrans({"-": "x", "_": "Q", "=": ""})


def alnum_id(rng: random.Random, length: int) -> str:
    """`length` letters and digits (base64 of random bytes, its two symbols replaced)."""
    raw = base64.urlsafe_b64encode(rng.randbytes((length * 3 + 3) // 4)).decode()
    return raw.translate(_ALNUM)[:length]


def project_path(name: str) -> str:
    return f"{SYNTHETIC_ROOT}/{name}"


def project_dir(cwd: str) -> str:
    """Claude's project directory name: the working directory with `/` replaced by `-`."""
    return cwd.replace("/", "-")


def user_text(rng: random.Random, chars: int = 160) -> str:
    """A user prompt of about `chars` characters; always marked so nobody mistakes it for a
    real person's words."""
    return "[synthetic] " + filler(rng, chars)


@dataclass
class SessionOutput:
    """Files of one top-level session (plus its subagents/copies) and what they contain."""

    files: list[tuple[str, bytes]] = field(default_factory=list)  # (path relative to home, data)
    sessions: int = 0
    steps: int = 0
    tool_calls: int = 0
    end_ms: int = 0
    #: The steps each session was written with, in order: normalized session id →
    #: [(prefix tokens, append tokens, output tokens, tool calls), …] — what a correct
    #: collector must read back.
    intended: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)
