"""Shared test setup: isolate every test from the real home, and locate the real fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
REAL_HOME = FIXTURES / "home-real-examples"
HANDMADE_HOME = FIXTURES / "home-handmade"
CLAUDE_REAL = (
    REAL_HOME / ".claude/projects/-workspace-project/2f8b1c4d-6a73-4e9b-91c0-5d7f3a8e2b46.jsonl"
)
CODEX_REAL = (
    REAL_HOME
    / ".codex/sessions/2026/03/21"
    / "rollout-2026-03-21T10-05-38-01a7c9e4-6d12-7b3a-9f42-8c6d5e1a0b73.jsonl"
)

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason="../shared/fixtures (real agent logs) is absent: only CI and dev checkouts have it",
)


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test reads or writes the real ~/.config/tracelab or ~/.cache/tracelab."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("TRACELAB_CONFIG_DIR", str(state / "config"))
    monkeypatch.setenv("TRACELAB_CACHE_DIR", str(state / "cache"))
