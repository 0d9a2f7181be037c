"""`synth fit` depends only on a trace's content: the same trace sanitized under two keys, with
its rows shuffled, fits byte-identical profiles; pseudonymous names are relabelled by content."""

from __future__ import annotations

import random
import re
from pathlib import Path

import orjson
import pytest

from tracelab.collect import collect_home
from tracelab.io import read_rows, write_rows
from tracelab.sanitize import sanitize_file
from tracelab.synth import generate_home
from tracelab.synth.fit import fit_profile
from tracelab.synth.fitnames import canonical_names, labels
from tracelab.synth.profile import dumps_profile
from tracelab.tracedb import build_db, open_db

SRV = re.compile(r"mcp__(srv_[0-9a-f]{16})__")


def _fit(trace: Path, tmp: Path) -> str:
    db = tmp / f"{trace.stem}.duckdb"
    build_db(trace, db)
    return dumps_profile(fit_profile(open_db(db), "invariance"))


@pytest.fixture(scope="module")
def private_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fit-invariance")
    generate_home(tmp / "home", sessions=14, seed=5, workers=1)
    _, rows = collect_home(tmp / "home")
    out = tmp / "private.jsonl"
    write_rows(rows, out)
    return out


def test_profile_is_the_same_under_two_keys_and_shuffled_rows(private_trace: Path, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    sanitize_file(private_trace, one, b"k" * 32)
    sanitize_file(private_trace, two, b"q" * 32)
    rows_one, rows_two = list(read_rows(one)), list(read_rows(two))
    # not vacuous: the keys gave the MCP servers different pseudonyms …
    servers_one = {m for r in rows_one for t in r["tools"] for m in SRV.findall(t["tool_name"])}
    servers_two = {m for r in rows_two for t in r["tools"] for m in SRV.findall(t["tool_name"])}
    assert servers_one and servers_two and not servers_one & servers_two
    # … and the second trace's rows come in another order
    random.Random(3).shuffle(rows_two)
    shuffled = tmp_path / "two-shuffled.jsonl"
    write_rows(rows_two, shuffled)
    assert [r["session_id"] for r in read_rows(shuffled)] != [r["session_id"] for r in rows_one]
    profile_one, profile_two = _fit(one, tmp_path), _fit(shuffled, tmp_path)
    assert profile_one == profile_two
    assert "mcp__srv_1__" in profile_one  # the servers are labelled by content
    assert not SRV.search(profile_one)  # no pseudonym of the key survives


def _bytes(doc: dict) -> bytes:
    return orjson.dumps(doc)  # keeps key order: the tables' order is compared too


def test_labels_follow_content_not_the_pseudonym() -> None:
    a, b = "srv_" + "a" * 16, "srv_" + "b" * 16
    tool = {"share": 0.5, "latency_ms": None, "error_rate": 0.0}

    def providers(first: str, second: str) -> dict:
        return {
            "claude": {
                "tools": {
                    f"mcp__{first}__read": {**tool, "share": 0.3},
                    f"mcp__{second}__read": {**tool, "share": 0.1},
                    "Bash": {**tool, "share": 0.6},
                }
            }
        }

    # the server with the larger share gets the same label whatever its pseudonym
    assert labels(providers(a, b)) == {a: "srv_2", b: "srv_1"}  # fingerprints: 0.1 < 0.3
    assert _bytes(canonical_names(providers(a, b))) == _bytes(canonical_names(providers(b, a)))
    tools = canonical_names(providers(a, b))["claude"]["tools"]
    assert list(tools) == ["Bash", "mcp__srv_2__read", "mcp__srv_1__read"]  # by share
    # identical content: either numbering gives the same profile
    same = {"claude": {"tools": {f"mcp__{a}__x": tool, f"mcp__{b}__x": tool}}}
    swapped = {"claude": {"tools": {f"mcp__{b}__x": tool, f"mcp__{a}__x": tool}}}
    assert _bytes(canonical_names(same)) == _bytes(canonical_names(swapped))
