"""Who may contribute, how fast, and a record of every request's outcome.

* **Contributor tokens** are issued by the maintainer (`tracelab pool token add NAME`), shown
  once, and stored only as SHA-256 hashes in `tokens.json` (a token is 32 random bytes, so a
  plain hash is enough: there is nothing to brute-force). A request's token is compared with
  every stored hash in constant time. In open mode a request without a token is accepted as
  `open:<hash of its address>`; a request *with* a token that matches nothing is refused in
  every mode (a forged token is never silently downgraded).
* **Rate limits** are token buckets per token and per address, kept in memory.
* **The audit log** (`audit.log`, JSON lines) records time, address, identity, method, route,
  status, bytes and the outcome message of every request — never trace content (the messages
  name fields and line numbers, not values).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tracelab.pool.storage import durable_write, utc_now

TOKEN_PREFIX = "tlp_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}")


class TokenError(ValueError):
    """A token name that cannot be used (bad characters, already issued)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """`tokens.json` of a pool: name → SHA-256 of the token; re-read when the file changes."""

    def __init__(self, pool_root: Path) -> None:
        self.path = Path(pool_root) / "tokens.json"
        self._stamp: tuple[int, int] | None = None
        self._by_name: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._by_name = None, {}
                return self._by_name
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._by_name = orjson.loads(self.path.read_bytes()).get("tokens", {})
                self._stamp = stamp
            return self._by_name

    def names(self) -> list[str]:
        return sorted(self._load())

    def add(self, name: str) -> str:
        """Issue a token for `name`; return it (it is not stored and cannot be shown again)."""
        if not NAME_RE.fullmatch(name):
            raise TokenError(f"token name {name!r}: use 1-64 letters, digits, '.', '_', '-', '@'")
        tokens = dict(self._load())
        if name in tokens:
            raise TokenError(f"a token named {name!r} exists already")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        tokens[name] = {"sha256": _hash(token), "created": utc_now()}
        data = orjson.dumps({"tokens": tokens}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        durable_write(self.path, data + b"\n", 0o600)
        return token

    def identify(self, token: str) -> str | None:
        """The name of the token's holder, or None (every hash is compared)."""
        digest = _hash(token)
        found = None
        for name, record in self._load().items():
            if hmac.compare_digest(record["sha256"], digest):
                found = name
        return found


@dataclass(frozen=True)
class AccessPolicy:
    """Access rules of one server (defaults: tokens required, generous limits)."""

    open_mode: bool = False
    #: requests per second (sustained) and burst, per address and per token
    address_rate: float = 20.0
    address_burst: float = 400.0
    token_rate: float = 50.0
    token_burst: float = 1000.0
    #: open mode: upload starts per address per hour
    open_uploads_per_hour: int = 20


class RateLimiter:
    """Token buckets by key; `take` says how long to wait when the bucket is empty."""

    _MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """0 if allowed (and charged), else the seconds until it would be."""
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (burst, now))
            level = min(burst, level + (now - last) * rate)
            if level < cost:
                self._buckets[key] = (level, now)
                return (cost - level) / rate if rate > 0 else 3600.0
            if len(self._buckets) >= self._MAX_KEYS and key not in self._buckets:
                self._buckets.clear()  # bounded memory; forgetting buckets only loosens limits
            self._buckets[key] = (level - cost, now)
            return 0.0


def address_identity(address: str) -> str:
    """How an open-mode contributor is named in the manifest (not the raw address)."""
    return "open:" + hashlib.sha256(address.encode()).hexdigest()[:12]


class AuditLog:
    """Append-only JSON lines, one per request outcome."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives with the app

    def write(self, **record: Any) -> None:
        line = orjson.dumps({"time": utc_now(), **record}) + b"\n"
        with self._lock:
            self._fh.write(line)

    def close(self) -> None:
        self._fh.close()
