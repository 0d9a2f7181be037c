"""The whole loop through the real server on loopback: two contributors (one in open mode, one
with a token) upload the real fixture traces; the release holds both; a re-upload is a no-op;
the same sessions sanitized under another key are recognised; a withdrawal removes one."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import orjson
import pytest

from conftest import REAL_HOME, needs_fixtures
from pool_support import KEY_A, KEY_B, prepared, private_traces, running
from tracelab.io import read_rows
from tracelab.pool.access import Tokens
from tracelab.pool.client import ContributeError, PoolClient
from tracelab.pool.release import BASENAME, build_release
from tracelab.pool.stats import pool_stats
from tracelab.pool.storage import Pool
from tracelab.privacy import audit_file
from tracelab.tracedb import open_db

pytestmark = needs_fixtures


def _release_rows(folder: Path) -> list[dict]:
    with gzip.open(folder / f"{BASENAME}.jsonl.gz", "rb") as fh:
        return [orjson.loads(line) for line in fh]


def test_two_contributors_release_reupload_dedup_and_withdrawal(tmp_path: Path) -> None:
    traces = private_traces(REAL_HOME, tmp_path / "traces")
    # Expected counts come from the private traces themselves: every row of each provider's
    # trace is one step; sessions are the distinct session ids.
    expected = {
        p: (len(rows := list(read_rows(traces[p]))), len({r["session_id"] for r in rows}))
        for p in ("claude", "codex")
    }
    assert expected["claude"][0] > 0 and expected["codex"][0] > 0
    pool_dir = tmp_path / "pool"
    token = Tokens(Pool(pool_dir).root).add("bob")
    up_a = prepared(traces["claude"], tmp_path / "a", KEY_A)  # open-mode contributor
    up_b = prepared(traces["codex"], tmp_path / "b", KEY_B)  # token holder
    assert up_a.sanitized_here and up_b.sanitized_here  # the private traces were sanitized

    with running(pool_dir, open_mode=True) as server:
        with PoolClient(server.url, chunk_bytes=1024) as anon:
            seen: list[int] = []
            got_a = anon.contribute(up_a, lambda done, total: seen.append(done))
        assert seen[-1] == up_a.size and len(seen) == -(-up_a.size // 1024)  # chunked
        assert got_a["rows_accepted"] == expected["claude"][0]
        assert got_a["sessions_new"] == expected["claude"][1]
        assert got_a["withdrawal_token"].startswith("wd_")

        with PoolClient(server.url, token) as bob:
            got_b = bob.contribute(up_b)
            assert got_b["rows_accepted"] == expected["codex"][0]
            # the same bytes again: a no-op that names the original contribution
            again = bob.contribute(up_b)
            assert (
                again["duplicate_upload"] and again["contribution_id"] == got_b["contribution_id"]
            )
            assert again["rows_accepted"] == 0
            # the same sessions sanitized under another key: other ids, same fingerprints
            up_b2 = prepared(traces["codex"], tmp_path / "b2", KEY_A)
            assert up_b2.sha256 != up_b.sha256
            rekeyed = bob.contribute(up_b2)
            assert rekeyed["contribution_id"] is None and rekeyed["rows_accepted"] == 0
            assert rekeyed["sessions_in_pool"] == expected["codex"][1]

        forged = PoolClient(server.url, "tlp_forged")
        with pytest.raises(ContributeError, match="unknown contributor token"):
            forged.contribute(up_b2)
        forged.close()

        stats = PoolClient(server.url).stats()
        assert stats["contributions"] == 2 and stats["contributors"] == 2
        assert stats["steps"] == expected["claude"][0] + expected["codex"][0]

        pool = Pool(pool_dir, create=False)
        # the manifest keeps each contribution's consent record (licence, when, received)
        for entry in pool.contributions():
            consent = entry["consent"]
            assert consent["licence"] == "CC-BY-4.0" and consent["accepted"] is True
            assert consent["accepted_at"] and consent["received_at"]
        release = build_release(pool_dir, "v0.1.0", tmp_path / "rel1")
        rows = _release_rows(tmp_path / "rel1")
        assert len(rows) == release.rows == stats["steps"]
        assert {r["provider"] for r in rows} == {"claude", "codex"}
        assert audit_file(tmp_path / "rel1" / f"{BASENAME}.jsonl.gz", strict=True).ok
        con = open_db(tmp_path / "rel1" / f"{BASENAME}.duckdb")
        assert con.execute("SELECT count(*) FROM rounds").fetchone()[0] == len(rows)
        con.close()
        # byte-identical for the same pool and version
        build_release(pool_dir, "v0.1.0", tmp_path / "rel2")
        for name in ("SHA256SUMS", f"{BASENAME}.jsonl.gz", "DATASHEET.md"):
            assert (tmp_path / "rel1" / name).read_bytes() == (
                tmp_path / "rel2" / name
            ).read_bytes()
        sums = (tmp_path / "rel1" / "SHA256SUMS").read_text().splitlines()
        for line in sums:
            digest, name = line.split("  ")
            assert hashlib.sha256((tmp_path / "rel1" / name).read_bytes()).hexdigest() == digest

        # a wrong withdrawal token changes nothing; the right one removes the contribution
        with PoolClient(server.url) as anon:
            with pytest.raises(ContributeError, match="wrong withdrawal token"):
                anon.withdraw({**got_a, "withdrawal_token": "wd_" + "0" * 64})
            assert len(Pool(pool_dir, create=False).contributions()) == 2
            anon.withdraw(got_a)
        pool.reload()
        assert [e["id"] for e in pool.contributions()] == [got_b["contribution_id"]]
        assert not pool.parquet_path(got_a["contribution_id"]).exists()
        assert pool_stats(pool)["withdrawn"] == 1

    build_release(pool_dir, "v0.1.1", tmp_path / "rel3")
    rows = _release_rows(tmp_path / "rel3")
    assert len(rows) == expected["codex"][0] and {r["provider"] for r in rows} == {"codex"}
    audit_log = (pool_dir / "audit.log").read_text()
    assert "tlp_forged" not in audit_log and token not in audit_log
    assert '"status":401' in audit_log and '"status":403' in audit_log
