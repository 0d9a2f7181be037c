"""`tracelab export mooncake` and `tracelab export vllm-multiturn`: hand-built traces, every
value worked out by hand in the comments."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tracebuilder import ev, step, tool, trace_db
from tracelab.cli import app
from tracelab.export import mooncake, vllm_multiturn
from tracelab.export.mooncake import block_count, export_mooncake, shared_blocks
from tracelab.export.vllm_multiturn import (
    CHARS_PER_TOKEN,
    FILLER,
    MIN_TOKENS,
    export_vllm_multiturn,
    filler,
)
from tracelab.io import write_rows

# --- mooncake -----------------------------------------------------------------------------


def _mooncake_rows() -> list[dict]:
    """Times are seconds after T0; the trace's earliest step start is b0's, 5 s."""
    return [
        # claude:a — C = 511, 512, 513 (the block boundaries), then a larger step, then a miss.
        step(
            "a",
            0,
            prefix=0,
            append=511,
            output=1,
            first="user_message",
            events=[ev("user_message", 10), ev("text", 11)],
        ),
        step(
            "a", 1, prefix=511, append=1, output=1, events=[ev("tool_result", 20), ev("text", 21)]
        ),
        # clock skew: stamped 12.5 s, before a1's 20 s
        step(
            "a", 2, prefix=512, append=1, output=1, events=[ev("tool_result", 12.5), ev("text", 22)]
        ),
        step("a", 3, prefix=1025, append=600, output=1, events=[ev("tool_result", 30)]),
        # a provider cache miss: nothing cached
        step(
            "a",
            4,
            prefix=0,
            append=1700,
            output=1,
            first="user_message",
            events=[ev("user_message", 40)],
        ),
        # codex:b — the trace's first step (5 s); b1 has no timing events.
        step(
            "b",
            0,
            provider="codex",
            prefix=0,
            append=1024,
            output=4,
            first="user_message",
            events=[ev("user_message", 5), ev("text", 6)],
        ),
        step("b", 1, provider="codex", prefix=1024, append=0, output=4, first=None),
        # claude:d — d0 untimed (takes d1's time), d1 has an empty input
        step("d", 0, prefix=0, append=100, output=1, first=None),
        step(
            "d",
            1,
            prefix=0,
            append=0,
            output=5,
            first="user_message",
            events=[ev("user_message", 30)],
        ),
        # claude:c — no timestamp anywhere: left out
        step("c", 0, prefix=0, append=5, output=1, first=None),
    ]


# Ordered by (timestamp, session, round). timestamp = the shared step clock's arrival (a step
# is sent at its generation start, else its first event, never before its session's previous
# step ended; an untimed step takes its predecessor's end), in ms since 5 s. Block size 512;
# ids from one counter in this row order.
MOONCAKE_EXPECTED = [
    # b0: 5 s → 0. C = 1024 → 2 blocks, session-first: fresh 0, 1.
    {"timestamp": 0, "input_length": 1024, "output_length": 4, "hash_ids": [0, 1],
     "session_id": "codex:b", "round_index": 0},
    # b1: no timestamp → b0's end (its text, 6 s) → 1 000. C = 1024 → 2 blocks; shares
    # min(1024//512, 1024//512) = 2.
    {"timestamp": 1000, "input_length": 1024, "output_length": 4, "hash_ids": [0, 1],
     "session_id": "codex:b", "round_index": 1},
    # a0: 10 − 5 = 5 000. C = 511 → ceil(511/512) = 1 block, fresh 2. Not b's ids.
    {"timestamp": 5000, "input_length": 511, "output_length": 1, "hash_ids": [2],
     "session_id": "claude:a", "round_index": 0},
    # a1: 20 − 5 = 15 000. C = 512 → 1 block; shares min(511//512, 511//512) = 0: a0's block
    # was partial → fresh 3.
    {"timestamp": 15000, "input_length": 512, "output_length": 1, "hash_ids": [3],
     "session_id": "claude:a", "round_index": 1},
    # a2: stamped 12.5 s, before a1 ended (its text, 21 s) → sent at 21 s → 16 000. C = 513
    # → 2 blocks; shares min(512//512, 512//512) = 1 → a1's 3, fresh 4.
    {"timestamp": 16000, "input_length": 513, "output_length": 1, "hash_ids": [3, 4],
     "session_id": "claude:a", "round_index": 2},
    # a3: 30 − 5 = 25 000. C = 1625 = 3·512 + 89 → 4 blocks; shares min(1025//512 = 2,
    # 513//512 = 1) = 1 (a2's block 1 was partial) → 3, fresh 5, 6, 7.
    {"timestamp": 25000, "input_length": 1625, "output_length": 1, "hash_ids": [3, 5, 6, 7],
     "session_id": "claude:a", "round_index": 3},
    # d0: untimed, before the session's first timestamp → d1's 30 − 5 = 25 000 ("claude:d" sorts
    # after "claude:a"). C = 100 → 1 block, fresh 8.
    {"timestamp": 25000, "input_length": 100, "output_length": 1, "hash_ids": [8],
     "session_id": "claude:d", "round_index": 0},
    # d1: 25 000. C = 0 → no block.
    {"timestamp": 25000, "input_length": 0, "output_length": 5, "hash_ids": [],
     "session_id": "claude:d", "round_index": 1},
    # a4: 40 − 5 = 35 000. C = 1700 = 3·512 + 164 → 4 blocks; prefix 0 shares nothing → 9–12.
    {"timestamp": 35000, "input_length": 1700, "output_length": 1, "hash_ids": [9, 10, 11, 12],
     "session_id": "claude:a", "round_index": 4},
]  # fmt: skip


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture
def moon_con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return trace_db(tmp_path, _mooncake_rows())


@pytest.mark.parametrize(
    ("tokens", "blocks"), [(0, 0), (1, 1), (511, 1), (512, 1), (513, 2), (1024, 2), (1025, 3)]
)
def test_block_count_at_the_boundaries(tokens: int, blocks: int) -> None:
    assert block_count(tokens, 512) == blocks


@pytest.mark.parametrize(
    ("prefix", "prev_context", "shared"),
    [
        (511, 10_000, 0),  # a prefix one token short of a block shares nothing
        (512, 10_000, 1),
        (513, 10_000, 1),
        (5_000, 511, 0),  # the previous input's only block was partial
        (5_000, 512, 1),
        (5_000, 1_100, 2),  # capped by the previous step's full blocks
        (1_100, None, 0),  # a session's first step
    ],
)
def test_shared_blocks(prefix: int, prev_context: int | None, shared: int) -> None:
    assert shared_blocks(prefix, prev_context, 512) == shared


def test_mooncake_rows_worked_out_by_hand(moon_con, tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    report = export_mooncake(moon_con, out)
    assert _read_jsonl(out) == MOONCAKE_EXPECTED
    assert list(MOONCAKE_EXPECTED[0]) == list(mooncake.FIELDS)
    assert (report.rows, report.sessions, report.path) == (9, 3, out)
    # 2+2+1+1+2+4+1+0+4 ids listed, 0–12 distinct; claude:c (1 step) left out
    assert (report.blocks, report.distinct_blocks, report.block_size) == (17, 13, 512)
    assert report.reused_share == pytest.approx(4 / 17)
    assert (report.skipped_steps, report.skipped_sessions) == (1, 1)


def test_mooncake_ids_never_cross_sessions_and_first_appear_in_order(moon_con, tmp_path) -> None:
    out = tmp_path / "trace.jsonl"
    export_mooncake(moon_con, out)
    owner: dict[int, str] = {}
    seen = -1
    for row in _read_jsonl(out):
        for block in row["hash_ids"]:
            assert owner.setdefault(block, row["session_id"]) == row["session_id"]
            if block > seen:
                assert block == seen + 1  # a new id is always the next of the counter
                seen = block


def test_mooncake_block_size_option(moon_con, tmp_path: Path) -> None:
    # Block 1024: b0 C=1024 → [0]; b1 shares min(1, 1) = 1 → [0]; a0 511 → [1]; a1 512 →
    # shares 0 → [2]; a2 513 → shares min(0, 0) → [3]; a3 1625 → 2 blocks, shares
    # min(1025//1024 = 1, 513//1024 = 0) = 0 → [4, 5]; d0 → [6]; d1 → []; a4 1700 → [7, 8].
    out = tmp_path / "trace.jsonl.gz"
    report = export_mooncake(moon_con, out, block_size=1024)
    ids = [row["hash_ids"] for row in _read_jsonl(out)]
    assert ids == [[0], [0], [1], [2], [3], [4, 5], [6], [], [7, 8]]
    assert (report.blocks, report.distinct_blocks) == (10, 9)
    with pytest.raises(ValueError, match="block size"):
        export_mooncake(moon_con, tmp_path / "x.jsonl", block_size=0)


def test_mooncake_failed_query_leaves_the_existing_output_untouched(
    moon_con, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "trace.jsonl"
    out.parent.mkdir()
    out.write_text("previous export\n")
    monkeypatch.setattr(mooncake, "MOONCAKE_SQL", "SELECT * FROM no_such_table")
    with pytest.raises(duckdb.Error):
        export_mooncake(moon_con, out)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["trace.jsonl"]  # no temp file left


# --- vllm-multiturn -----------------------------------------------------------------------


def _vllm_rows() -> list[dict]:
    """Times are seconds after T0; the trace's earliest step start is b0's, 5 s."""
    return [
        # claude:a — starts at 10 s
        step(
            "a",
            0,
            prefix=0,
            append=100,
            output=10,
            first="user_message",
            events=[ev("user_message", 10), ev("text", 12), ev("tool_call", 13, tool_call_id="t1")],
            tools=[tool("t1", emitted=13, result=20, internal_ms=4000)],  # wall 7 000 ms
        ),
        step("a", 1, prefix=110, append=30, output=5,
             events=[ev("tool_result", 20, tool_call_id="t1"), ev("text", 22)]),
        # a cache miss after a human wait: the whole input is append
        step("a", 2, prefix=0, append=200, output=0, first="user_message",
             events=[ev("user_message", 82), ev("text", 85)]),
        # compaction: the context shrinks; a result for a call no step emitted
        step("a", 3, prefix=0, append=50, output=3,
             events=[ev("tool_result", 90, tool_call_id="zz"), ev("text", 91)]),
        # codex:b — the trace's first step (5 s)
        step("b", 0, provider="codex", prefix=0, append=8, output=2, first="user_message",
             events=[ev("user_message", 5), ev("text", 6)]),
        step("b", 1, provider="codex", prefix=0, append=10, output=1, first="user_message",
             events=[ev("user_message", 7), ev("text", 8)]),
        # claude:c — no timestamps: last
        step("c", 0, prefix=0, append=1, output=1, first=None),
    ]  # fmt: skip


def _msg_sizes(conversation: dict) -> list[tuple[str, int]]:
    return [(m["role"], len(m["content"])) for m in conversation["messages"]]


# Conversations in session arrival order: b (5 s), a (10 s), c (untimed, last).
# Message sizes in characters = max(tokens, 1) × 4.
VLLM_EXPECTED = {
    "codex:b": {
        "arrival_ms": 0.0,
        # b0: C = 8 → 32 chars (starts with the 9-char tag "[codex:b]"); answer 2 → 8.
        # b1: fresh = clip(max(0, 10 − 8) − 2, 0, 10) = 0 → MIN_TOKENS → 4; answer 1 → 4.
        "sizes": [("user", 32), ("assistant", 8), ("user", 4), ("assistant", 4)],
        # b1's human wait: b0's text (6 s) → b1's user message (7 s) = 1 000 ms.
        "delays_ms": [None, 1000.0],
    },
    "claude:a": {
        "arrival_ms": 5000.0,  # 10 − 5 s
        "sizes": [
            ("user", 400),  # a0: C = 100
            ("assistant", 40),  # 10 output tokens
            ("user", 120),  # a1: fresh = (140 − 100) − 10 = 30
            ("assistant", 20),  # 5
            ("user", 220),  # a2: fresh = (200 − 140) − 5 = 55 (≤ append 200)
            ("assistant", 4),  # 0 output → MIN_TOKENS
            ("user", 4),  # a3: growth 50 − 200 < 0 → fresh 0 → MIN_TOKENS
            ("assistant", 12),  # 3
        ],
        # each wait = the previous step's last output → this step's start: a1: a0's tool call
        # (13 s) → t1's result (20 s) = 7 000; a2: a1's text (22 s) → 82 s = 60 000; a3: a2's
        # text (85 s) → a3's result (90 s) = 5 000.
        "delays_ms": [None, 7000.0, 60000.0, 5000.0],
    },
    "claude:c": {
        "arrival_ms": None,
        # C = 1 → 4 chars, but never shorter than the tag "[claude:c]" (10 chars).
        "sizes": [("user", 10), ("assistant", 4)],
        "delays_ms": [None],
    },
}


def _read_json(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return json.load(fh)


@pytest.fixture
def vllm_con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return trace_db(tmp_path, _vllm_rows())


def test_filler_lengths() -> None:
    assert (CHARS_PER_TOKEN, len(FILLER), MIN_TOKENS) == (4, 4, 1)
    assert filler(3) == " the the the"
    assert filler(0) == " the"  # at least MIN_TOKENS
    assert filler(3, "[x]") == "[x] the the "  # 12 chars: the tag counts in the length
    assert filler(2, "[abc]") == "[abc] th"
    assert filler(1, "[session]") == "[session]"  # never shorter than the tag


def test_vllm_conversations_worked_out_by_hand(vllm_con, tmp_path: Path) -> None:
    out = tmp_path / "conversations.json"
    report = export_vllm_multiturn(vllm_con, out)
    conversations = _read_json(out)
    assert [c["id"] for c in conversations] == list(VLLM_EXPECTED)
    for conversation in conversations:
        expected = VLLM_EXPECTED[conversation["id"]]
        assert set(conversation) == {"id", "messages", "arrival_ms", "delays_ms"}
        assert _msg_sizes(conversation) == expected["sizes"]
        assert conversation["arrival_ms"] == expected["arrival_ms"]
        assert conversation["delays_ms"] == expected["delays_ms"]
        # what the benchmark asserts of a message: exactly role and content
        assert all(set(m) == {"role", "content"} for m in conversation["messages"])
        first = conversation["messages"][0]["content"]
        assert first.startswith(f"[{conversation['id']}]")
    assert conversations[1]["messages"][1]["content"] == FILLER * 10  # a0's answer
    # tokens: b 8+1 / 2+1, a 100+30+55+1 / 10+5+1+3, c 1 / 1
    assert (report.conversations, report.turns) == (3, 7)
    assert (report.user_tokens, report.assistant_tokens) == (196, 23)
    assert report.bytes == out.stat().st_size
    assert (report.skipped_sessions, report.min_steps, report.max_sessions) == (0, 1, None)


@pytest.mark.parametrize(
    ("max_sessions", "min_steps", "ids"),
    [
        (None, 2, ["codex:b", "claude:a"]),  # c has 1 step
        (None, 3, ["claude:a"]),
        (1, 1, ["codex:b"]),  # the first by arrival
        (1, 3, ["claude:a"]),  # the filter applies first, then the first N
        (0, 1, []),
    ],
)
def test_vllm_filters(vllm_con, tmp_path: Path, max_sessions, min_steps, ids) -> None:
    out = tmp_path / "conversations.json"
    report = export_vllm_multiturn(vllm_con, out, max_sessions=max_sessions, min_steps=min_steps)
    conversations = _read_json(out)
    assert [c["id"] for c in conversations] == ids
    for conversation in conversations:
        assert _msg_sizes(conversation) == VLLM_EXPECTED[conversation["id"]]["sizes"]
    assert report.conversations == len(ids)
    assert report.skipped_sessions == 3 - len(ids)


def test_vllm_gzip_output(vllm_con, tmp_path: Path) -> None:
    out = tmp_path / "conversations.json.gz"
    export_vllm_multiturn(vllm_con, out)
    assert [c["id"] for c in _read_json(out)] == list(VLLM_EXPECTED)


def test_vllm_failed_query_leaves_the_existing_output_untouched(
    vllm_con, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "conversations.json"
    out.parent.mkdir()
    out.write_text("[]\n")
    monkeypatch.setattr(vllm_multiturn, "VLLM_SQL", "SELECT * FROM no_such_table")
    with pytest.raises(duckdb.Error):
        export_vllm_multiturn(vllm_con, out)
    assert out.read_text() == "[]\n"
    assert [p.name for p in out.parent.iterdir()] == ["conversations.json"]


# --- both: an empty trace, the CLI ----------------------------------------------------------


def test_empty_trace(tmp_path: Path) -> None:
    con = trace_db(tmp_path, [])
    moon = export_mooncake(con, tmp_path / "m.jsonl")
    assert (tmp_path / "m.jsonl").read_bytes() == b""
    assert (moon.rows, moon.sessions, moon.blocks, moon.reused_share) == (0, 0, 0, None)
    vllm = export_vllm_multiturn(con, tmp_path / "v.json")
    assert _read_json(tmp_path / "v.json") == []
    assert (vllm.conversations, vllm.turns, vllm.skipped_sessions) == (0, 0, 0)


def test_cli_mooncake(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(_mooncake_rows(), src)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["export", "mooncake", "-i", str(src), "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "9 requests of 3 sessions" in result.output
    assert "17 blocks of 512 tokens, 13 distinct ids, 23.5% of them reused" in result.output
    assert "left out 1 steps of 1 sessions without any timestamp" in result.output
    assert _read_jsonl(out) == MOONCAKE_EXPECTED
    # --block-size reaches the export; a block must hold a token
    result = CliRunner().invoke(
        app, ["export", "mooncake", "-i", str(src), "-o", str(out), "--block-size", "1024"]
    )
    assert result.exit_code == 0, result.output
    assert "10 blocks of 1,024 tokens" in result.output
    result = CliRunner().invoke(
        app, ["export", "mooncake", "-i", str(src), "-o", str(out), "--block-size", "0"]
    )
    assert result.exit_code == 2


def test_cli_vllm_multiturn(tmp_path: Path) -> None:
    src = tmp_path / "trace.jsonl"
    write_rows(_vllm_rows(), src)
    out = tmp_path / "conv.json"
    args = ["export", "vllm-multiturn", "-i", str(src), "-o", str(out)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 conversations, 7 user+assistant turns" in result.output
    assert "196 user + 23 assistant tokens" in result.output
    assert [c["id"] for c in _read_json(out)] == list(VLLM_EXPECTED)
    result = CliRunner().invoke(
        app, [*args, "--max-sessions", "1", "--min-steps", "2"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "1 conversations, 2 user+assistant turns" in result.output
    assert "left out 2 sessions (kept: ≥ 2 steps, the first 1 by arrival)" in result.output
    assert [c["id"] for c in _read_json(out)] == ["codex:b"]
    result = CliRunner().invoke(app, [*args, "--min-steps", "0"])
    assert result.exit_code == 2
