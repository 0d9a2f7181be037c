"""Property tests: collection survives random corruption and keeps every unaffected step.

A valid session is generated (Claude Code or Codex CLI, tests/rawlogs.py), then corrupted at
random: garbage lines injected, lines truncated, dropped or duplicated, invalid UTF-8 flipped
into text values, inert lines shuffled, the whole file cut at a random byte. Collection must
never raise, and every step none of whose own lines was damaged must come out with exactly its
original token values. "Unaffected" is defined conservatively per provider (see below).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rawlogs as R

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = "abcdefgh"  # every text value: a byte in it can be flipped to invalid UTF-8
GARBAGE = [
    b"{not json",
    b"\xff\xfe\x00",
    b"[1, 2]",
    b'"just a string"',
    b"null",
    b'{"type": "weird-new-record"}',
    b'{"type": ["unhashable"]}',
    b'{"timestamp": 1, "type": "event_msg", "payload": {"type": {"x": 1}}}',
    b'{"type": "assistant", "message": {"id": 5}}',
]
BAD_GARBAGE = 5  # the first five are skipped lines (not JSON / not an object)

counts = st.integers(0, 200_000)


# --- generated sessions: each line tagged with what it belongs to -------------------------


@st.composite
def claude_lines(draw) -> tuple[list[dict], dict[str, tuple]]:
    """Lines [{line, msg, kind}] of a valid Claude session, and each message's usage."""
    items: list[dict] = []

    def add(record: dict, msg: str | None, kind: str) -> None:
        items.append({"line": orjson.dumps(record), "msg": msg, "kind": kind})

    add(R.c_bookkeeping("permission-mode"), None, "book")
    add(R.c_user(TEXT, 0), None, "user")
    expected = {}
    for k in range(draw(st.integers(1, 5))):
        msg = f"msg_{k}"
        base = R.usage_c(draw(counts), draw(counts), draw(counts), draw(counts))
        n_lines = draw(st.integers(1, 3))
        tool = draw(st.booleans())
        blocks = [R.c_thinking(TEXT) if i == 0 else R.c_text(TEXT) for i in range(n_lines)]
        if tool:
            blocks.append(R.c_tool_use(f"toolu_{k}"))
        for i, block in enumerate(blocks):  # usage grows line by line; the last is the largest
            usage = {**base, "output_tokens": base["output_tokens"] + i}
            stop = "end_turn" if i == len(blocks) - 1 else None
            add(R.c_assistant(msg, block, usage, 10 * k + 1, stop_reason=stop), msg, "assistant")
        expected[msg] = R.usage_tuple_c({**base, "output_tokens": base["output_tokens"] + i})
        if tool:
            add(R.c_tool_result(f"toolu_{k}", TEXT, 10 * k + 5), None, "user")
        if draw(st.booleans()):
            add(R.c_bookkeeping(draw(st.sampled_from(["summary", "last-prompt"]))), None, "book")
    return items, expected


@st.composite
def codex_lines(draw) -> tuple[list[dict], list[tuple]]:
    """Lines [{line, kind}] of a valid Codex session, and its steps' (round_id, usage)."""
    b = R.CodexBuilder()
    turns = ["01a7c9e4-0001-7000-8000-000000000001", "01a7c9e4-0002-7000-8000-000000000002"]
    expected = []
    call = 0
    for turn in turns[: draw(st.integers(1, 2))]:
        b.turn(turn, TEXT)
        for k in range(draw(st.integers(1, 3))):
            # output ≥ 1: each call moves the cumulative total (else it is an echo by spec §2)
            last = R.usage_x(draw(counts), draw(counts), draw(st.integers(1, 9999)), draw(counts))
            calls = [f"call_{call + i}" for i in range(draw(st.integers(0, 2)))]
            call += len(calls)
            b.step(last, calls=calls, text=TEXT)
            expected.append((f"{turn}:{k}", R.usage_tuple_x(last)))
    items = []
    for record in b.lines:
        kind = record["type"]
        ptype = record["payload"].get("type")
        if kind == "event_msg" and ptype == "token_count":
            tag = "tokens"
        elif kind in ("session_meta", "turn_context"):
            tag = "context"
        else:
            tag = "inert"  # no influence on which steps exist, their ids or their tokens
        items.append({"line": orjson.dumps(record), "msg": None, "kind": tag})
    return items, expected


