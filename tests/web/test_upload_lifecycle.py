"""Uploads over time (issue 15): they survive a restart, are listed and deletable, stay within
a disk quota shared by concurrent uploads, and a bad-line count is reported as lines."""

from __future__ import annotations

import gzip
import os
import time

import pytest

from tracelab.web.uploads import (
    ABANDONED_S,
    MANIFEST,
    QuotaExceeded,
    UploadQuota,
    folder_bytes,
    problems_summary,
    uploads_dir,
)

from .conftest import auth, wait_job


def _upload(client, name: str, body: bytes) -> dict:
    r = client.post("/api/uploads", params={"name": name}, content=body, headers=auth())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job"]["id"], timeout=300)
    assert job["state"] == "done", job
    return job["result"]


def test_uploads_survive_a_restart_and_are_listed(make_client, small_trace) -> None:
    body = small_trace.trace.read_bytes()
    first = make_client()
    tid = _upload(first, "trace.jsonl.gz", body)["trace_id"]
    steps = first.get(f"/api/t/{tid}/overview").json()["headline"]
    listed = first.get("/api/uploads").json()
    (mine,) = listed["uploads"]
    assert mine["id"] == tid and mine["label"] == "trace.jsonl.gz"
    assert mine["upload_bytes"] == len(body)
    assert mine["disk_bytes"] == folder_bytes(uploads_dir() / tid) > 0
    assert listed["used"] == folder_bytes(uploads_dir())
    assert abs(mine["created"] - time.time()) < 300
    first.app.state.tracelab.traces.close()

    again = make_client()  # a new server over the same cache directory
    status = again.get("/api/status").json()
    assert status["default_trace"] == "main"  # an old upload never hides the served trace
    found = {t["id"]: t for t in status["traces"]}
    assert found[tid]["origin"] == "upload"
    assert found[tid]["upload_bytes"] == len(body)
    assert again.get(f"/api/t/{tid}/overview").json()["headline"] == steps
    assert set(found[tid]["downloads"]) == {"normalized", "sanitized"}


def test_abandoned_upload_folders_are_removed_on_start(make_client) -> None:
    root = uploads_dir()
    old, fresh, other = root / "u-0000000a", root / "u-0000000b", root / "not-an-upload"
    for folder in (old, fresh, other):
        (folder / "upload").mkdir(parents=True)
        (folder / "upload" / "x.jsonl").write_bytes(b"{}\n")
    past = time.time() - ABANDONED_S - 60
    for path in (old / "upload" / "x.jsonl", old / "upload", old):
        os.utime(path, (past, past))
    make_client()
    assert not old.exists()  # never finished, abandoned: removed
    assert fresh.exists()  # may still be processing in another server: kept
    assert other.exists()  # not ours to touch


def test_delete_an_upload(make_client, small_trace) -> None:
    client = make_client()
    tid = _upload(client, "trace.jsonl.gz", small_trace.trace.read_bytes())["trace_id"]
    assert (uploads_dir() / tid / MANIFEST).is_file()
    assert client.delete(f"/api/uploads/{tid}").status_code == 403  # no token
    r = client.delete(f"/api/uploads/{tid}", headers=auth())
    assert r.status_code == 200 and r.json() == {"deleted": tid}
    assert not (uploads_dir() / tid).exists()
    assert client.get(f"/api/t/{tid}/overview").status_code == 404
    assert client.get("/api/uploads").json()["uploads"] == []
    assert client.delete(f"/api/uploads/{tid}", headers=auth()).status_code == 404
    # the served trace is not an upload, and odd ids touch nothing
    assert client.delete("/api/uploads/main", headers=auth()).status_code == 404
    assert client.delete("/api/uploads/..", headers=auth()).status_code in (404, 405)


def test_the_quota_refuses_with_507(make_client) -> None:
    client = make_client(upload_quota=1000)
    r = client.post("/api/uploads", params={"name": "a.jsonl"}, content=b"x" * 1500, headers=auth())
    assert r.status_code == 507
    assert "quota" in r.json()["error"] and "Traceback" not in r.json()["error"]

    def chunks():  # no Content-Length: cut off once past what is left
        for _ in range(20):
            yield b"y" * 100

    r = client.post("/api/uploads", params={"name": "b.jsonl"}, content=chunks(), headers=auth())
    assert r.status_code == 507
    assert folder_bytes(uploads_dir()) == 0  # nothing of a refused upload stays
    assert client.app.state.tracelab.quota.reserved() == 0


def test_concurrent_reservations_share_the_quota() -> None:
    quota = UploadQuota(1000)
    a = quota.reserve(600, limit=10_000)
    with pytest.raises(QuotaExceeded):
        quota.reserve(600, limit=10_000)  # 600 + 600 > 1000 while the first is held
    b = quota.reserve(None, limit=10_000)  # no declared length: what is left
    assert b.size == 400
    with pytest.raises(QuotaExceeded):
        quota.reserve(None, limit=10_000)
    a.release()
    a.release()  # idempotent
    assert quota.reserved() == 400
    b.release()
    assert quota.reserve(1000, limit=10_000).size == 1000


def test_reservation_is_held_while_processing_and_released_after(make_client, small_trace):
    client = make_client()
    body = small_trace.trace.read_bytes()
    r = client.post("/api/uploads", params={"name": "t.jsonl.gz"}, content=body, headers=auth())
    assert r.status_code == 202
    wait_job(client, r.json()["job"]["id"])
    assert client.app.state.tracelab.quota.reserved() == 0


def test_bad_lines_are_counted_as_lines_not_files(make_client, small_trace) -> None:
    client = make_client()
    good = gzip.decompress(small_trace.trace.read_bytes())
    bad = b"".join(b"{not json %d\n" % i for i in range(119))  # 119 bad lines, one file
    result = _upload(client, "trace.jsonl", good + bad)
    assert result["skipped_lines"] == 119
    assert result["problems_summary"].startswith("119 unreadable line(s) skipped")
    assert "file" not in result["problems_summary"]
    assert result["steps"] == good.count(b"\n")


def test_problems_summary() -> None:
    assert problems_summary(0, []) is None
    assert problems_summary(3, ["a"]) == (
        "3 unreadable line(s) skipped; 1 problem(s) noted (every good row kept)"
    )
    many = problems_summary(0, ["p"] * 25)
    assert many == "25 problem(s) noted, the first 20 shown (every good row kept)"
