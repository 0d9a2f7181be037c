"""The Contribute page's API against a real pool server on loopback: preview, consent,
chunked upload (also across a pool crash mid-upload), receipt."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from pool_support import ServerProcess, free_port, running
from tracelab.io import read_rows
from tracelab.pool.access import Tokens
from tracelab.pool.storage import Pool
from tracelab.web import contribute

from .conftest import TOKEN

AUTH = {"X-TraceLab-Token": TOKEN}


def _pool_token(pool_dir: Path) -> str:
    return Tokens(Pool(pool_dir).root).add("web-tester")


def _wait(client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def _expected(trace: Path) -> tuple[int, int]:
    """Rows and distinct (provider, session) of the served trace: what the preview must say
    (sanitizing keeps every row and maps each session to one pseudonym)."""
    rows = list(read_rows(trace))
    return len(rows), len({(r["provider"], r["session_id"]) for r in rows})


def _preview(client) -> dict:
    trace = client.get("/api/status").json()["default_trace"]
    r = client.post("/api/contribute/preview", json={"trace": trace}, headers=AUTH)
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["job"]["id"])
    assert job["state"] == "done", job
    return job["result"]


def test_preview_consent_upload_receipt(make_client, small_trace, tmp_path) -> None:
    client = make_client()
    trace = client.get("/api/status").json()["default_trace"]
    # state-changing: the app's token is required
    assert client.post("/api/contribute/preview", json={"trace": trace}).status_code == 403
    result = _preview(client)
    preview = result["preview"]
    rows, sessions = _expected(small_trace.trace)
    assert (preview["rows"], preview["sessions"]) == (rows, sessions)
    assert result["licence"] == "CC-BY-4.0"
    assert preview["sanitized_here"] is True
    for private in ("cwd", "home", "session_file"):
        assert private not in preview["fields"] and private not in preview["sample_row"]
    assert preview["window"][0] <= preview["window"][1]

    pool_dir = tmp_path / "pool"
    token = _pool_token(pool_dir)
    with running(pool_dir) as server:
        body = {"prepared": result["prepared"], "url": server.url, "token": token}
        refused = client.post("/api/contribute/upload", json=body, headers=AUTH)
        assert refused.status_code == 422 and "consent" in refused.json()["error"]
        bad_url = {**body, "consent": True, "url": "file:///etc/passwd"}
        assert client.post("/api/contribute/upload", json=bad_url, headers=AUTH).status_code == 422
        r = client.post("/api/contribute/upload", json={**body, "consent": True}, headers=AUTH)
        assert r.status_code == 202, r.text
        job = _wait(client, r.json()["job"]["id"])
        assert job["state"] == "done", job
        assert job["done"] == job["total"] == preview["bytes"]
        receipt = job["result"]["receipt"]
        assert receipt["rows_accepted"] == rows
        assert receipt["sessions_new"] == sessions and receipt["sessions_in_pool"] == 0
        assert receipt["contribution_id"] and receipt["withdrawal_token"]
        saved = Path(job["result"]["receipt_file"])
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        stats = client.get("/api/contribute").json()
        assert stats["traces"][0]["contributable"] is True

        # the same trace again: nothing new, every session recognised
        again = _preview(client)
        r = client.post(
            "/api/contribute/upload",
            json={
                "prepared": again["prepared"],
                "url": server.url,
                "token": token,
                "consent": True,
            },
            headers=AUTH,
        )
        job = _wait(client, r.json()["job"]["id"])
        assert job["state"] == "done", job
        assert job["result"]["receipt"]["rows_accepted"] == 0


def test_a_wrong_pool_token_is_one_clear_error(make_client, tmp_path) -> None:
    client = make_client()
    result = _preview(client)
    pool_dir = tmp_path / "pool"
    _pool_token(pool_dir)
    with running(pool_dir) as server:
        body = {
            "prepared": result["prepared"],
            "url": server.url,
            "token": "forged",
            "consent": True,
        }
        job = _wait(
            client,
            client.post("/api/contribute/upload", json=body, headers=AUTH).json()["job"]["id"],
        )
    assert job["state"] == "error"
    assert "HTTP 401" in job["error"] or "HTTP 403" in job["error"]


def test_the_upload_resumes_after_the_pool_dies_mid_upload(
    make_client, small_trace, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(contribute, "chunk_bytes", 2048)
    client = make_client()
    result = _preview(client)
    assert result["preview"]["bytes"] > 3 * 2048  # several chunks, the crash after the 2nd
    pool_dir = tmp_path / "pool"
    token = _pool_token(pool_dir)
    server = ServerProcess(pool_dir, free_port()).start(crash="append.after_write:2")
    try:
        body = {"prepared": result["prepared"], "url": server.url, "token": token, "consent": True}
        r = client.post("/api/contribute/upload", json=body, headers=AUTH)
        job_id = r.json()["job"]["id"]
        assert server.wait_killed(60) != 0  # the pool died after the 2nd chunk
        seen = client.get(f"/api/jobs/{job_id}").json()
        assert seen["state"] == "running" and 0 < seen["done"] < seen["total"]
        server.stop()
        restart = threading.Thread(target=server.start)  # same port, no crash this time
        restart.start()
        job = _wait(client, job_id)
        restart.join()
    finally:
        server.stop()
    assert job["state"] == "done", job
    rows, sessions = _expected(small_trace.trace)
    assert job["result"]["receipt"]["rows_accepted"] == rows
    assert job["result"]["receipt"]["sessions_new"] == sessions
