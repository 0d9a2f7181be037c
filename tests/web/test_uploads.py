"""Uploads through the endpoint: streamed to disk under a cap, processed by `tracelab.ingest`,
and every bad upload ends in a clear 4xx or a job error — never a crashed server."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from .conftest import auth, wait_job


def _upload(client, name: str, body: bytes) -> dict:
    r = client.post("/api/uploads", params={"name": name}, content=body, headers=auth())
    assert r.status_code == 202, r.text
    return wait_job(client, r.json()["job"]["id"], timeout=300)


def test_a_zip_of_agent_logs_becomes_a_trace(client, home_zip: Path, small_trace) -> None:
    job = _upload(client, home_zip.name, home_zip.read_bytes())
    assert job["state"] == "done", job
    result = job["result"]
    assert result["kind"]
    tid = result["trace_id"]
    assert set(result["downloads"]) == {"normalized", "sanitized"}
    main = client.get("/api/t/main/overview").json()["headline"]
    mine = client.get(f"/api/t/{tid}/overview").json()["headline"]
    steps = {r["provider"]: r["steps"] for r in main}
    assert {r["provider"]: r["steps"] for r in mine} == steps  # the same logs, the same steps
    assert result["steps"] == steps["total"]
    status = client.get("/api/status").json()
    assert tid in [t["id"] for t in status["traces"]]
    for kind in ("normalized", "sanitized"):
        r = client.get(f"/api/t/{tid}/download/{kind}")
        assert r.status_code == 200
        assert gzip.decompress(r.content).count(b"\n") == steps["total"]
    assert client.get(f"/api/t/{tid}/dashboard").status_code == 200


def test_a_normalized_trace_upload(client, small_trace) -> None:
    job = _upload(client, "trace.jsonl.gz", small_trace.trace.read_bytes())
    assert job["state"] == "done", job
    assert "sanitized" in job["result"]["downloads"]


def test_empty_upload_is_400(client) -> None:
    r = client.post("/api/uploads", params={"name": "empty.jsonl"}, content=b"", headers=auth())
    assert r.status_code == 400
    assert "empty" in r.json()["error"]


def test_upload_over_the_cap_is_413(make_client) -> None:
    client = make_client(upload_limit=1000)
    r = client.post(
        "/api/uploads", params={"name": "big.jsonl"}, content=b"x" * 5000, headers=auth()
    )
    assert r.status_code == 413
    assert "limit" in r.json()["error"]


def test_upload_over_the_cap_without_a_length_is_cut_off(make_client) -> None:
    client = make_client(upload_limit=1000)

    def chunks():
        for _ in range(50):
            yield b"y" * 100

    r = client.post("/api/uploads", params={"name": "big.jsonl"}, content=chunks(), headers=auth())
    assert r.status_code == 413


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _first_log(small_trace) -> bytes:
    return next(iter(sorted(small_trace.home.rglob("*.jsonl")))).read_bytes()


BAD_UPLOADS = {
    "corrupt gzip": ("trace.jsonl.gz", b"\x1f\x8b\x08\x00" + b"\x00garbage" * 50),
    "wrong format": ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200),
    "plain text": ("notes.txt", b"hello, this is not a trace\n" * 10),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_uploads_end_in_a_clear_job_error(client, case: str) -> None:
    name, body = BAD_UPLOADS[case]
    job = _upload(client, name, body)
    assert job["state"] == "error"
    assert job["error"] and "Traceback" not in job["error"]
    assert client.get("/api/status").status_code == 200


def test_zip_slip_is_rejected(client, small_trace) -> None:
    body = _zip([("../../escape.jsonl", _first_log(small_trace))])
    job = _upload(client, "slip.zip", body)
    assert job["state"] == "error"
    assert "escape.jsonl" in job["error"] or "path" in job["error"].lower()


def test_zip_bomb_is_rejected(client) -> None:
    bomb = b'{"type":"user"}\n' * (4 << 20)  # 64 MiB of one repeated line, ~100 KiB zipped
    body = _zip([(".claude/projects/-x/bomb.jsonl", bomb)])
    assert len(body) < len(bomb) / 200
    job = _upload(client, "bomb.zip", body)
    assert job["state"] == "error"
    assert any(w in job["error"].lower() for w in ("ratio", "cap", "limit", "large"))