# --- corruption -----------------------------------------------------------------------------


def flip_text(line: bytes) -> bytes:
    """Invalid UTF-8 in the middle of a text value (never in an id or a number)."""
    return line.replace(TEXT.encode(), b"abc\xff\xfegh", 1)


@st.composite
def corrupt(draw, items: list[dict], may_touch) -> tuple[list[dict], int]:
    """Apply random corruptions to lines allowed by `may_touch(item)`. Returns the new lines
    (damaged ones flagged `hit`) and how many skipped lines the damage must produce."""
    items = [dict(it, hit=False) for it in items]
    touchable = [i for i, it in enumerate(items) if may_touch(it)]
    bad = 0
    if touchable:
        for i in draw(st.lists(st.sampled_from(touchable), max_size=3, unique=True)):
            op = draw(st.sampled_from(["duplicate", "drop", "truncate", "flip"]))
            it = items[i]
            if op == "duplicate":
                items.append(dict(it))  # a repeated record, later in the file
            elif op == "drop":
                it["line"], it["hit"] = None, True
            elif op == "truncate":
                cut = draw(st.integers(1, len(it["line"]) - 1))
                it["line"], it["hit"] = it["line"][:cut], True
                bad += 1
            else:
                it["line"] = flip_text(it["line"])  # repaired, not a hit
    # inert lines moved elsewhere
    movable = [it for it in items if it["kind"] in ("book", "inert") and not it["hit"]]
    moved = draw(st.lists(st.sampled_from(movable), max_size=3, unique_by=id)) if movable else []
    for it in moved:
        del items[next(i for i, x in enumerate(items) if x is it)]
        items.insert(draw(st.integers(0, len(items))), it)
    # garbage between records
    for g in draw(st.lists(st.sampled_from(range(len(GARBAGE))), max_size=4)):
        pos = draw(st.integers(0, len(items)))
        items.insert(pos, {"line": GARBAGE[g], "msg": None, "kind": "garbage", "hit": False})
        bad += g < BAD_GARBAGE
    return items, bad


def layout(items: list[dict], cut: int | None) -> tuple[bytes, list[dict]]:
    """File bytes; each line flagged `complete` if it survives the cut as a whole record."""
    data, pos, out = b"", 0, []
    for it in items:
        if it["line"] is None:  # dropped: kept in the list only to mark its message affected
            out.append(dict(it, complete=False))
            continue
        end = pos + len(it["line"])
        data += it["line"] + b"\n"
        out.append(dict(it, complete=cut is None or end <= cut))
        pos = end + 1
    return (data if cut is None else data[:cut]), out


def collect_bytes(path_of, data: bytes) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        R.write(path_of(home), data)
        return R.run(home)


# --- properties -----------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_claude_corruption_keeps_unaffected_messages(data):
    items, expected = data.draw(claude_lines())
    items, bad = data.draw(corrupt(items, lambda it: True))
    cut = data.draw(st.none() | st.integers(0, sum(len(it["line"] or b"") + 1 for it in items)))
    raw, items = layout(items, cut)

    report, rows = collect_bytes(R.claude_path, raw)  # must not raise

    got = {r["round_id"]: R.tokens_c(r) for r in rows}
    assert set(got) <= set(expected)
    affected = {it["msg"] for it in items if it["msg"] and (it["hit"] or not it["complete"])}
    for msg, usage in expected.items():
        whole = [it for it in items if it["msg"] == msg]
        if msg not in affected and whole:
            assert got.get(msg) == usage, msg
    if cut is None:
        assert report.skipped_lines == bad
    assert report.skipped_files == []


