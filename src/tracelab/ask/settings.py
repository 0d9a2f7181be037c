"""Which chat backend to use (a base URL, a model, the name of the key's variable) and a
question's limits.

Its own small module (no httpx, no DuckDB) so `tracelab serve` can take the Ask page's
defaults before the web stack is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

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
