"""Per-session fingerprints: recognise a session already in the pool under any pseudonym key.

Why not the session id: sanitized ids are keyed pseudonyms, so the same session sanitized by
two people (or with a new key) has two unrelated ids. What the key does not change is the
session's content: its provider, and step by step (in `round_index` order, ties in upload
order) the model, the first event time and the token counts. Their SHA-256 is the
fingerprint; two sessions share it only if they have the same steps with the same numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from tracelab.schema import Row

FINGERPRINT_VERSION = "fp1"
#: Token counts of a step that every provider's rows carry (null where a provider has none).
_TOKENS = (
    "input_tokens_total",
    "prefix_tokens",
    "newly_append_tokens",
    "claude_cache_creation_input_tokens",
    "claude_cache_read_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


def first_time(row: Row) -> str | None:
    for event in row.get("timing_events") or ():
        stamp = event.get("timestamp")
        if stamp:
            return stamp
    return None


def step_key(row: Row) -> tuple:
    """What of one step enters the fingerprint (nothing the pseudonym key changes)."""
    return (row.get("model"), first_time(row), *(row.get(name) for name in _TOKENS))


@dataclass
class SessionIndex:
    """Collects step keys per session while rows stream by; `fingerprints()` at the end."""

    steps: dict[tuple[str, str], list[tuple[int, int, tuple]]] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: Row) -> None:
        session = (row["provider"], row["session_id"])
        self.steps.setdefault(session, []).append((row["round_index"], self.rows, step_key(row)))
        self.rows += 1

    def fingerprints(self) -> dict[tuple[str, str], str]:
        """Session (provider, id) → fingerprint."""
        out = {}
        for (provider, session_id), steps in self.steps.items():
            steps.sort(key=lambda s: (s[0], s[1]))
            h = hashlib.sha256(f"{FINGERPRINT_VERSION}\x00{provider}\x00".encode())
            for _index, _pos, key in steps:
                h.update(orjson.dumps(key))
                h.update(b"\n")
            out[(provider, session_id)] = f"{FINGERPRINT_VERSION}:{h.hexdigest()}"
        return out