@SETTINGS
@given(st.data())
def test_codex_corruption_keeps_unaffected_steps(data):
    items, expected = data.draw(codex_lines())
    items, bad = data.draw(corrupt(items, lambda it: it["kind"] == "inert"))
    # a token_count repeated right after itself is an echo, not a new step
    tokens = [i for i, it in enumerate(items) if it["kind"] == "tokens"]
    for i in sorted(data.draw(st.lists(st.sampled_from(tokens), max_size=2, unique=True)))[::-1]:
        items.insert(i + 1, dict(items[i]))
    cut = data.draw(st.none() | st.integers(0, sum(len(it["line"] or b"") + 1 for it in items)))
    raw, items = layout(items, cut)

    report, rows = collect_bytes(R.codex_path, raw)  # must not raise

    # steps whose token_count survived, in order, with identical ids and tokens; since only a
    # suffix is ever cut, these are the first n expected steps
    survived, seen = 0, None
    for it in items:
        if it["kind"] == "tokens" and it["complete"] and it["line"] != seen:
            survived += 1
            seen = it["line"]
    assert [(r["round_id"], R.tokens_x(r)) for r in rows] == expected[:survived]
    if cut is None:
        assert survived == len(expected)
        assert report.skipped_lines == bad


@SETTINGS
@given(st.data())
def test_incremental_collection_equals_fresh(data):
    """An agent still writing: whatever byte the first run stopped at, resuming from the cache
    gives the same rows (and counts) as parsing the final file at once."""
    provider = data.draw(st.sampled_from(["claude", "codex"]))
    items, _ = data.draw(claude_lines() if provider == "claude" else codex_lines())
    items, _ = data.draw(corrupt(items, lambda it: it["kind"] != "context"))
    raw, _ = layout(items, None)
    splits = sorted(data.draw(st.lists(st.integers(0, len(raw)), min_size=1, max_size=3)))
    path_of = R.claude_path if provider == "claude" else R.codex_path
    with tempfile.TemporaryDirectory() as tmp:
        home, cache = Path(tmp) / "home", Path(tmp) / "cache"
        path = path_of(home)
        done = 0
        for split in [*splits, len(raw)]:
            if done == 0:
                R.write(path, raw[:split])
            else:
                R.append(path, raw[done:split])
            R.bump_mtime(path, 1)
            done = split
            report, rows = R.run(home, cache=cache)
        fresh_report, fresh = R.run(home)
    assert rows == fresh
    assert report.skipped_lines == fresh_report.skipped_lines
    assert report.file_problems == fresh_report.file_problems


def _frozen(rows: list[dict], drop: tuple[str, ...]) -> list[bytes]:
    return sorted(
        orjson.dumps({k: v for k, v in r.items() if k not in drop}, option=orjson.OPT_SORT_KEYS)
        for r in rows
    )


@SETTINGS
@given(st.data())
def test_file_order_does_not_change_the_rows(data):
    """The same sessions under shuffled file names give the same rows (Claude's session id is
    its file name, so it is left out there); a Codex file copied under two names dedups the
    same way whichever comes first."""
    n = data.draw(st.integers(1, 4))
    claude = [
        R.encode(R.claude_session(data.draw(st.integers(1, 3)), first=10 * i + 1)) for i in range(n)
    ]
    sessions = [f"01a7c9e4-0000-7000-8000-00000000000{i}" for i in range(n)]
    codex = [R.codex_session(data.draw(st.integers(1, 3)), session=s).data() for s in sessions]
    codex.append(codex[0])  # a copy of the first rollout under another name
    names = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(n)]
    stamps = [f"10-{i:02d}-00" for i in range(n + 1)]

    def run(claude_names, codex_stamps, uuids):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            for name, content in zip(claude_names, claude, strict=True):
                R.write(R.claude_path(home, name), content)
            for stamp, uuid, content in zip(codex_stamps, uuids, codex, strict=True):
                R.write(R.codex_path(home, uuid, stamp), content)
            return R.run(home)

    base_report, base = run(names, stamps, [*sessions, "copy"])
    perm_names = data.draw(st.permutations(names))
    perm = data.draw(st.permutations(range(n + 1)))
    report, rows = run(perm_names, [stamps[i] for i in perm], [*sessions, "copy"])
    drop = ("home", "session_file", "session_id", "trace_key")
    claude_rows = [[r for r in rs if r["provider"] == "claude"] for rs in (base, rows)]
    codex_rows = [[r for r in rs if r["provider"] == "codex"] for rs in (base, rows)]
    assert _frozen(claude_rows[0], drop) == _frozen(claude_rows[1], drop)
    assert _frozen(codex_rows[0], drop[:2]) == _frozen(codex_rows[1], drop[:2])
    assert report.duplicates_dropped == base_report.duplicates_dropped
    assert report.rows == base_report.rows
