"""Which chat backend to use (a base URL, a model, the name of the key's variable) and a
question's limits.

Its own small module (no httpx, no DuckDB) so `tracelab serve` can take the Ask page's
defaults before the web stack is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
#: A question's model turns and seconds (model and queries): defaults and the largest allowed,
#: the same for `tracelab ask` and the Ask page.
DEFAULT_MAX_TURNS = 6
MAX_TURNS_LIMIT = 20
DEFAULT_TIME_LIMIT_S = 180.0
MAX_TIME_LIMIT_S = 900.0


@dataclass(frozen=True)
class BackendSettings:
    """An OpenAI-compatible endpoint (`base_url`, `model`), or the local model (no base URL).
    The key is never held here: only the name of the environment variable that holds it."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV


class SettingsError(ValueError):
    """A backend setting refused: one line, never echoing a secret it may hold."""


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_base_url(raw: str | None) -> str | None:
    """The base URL checked (http/https, a host, no credentials); empty: the local model."""
    url = (raw or "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise SettingsError("the base URL must be an http:// or https:// address")
    if parts.username or parts.password:  # never echoed: it holds a secret
        raise SettingsError(
            "the base URL must not hold credentials: put the key in an environment variable "
            "of the server and name it as the key variable"
        )
    return url


def check_key_env(raw: str | None) -> str:
    """An environment variable's *name*; something else (a pasted key) is refused unechoed."""
    name = (raw or "").strip() or DEFAULT_API_KEY_ENV
    if not _ENV_NAME.fullmatch(name):
        raise SettingsError(
            "the key variable must be the name of an environment variable (letters, digits, "
            "_), e.g. OPENAI_API_KEY — never the key itself"
        )
    return name
