"""`tracelab serve` stays a thin call into tracelab.web: options reach the server, bad input
fails before anything listens, and a non-loopback host gets its warning."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tracelab.ask.settings import BackendSettings
from tracelab.cli import app


def test_serve_resolves_the_trace_and_passes_the_options(monkeypatch, small_trace) -> None:
    seen = {}

    def fake(db, source, **kwargs):
        seen.update(db=db, source=source, **kwargs)

    monkeypatch.setattr("tracelab.web.server.serve", fake)
    r = CliRunner().invoke(
        app, ["serve", "-i", str(small_trace.trace), "--port", "9123", "--no-browser"]
    )
    assert r.exit_code == 0, r.output
    assert seen["source"] == small_trace.trace and seen["db"].suffix == ".duckdb"
    assert (seen["host"], seen["port"], seen["open_browser"]) == ("127.0.0.1", 9123, False)
    assert seen["ask"] == BackendSettings(None, None, "OPENAI_API_KEY")  # the local model


def test_serve_passes_the_ask_backend(monkeypatch, small_trace) -> None:
    seen = {}
    monkeypatch.setattr("tracelab.web.server.serve", lambda db, source, **kw: seen.update(kw))
    r = CliRunner().invoke(
        app,
        ["serve", "--db", str(small_trace.db), "--no-browser", "--ask-base-url",
         "http://127.0.0.1:8000/v1", "--ask-model", "qwen", "--ask-api-key-env", "MY_KEY"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert seen["ask"] == BackendSettings("http://127.0.0.1:8000/v1", "qwen", "MY_KEY")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--ask-base-url", "notaurl", "http:// or https://"),
        ("--ask-base-url", "http://me:secret@127.0.0.1:8000/v1", "must not hold credentials"),
        ("--ask-api-key-env", "sk-abc.def", "name of an environment variable"),
    ],
)
def test_serve_refuses_bad_ask_settings_before_serving(
    monkeypatch, small_trace, option: str, value: str, message: str
) -> None:
    """The Ask page's own rules (`ask.settings`), as one line before the server starts; a
    secret in the value is never echoed."""
    started = []
    monkeypatch.setattr("tracelab.web.server.serve", lambda *a, **kw: started.append(1))
    r = CliRunner().invoke(
        app, ["serve", "--db", str(small_trace.db), "--no-browser", option, value]
    )
    assert r.exit_code == 2 and f"{option}: " in r.output and message in r.output
    assert "secret" not in r.output and "sk-abc" not in r.output and not started


def test_serve_fails_cleanly_on_a_missing_trace(tmp_path) -> None:
    r = CliRunner().invoke(app, ["serve", "-i", str(tmp_path / "nope.jsonl"), "--no-browser"])
    assert r.exit_code == 2
    assert "no such file" in r.output


def test_a_non_loopback_host_prints_a_warning(monkeypatch, small_trace) -> None:
    import uvicorn

    from tracelab.web import server

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    said: list[str] = []
    server.serve(
        small_trace.db, None, host="0.0.0.0", port=9124, open_browser=False, say=said.append
    )
    assert said[0].startswith("WARNING: listening on 0.0.0.0")
    said.clear()
    server.serve(small_trace.db, None, port=9125, open_browser=False, say=said.append)
    assert not any("WARNING" in s for s in said)


def test_the_web_cache_folders_are_the_owners_only(make_client) -> None:
    """The dashboard's JSON kept on disk is built from a private trace: 0700 folders, 0600
    file, whatever the umask."""
    import os
    import stat

    from tracelab.paths import cache_dir

    old = os.umask(0)
    try:
        assert make_client().get("/api/t/main/dashboard").status_code == 200
    finally:
        os.umask(old)
    web = cache_dir() / "web"
    files = list((web / "aggregates").iterdir())
    assert files
    modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in (cache_dir(), web, web / "aggregates")}
    assert set(modes.values()) == {0o700}, modes
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in files} == {0o600}


def test_a_port_in_use_fails_before_serving(small_trace) -> None:
    import socket

    import pytest

    from tracelab.web import server

    said: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(server.ListenError, match=f"port {port} .* already in use"):
            server.serve(small_trace.db, None, port=port, open_browser=False, say=said.append)
    assert said == []
