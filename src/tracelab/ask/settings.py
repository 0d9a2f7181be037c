"""Which chat backend to use: a base URL, a model, the name of the key's variable.

Its own small module (no httpx, no DuckDB) so `tracelab serve` can take the Ask page's
defaults before the web stack is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class BackendSettings:
    """An OpenAI-compatible endpoint (`base_url`, `model`), or the local model (no base URL).
    The key is never held here: only the name of the environment variable that holds it."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
