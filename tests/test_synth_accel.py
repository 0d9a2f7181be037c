"""The synthesizer's compiled hot modules: used only while they match their sources, and
writing exactly the bytes the pure-Python modules write."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracelab.synth import accel, generate_home
from tracelab.synth.profile import read_profile_json

SYNTH_DIR = Path(accel.__file__).resolve().parent


def _fake_build(root: Path) -> Path:
    """A copy of the hot sources with a manifest and (empty) compiled files that match them."""
    for name in accel.MODULES:
        shutil.copyfile(SYNTH_DIR / f"{name}.py", root / f"{name}.py")
    (root / accel.COMPILED_DIR).mkdir()
    for name in accel.MODULES:
        (root / accel.COMPILED_DIR / f"{name}{accel.ext_suffix()}").write_bytes(b"")
    accel.write_manifest(root, accel.source_hashes(root), "test compiler")
    return root


def test_check_accepts_a_build_that_matches_its_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(accel.PURE_ENV, raising=False)
    files, status = accel.check(_fake_build(tmp_path))
    assert status == "compiled (test compiler)"
    assert files is not None and sorted(files) == sorted(accel.MODULES)
    assert files["claude"] == tmp_path / accel.COMPILED_DIR / f"claude{accel.ext_suffix()}"


def test_check_refuses_a_stale_build(tmp_path, monkeypatch):
    monkeypatch.delenv(accel.PURE_ENV, raising=False)
    root = _fake_build(tmp_path)
    with (root / "workload.py").open("a", encoding="utf-8") as fh:
        fh.write("\n# edited after the build\n")
    files, status = accel.check(root)
    assert files is None
    assert status == "pure Python: workload.py changed since the compiled modules were built"


def test_check_refuses_a_missing_file_another_interpreter_or_no_build(tmp_path, monkeypatch):
    monkeypatch.delenv(accel.PURE_ENV, raising=False)
    root = _fake_build(tmp_path)
    (root / accel.COMPILED_DIR / f"codex{accel.ext_suffix()}").unlink()
    files, status = accel.check(root)
    assert files is None and status == f"pure Python: codex{accel.ext_suffix()} is missing"

    manifest_path = root / accel.COMPILED_DIR / accel.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["ext_suffix"] = ".cpython-299-other.so"
    manifest_path.write_text(json.dumps(manifest))
    files, status = accel.check(root)
    assert files is None and "cpython-299-other" in status

    for broken in ("[1, 2]", '{"format": 2, "sha256": ["not", "a", "dict"]}', "{not json"):
        manifest_path.write_text(broken)
        files, status = accel.check(root)
        assert files is None and status.startswith("pure Python: the compiled modules")

    manifest_path.unlink()
    files, status = accel.check(root)
    assert files is None and status.startswith("pure Python: the compiled modules are not built")


def test_the_environment_variable_forces_pure_python(tmp_path, monkeypatch):
    root = _fake_build(tmp_path)
    monkeypatch.setenv(accel.PURE_ENV, "1")
    assert accel.check(root) == (None, f"pure Python: {accel.PURE_ENV} is set")
    monkeypatch.setenv(accel.PURE_ENV, "0")
    assert accel.check(root)[0] is not None


def _hashes(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def _variant_profile(path: Path) -> Path:
    """The study profile plus a tool neither writer knows by name, its latency on a linear
    scale: the writers' generic-tool paths and the linear quantile interpolation."""
    data = read_profile_json("study")
    for provider in data["providers"].values():
        provider["tools"]["mcp__docs__lookup"] = {
            "share": 0.2,
            "latency_ms": {"q": [0, 0.5, 1], "v": [40, 900, 30000], "scale": "linear"},
            "error_rate": 0.1,
        }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("variant", [False, True], ids=["study", "variant"])
def test_compiled_and_pure_writers_write_the_same_bytes(tmp_path, variant):
    """The compiled modules are a speed-up only: 80 sessions (every forced rare feature,
    subagents, compactions) hash the same as the pure-Python modules' in a subprocess."""
    if not accel.active():
        pytest.skip(f"this install has no compiled synth modules ({accel.status()})")
    profile = str(_variant_profile(tmp_path / "variant.json")) if variant else "study"
    compiled, pure = tmp_path / "compiled", tmp_path / "pure"
    summary = generate_home(compiled, sessions=80, seed=11, workers=1, profile=profile)
    script = (
        "import sys; from pathlib import Path\n"
        "from tracelab.synth import accel, generate_home\n"
        "assert not accel.active(), accel.status()\n"
        "generate_home(Path(sys.argv[1]), sessions=80, seed=11, workers=1, profile=sys.argv[2])\n"
    )
    env = {**os.environ, accel.PURE_ENV: "1"}
    subprocess.run([sys.executable, "-c", script, str(pure), profile], check=True, env=env)
    ours, theirs = _hashes(compiled), _hashes(pure)
    assert len(ours) == summary.files + 1  # the logs and SYNTHETIC.txt
    assert ours == theirs


def test_synth_says_when_its_writers_ran_as_pure_python(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tracelab import cli

    monkeypatch.setattr(cli, "SYNTH_SLOW_NOTE_SESSIONS", 2)
    monkeypatch.setattr(accel, "_status", "pure Python: codex.py changed since the build")
    args = ["synth", "-o", str(tmp_path / "home"), "--sessions", "2", "--workers", "1"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "ran as pure Python: codex.py changed since the build" in text
    assert "uv sync --reinstall-package tracelab" in text

    monkeypatch.setattr(accel, "_status", "compiled (Cython 3)")
    result = CliRunner().invoke(cli.app, [*args[:2], str(tmp_path / "home2"), *args[3:]])
    assert result.exit_code == 0 and "pure Python" not in result.output
