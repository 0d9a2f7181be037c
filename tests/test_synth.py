"""The synthetic raw-log generator: deterministic, laid out and shaped like the real agents'
logs, and its summary counts are exactly what an independent reading of the raw lines finds."""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from conftest import CLAUDE_REAL, CODEX_REAL, needs_fixtures
from tracelab.synth import SynthSummary, generate_home

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CLAUDE_PATH = re.compile(
    rf"^\.claude(\.back)?/projects/-home-synthetic-projects-[a-z-]+/{UUID}"
    rf"(/subagents/agent-a[0-9a-f]{{16}})?\.jsonl$"
)
CODEX_PATH = re.compile(
    rf"^\.codex/sessions/(\d{{4}})/(\d{{2}})/(\d{{2}})/"
    rf"rollout-(\d{{4}})-(\d{{2}})-(\d{{2}})T\d{{2}}-\d{{2}}-\d{{2}}-({UUID})\.jsonl$"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth") / "home"
    return out, generate_home(out, sessions=14, seed=7)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _records(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh]


def _logs(root: Path, store: str) -> list[Path]:
    return sorted((root / store).rglob("*.jsonl"))


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = generate_home(tmp_path / "a", sessions=6, seed=3)
    b = generate_home(tmp_path / "b", sessions=6, seed=3)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert (a.files, a.bytes, a.sessions, a.steps, a.tool_calls) == (
        b.files,
        b.bytes,
        b.sessions,
        b.steps,
        b.tool_calls,
    )


def test_text_cap_changes_text_only(tmp_path: Path) -> None:
    """A larger `text_cap` writes longer texts (real logs' density) but draws the same
    workload: the same files, sessions, steps, tool calls and token counts."""
    from tracelab.collect import collect_home

    small = generate_home(tmp_path / "a", sessions=6, seed=3)
    large = generate_home(tmp_path / "b", sessions=6, seed=3, text_cap=20_000)
    assert (small.files, small.sessions, small.steps, small.tool_calls) == (
        large.files,
        large.sessions,
        large.steps,
        large.tool_calls,
    )
    assert large.bytes > 2 * small.bytes
    tokens = ("round_index", "input_tokens_total", "prefix_tokens", "output_tokens")
    rows_a, rows_b = collect_home(tmp_path / "a")[1], collect_home(tmp_path / "b")[1]
    assert len(rows_a) == len(rows_b) == small.total_steps
    assert {row["provider"] for row in rows_b} == {"claude", "codex"}
    assert [[row[k] for k in tokens] for row in rows_a] == [
        [row[k] for k in tokens] for row in rows_b
    ]
    chars = sum(r["current_tool_result_chars"] for r in rows_b)
    assert chars > 4 * sum(r["current_tool_result_chars"] for r in rows_a)


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    generate_home(tmp_path / "a", sessions=6, seed=3)
    generate_home(tmp_path / "b", sessions=6, seed=4)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert set(a) != set(b)
    assert a["SYNTHETIC.txt"] != b["SYNTHETIC.txt"]  # notes the seed


# --- layout and labelling ---------------------------------------------------------------------


def test_layout_matches_the_agents(home: tuple[Path, SynthSummary]) -> None:
    root, summary = home
    assert "SYNTHETIC" in (root / "SYNTHETIC.txt").read_text()
    logs = [p.relative_to(root).as_posix() for p in root.rglob("*.jsonl")]
    assert len(logs) == summary.files
    assert sum((root / p).stat().st_size for p in logs) == summary.bytes
    for rel in logs:
        if rel.startswith(".claude"):
            assert CLAUDE_PATH.match(rel), rel
            continue
        m = CODEX_PATH.match(rel)
        assert m, rel
        assert m.group(1, 2, 3) == m.group(4, 5, 6)  # dated directory = rollout date
        meta = _records(root / rel)[0]
        assert meta["type"] == "session_meta"
        assert meta["payload"]["id"] == m.group(7)
        assert meta["payload"]["timestamp"][:19].replace(":", "-") in rel
    assert any("/subagents/" in p for p in logs)
    assert any(p.startswith(".claude.back/") for p in logs)


def test_everything_is_labelled_synthetic(home: tuple[Path, SynthSummary]) -> None:
    root, _ = home
    for path in _logs(root, ".claude") + _logs(root, ".claude.back"):
        for rec in _records(path):
            if "cwd" in rec:
                assert rec["cwd"].startswith("/home/synthetic/projects/")
            content = rec.get("message", {}).get("content")
            if rec.get("type") == "user" and isinstance(content, str):
                assert content.startswith("[synthetic]")
    for path in _logs(root, ".codex"):
        for rec in _records(path):
            p = rec["payload"]
            if "cwd" in p:
                assert p["cwd"].startswith("/home/synthetic/projects/")
            if p.get("type") == "user_message":
                assert p["message"].startswith("[synthetic]")


# --- record shapes vs the real fixtures -------------------------------------------------------


def _claude_kind(rec: dict[str, Any]) -> str:
    kind = rec.get("type", "?")
    if kind == "user":
        return "user:prompt" if isinstance(rec["message"]["content"], str) else "user:tool_result"
    if kind == "system":
        return f"system:{rec.get('subtype')}"
    return kind


def _codex_kind(rec: dict[str, Any]) -> str:
    if rec["type"] in ("response_item", "event_msg"):
        return f"{rec['type']}:{rec['payload'].get('type')}"
    return rec["type"]


def _claude_shapes(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per kind, the keys every record of that kind has (nested ones as `a.b`)."""
    shapes: dict[str, set[str]] = {}
    for rec in records:
        keys = set(rec)
        if rec.get("type") == "assistant":
            keys |= {f"message.{k}" for k in rec["message"]}
            keys |= {f"usage.{k}" for k in rec["message"]["usage"]}
        kind = _claude_kind(rec)
        shapes[kind] = shapes[kind] & keys if kind in shapes else keys
    return shapes


def _codex_shapes(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    shapes: dict[str, set[str]] = {}
    for rec in records:
        p = rec["payload"]
        keys = set(rec) | {f"payload.{k}" for k in p}
        info = p.get("info") if p.get("type") == "token_count" else None
        if isinstance(info, dict):
            keys |= {f"info.{k}" for k in info}
            keys |= {f"usage.{k}" for k in info["last_token_usage"]}
        kind = _codex_kind(rec)
        if isinstance(info, dict):
            kind += ":info"
        shapes[kind] = shapes[kind] & keys if kind in shapes else keys
    return shapes


def _assert_superset(real: dict[str, set[str]], synth: dict[str, set[str]]) -> None:
    missing_kinds = set(real) - set(synth)
    assert not missing_kinds, f"record kinds of the real log never generated: {missing_kinds}"
    for kind, keys in real.items():
        assert keys <= synth[kind], f"{kind}: missing {sorted(keys - synth[kind])}"


@needs_fixtures
def test_claude_records_have_the_real_keys(home: tuple[Path, SynthSummary]) -> None:
    root, _ = home
    synth = [r for p in _logs(root, ".claude") for r in _records(p)]
    _assert_superset(_claude_shapes(_records(CLAUDE_REAL)), _claude_shapes(synth))


@needs_fixtures
def test_codex_records_have_the_real_keys(home: tuple[Path, SynthSummary]) -> None:
    root, _ = home
    synth = [r for p in _logs(root, ".codex") for r in _records(p)]
    _assert_superset(_codex_shapes(_records(CODEX_REAL)), _codex_shapes(synth))


# --- counts, read independently from the raw lines --------------------------------------------


def _count_claude(root: Path) -> tuple[int, int, int]:
    """(sessions, steps, tool calls): distinct real message ids per file, their tool_use blocks;
    the backup store must hold only byte-identical copies (nothing new)."""
    sessions = steps = tools = 0
    for path in _logs(root, ".claude"):
        sessions += 1
        ids: set[str] = set()
        tool_ids: set[str] = set()
        for rec in _records(path):
            if rec.get("type") != "assistant":
                continue
            msg = rec["message"]
            if "<synthetic>" in (msg["id"], msg["model"]):
                continue
            ids.add(msg["id"])
            tool_ids |= {b["id"] for b in msg["content"] if b["type"] == "tool_use"}
        steps += len(ids)
        tools += len(tool_ids)
    for path in _logs(root, ".claude.back"):
        twin = root / ".claude" / path.relative_to(root / ".claude.back")
        assert twin.read_bytes() == path.read_bytes()
    return sessions, steps, tools


def _count_codex(root: Path) -> tuple[int, int, int]:
    """(sessions, steps, tool calls): non-echo token_counts with usage; in a subagent file only
    turns at or after the child id are its own, and every replayed step exists in the parent."""
    sessions = steps = tools = 0
    own_steps: set[tuple[str, str, int]] = set()
    replayed: list[tuple[str, str, int]] = []
    for path in _logs(root, ".codex"):
        sessions += 1
        records = _records(path)
        meta = records[0]["payload"]
        sid, source = meta["id"], meta["source"]
        parent = source["subagent"]["thread_spawn"]["parent_thread_id"] if source != "cli" else None
        turn, last_total, calls = "", None, 0
        per_turn: dict[str, int] = defaultdict(int)
        for rec in records:
            p = rec["payload"]
            if rec["type"] == "turn_context":
                turn = p["turn_id"]
            elif p.get("type") in ("function_call", "custom_tool_call"):
                calls += 1
            elif p.get("type") == "token_count" and isinstance(p["info"], dict):
                total = p["info"]["total_token_usage"]
                if total == last_total:
                    continue  # echo
                last_total = total
                k = per_turn[turn]
                per_turn[turn] += 1
                if parent is not None and turn < sid:
                    replayed.append((parent, turn, k))
                else:
                    own_steps.add((sid, turn, k))
                    steps += 1
                    tools += calls
                calls = 0
    assert replayed, "no subagent replay generated"
    assert set(replayed) <= own_steps
    return sessions, steps, tools


def test_summary_counts_match_the_raw_lines(home: tuple[Path, SynthSummary]) -> None:
    root, summary = home
    got = {"claude": _count_claude(root), "codex": _count_codex(root)}
    for provider, (sessions, steps, tools) in got.items():
        assert summary.sessions[provider] == sessions
        assert summary.steps[provider] == steps
        assert summary.tool_calls[provider] == tools


def test_small_homes_still_contain_the_traps(home: tuple[Path, SynthSummary]) -> None:
    root, _ = home
    claude = [r for p in _logs(root, ".claude") for r in _records(p)]
    assistant = [r["message"] for r in claude if r.get("type") == "assistant"]
    assert any("<synthetic>" in (m["id"], m["model"]) for m in assistant)
    # growing usage: a response whose earlier line has a smaller output and no stop_reason
    assert any(m["stop_reason"] is None for m in assistant)
    used = {b["id"] for m in assistant for b in m["content"] if b["type"] == "tool_use"}
    answered = {
        b["tool_use_id"]
        for r in claude
        if r.get("type") == "user" and isinstance(r["message"]["content"], list)
        for b in r["message"]["content"]
    }
    assert used - answered, "no interrupted tool call"
    by_id: dict[str, int] = defaultdict(int)
    for m in assistant:
        by_id[m["id"]] += sum(b["type"] == "tool_use" for b in m["content"])
    assert max(by_id.values()) >= 2, "no parallel tool calls"

    codex = [r for p in _logs(root, ".codex") for r in _records(p)]
    counts = [r["payload"] for r in codex if r["payload"].get("type") == "token_count"]
    assert any(c["info"] is None for c in counts)
    assert any(a == b and a["info"] for a, b in pairwise(counts))
    names = {r["payload"].get("name") for r in codex if r["type"] == "response_item"}
    assert {"exec_command", "apply_patch"} <= names
    outputs = [
        r["payload"]["output"] for r in codex if r["payload"].get("type") == "function_call_output"
    ]
    assert any(re.search(r"^Wall time: \d+\.\d{4} seconds$", o, re.M) for o in outputs)
    assert any("Process exited with code 1" in o for o in outputs)


# --- options ----------------------------------------------------------------------------------


def test_target_bytes_keeps_generating(tmp_path: Path) -> None:
    summary = generate_home(tmp_path / "h", sessions=1, seed=1, target_bytes=3_000_000)
    assert summary.bytes >= 3_000_000
    assert sum(summary.sessions.values()) > 2


def test_single_provider(tmp_path: Path) -> None:
    summary = generate_home(tmp_path / "h", sessions=3, seed=2, providers=("codex",))
    assert set(summary.steps) == {"codex"}
    assert not (tmp_path / "h" / ".claude").exists()
    with pytest.raises(ValueError):
        generate_home(tmp_path / "x", providers=("gemini",))


def test_provider_split_is_about_60_40(tmp_path: Path) -> None:
    summary = generate_home(tmp_path / "h", sessions=10, seed=5)
    top = {
        "claude": len(list((tmp_path / "h/.claude/projects").glob("*/*.jsonl"))),
        "codex": len(
            [
                p
                for p in (tmp_path / "h/.codex").rglob("*.jsonl")
                if _records(p)[0]["payload"]["source"] == "cli"
            ]
        ),
    }
    assert top == {"claude": 6, "codex": 4}
    assert summary.sessions["claude"] >= 6


# --- end to end with the collector ------------------------------------------------------------


def test_collector_recovers_the_summary(home: tuple[Path, SynthSummary]) -> None:
    collect = pytest.importorskip(
        "tracelab.collect", reason="tracelab.collect (the collector) is not written yet"
    )
    root, summary = home
    result = collect.collect_home(root)
    rows = (
        result.rows if hasattr(result, "rows") else next(r for r in result if isinstance(r, list))
    )
    keys: set[str] = set()
    steps: dict[str, int] = defaultdict(int)
    tools: dict[str, int] = defaultdict(int)
    sessions: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["trace_key"] in keys:
            continue
        keys.add(row["trace_key"])
        steps[row["provider"]] += 1
        tools[row["provider"]] += len(row["tools"])
        sessions[row["provider"]].add(row["session_id"])
    assert dict(steps) == summary.steps
    assert dict(tools) == summary.tool_calls
    assert {k: len(v) for k, v in sessions.items()} == summary.sessions


def test_rerun_replaces_a_synthetic_home_but_refuses_a_real_one(tmp_path: Path) -> None:
    home = tmp_path / "h"
    generate_home(home, sessions=8, seed=1)
    again = generate_home(home, sessions=2, seed=1)  # fewer sessions: no stale files remain
    assert len(list(home.rglob("*.jsonl"))) == again.files
    real = tmp_path / "real"
    (real / ".claude/projects/-x").mkdir(parents=True)
    (real / ".claude/projects/-x/s.jsonl").write_text("{}\n")
    with pytest.raises(FileExistsError):
        generate_home(real, sessions=1)
    assert (real / ".claude/projects/-x/s.jsonl").read_text() == "{}\n"


# --- every step read back exactly as it was written ------------------------------------------


def test_collector_reads_back_exactly_the_intended_steps(tmp_path: Path) -> None:
    """Each session's steps, in order, with the prefix/append/output tokens and tool calls the
    writer drew — subagents, backups, echoes, interrupts and Codex replays included."""
    from tracelab.collect import collect_home
    from tracelab.synth import claude, codex, load_profile
    from tracelab.synth.common import BASE_MS

    profile = load_profile("study")
    home = tmp_path / "home"
    intended: dict[str, list[tuple[int, int, int, int]]] = {}
    jobs = [
        (claude, "claude", frozenset({"subagent", "synthetic"})),
        (claude, "claude", frozenset({"interrupt", "backup"})),
        (claude, "claude", frozenset()),
        (codex, "codex", frozenset({"subagent", "echo"})),
        (codex, "codex", frozenset({"interrupt"})),
        (codex, "codex", frozenset()),
    ]
    for i, (writer, provider, force) in enumerate(jobs):
        rng = random.Random(f"exact:{i}")
        out = writer.write_session(
            rng, BASE_MS + i * 3_600_000, "orbit-api", profile.providers[provider], force
        )
        for rel, data in out.files:
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_bytes(data)
        intended |= out.intended
    _, rows = collect_home(home)
    got: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["session_id"], r["round_index"])):
        got[row["session_id"]].append(
            (
                row["prefix_tokens"],
                row["newly_append_tokens"],
                row["output_tokens"],
                len(row["tools"]),
            )
        )
    assert any("/subagents/" in key for key in intended)
    assert sum(key.startswith("codex:") for key in intended) == 4  # 3 sessions + 1 subagent
    assert dict(got) == intended
