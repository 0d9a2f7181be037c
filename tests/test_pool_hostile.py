"""Hostile uploads and requests: each gets one clear rejection, and the pool is unchanged.

The app runs in-process (Starlette's test client, the real ingest worker thread) with small
caps so bombs and huge rows stay cheap to build.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import REAL_HOME, needs_fixtures
from pool_support import KEY_A, gz, jsonl_gz, prepared, private_traces
from tracelab.io import read_rows
from tracelab.pool.access import AccessPolicy, Tokens
from tracelab.pool.app import create_app
from tracelab.pool.storage import Pool
from tracelab.pool.validate import Limits

pytestmark = needs_fixtures

LIMITS = Limits(
    max_compressed_bytes=4 << 20,
    max_inflated_bytes=32 << 20,
    max_ratio=100.0,
    ratio_allowance=256 << 10,
    max_rows=10_000,
    max_row_bytes=64 << 10,
    max_chunk_bytes=256 << 10,
)
CONSENT = {"licence": "CC-BY-4.0", "accepted": True, "accepted_at": "2026-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return private_traces(REAL_HOME, tmp_path_factory.mktemp("hostile-traces"))


@pytest.fixture(scope="module")
def public_rows(traces, tmp_path_factory) -> list[dict]:
    """The fixture home, sanitized: rows the pool accepts as they are."""
    up = prepared(traces["all"], tmp_path_factory.mktemp("hostile-prep"), KEY_A)
    return list(read_rows(up.path))


class Harness:
    def __init__(self, http: TestClient, pool_dir: Path, token: str) -> None:
        self.http = http
        self.pool_dir = pool_dir
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}

    def snapshot(self) -> tuple[bytes, list[str]]:
        manifest = self.pool_dir / "manifest.json"
        files = sorted(p.name for p in (self.pool_dir / "contributions").iterdir())
        return (manifest.read_bytes() if manifest.exists() else b"", files)

    def start(self, data: bytes, **body) -> dict:
        payload = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **body}
        payload.setdefault("consent", CONSENT)
        r = self.http.post("/v1/uploads", json=payload, headers=self.auth)
        assert r.status_code == 201, r.text
        return r.json()

    def put(self, upload_id: str, offset: int, chunk: bytes):
        return self.http.put(
            f"/v1/uploads/{upload_id}",
            params={"offset": offset},
            content=chunk,
            headers=self.auth,
        )

    def upload(self, data: bytes) -> dict:
        """Send `data` whole (in cap-sized chunks), finish, wait for the job's verdict."""
        info = self.start(data)
        upload_id, step = info["upload_id"], LIMITS.max_chunk_bytes
        for offset in range(0, len(data), step):
            r = self.put(upload_id, offset, data[offset : offset + step])
            assert r.status_code == 200, r.text
        r = self.http.post(f"/v1/uploads/{upload_id}/finish", headers=self.auth)
        assert r.status_code == 202, r.text
        return self.wait(upload_id)

    def wait(self, upload_id: str) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.http.get(f"/v1/jobs/{upload_id}", headers=self.auth).json()
            if status["state"] in ("accepted", "rejected"):
                return status
            time.sleep(0.02)
        raise AssertionError("the ingest job did not finish")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    pool_dir = tmp_path / "pool"
    token = Tokens(Pool(pool_dir).root).add("tester")
    app = create_app(pool_dir, policy=AccessPolicy(), limits=LIMITS, max_uploads=4)
    with TestClient(app) as http:
        yield Harness(http, pool_dir, token)


def _rejected(h: Harness, data: bytes, *fragments: str) -> str:
    before = h.snapshot()
    status = h.upload(data)
    assert status["state"] == "rejected", status
    for fragment in fragments:
        assert fragment in status["message"], status["message"]
    assert h.snapshot() == before
    return status["message"]


def test_a_good_upload_is_accepted(harness, public_rows) -> None:
    status = harness.upload(jsonl_gz(public_rows))
    assert status["state"] == "accepted"
    assert status["receipt"]["rows_accepted"] == len(public_rows)


def test_a_private_trace_is_rejected_naming_its_private_fields(harness, traces) -> None:
    raw = gzip.compress(traces["all"].read_bytes(), mtime=0)
    present = set()
    for row in read_rows(traces["all"]):
        present |= {k for k in ("cwd", "home", "session_file") if k in row}
        break
    message = _rejected(harness, raw, "private field(s)", "not sanitized")
    for name in present:  # every private field of the first row is named
        assert name in message
    assert str(traces["all"].parent) not in message


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        ("model", "/home/alice/secret-project", "path-like value"),
        ("store", "C:\\Users\\alice", "path-like value"),
        ("first_input_event_type", "sk-ant-0123456789abcdefghijkl", "secret"),
        ("tools.0.tool_name", "ghp_0123456789abcdefghijklmnopqrstuvwxyz", "secret"),
        ("timing_events.0.source", "/Users/bob/.ssh", "path-like value"),
        ("project", "p_not-a-pseudonym", "identifier not pseudonymized"),
    ],
)
def test_a_planted_path_or_key_in_any_string_field_is_rejected(
    harness, public_rows, where, value, reason
) -> None:
    rows = copy.deepcopy(public_rows)
    target = next(r for r in rows if r.get("tools")) if "tools" in where else rows[0]
    parts = where.split(".")
    holder = target
    for part in parts[:-1]:
        holder = holder[int(part)] if part.isdigit() else holder[part]
    holder[parts[-1]] = value
    message = _rejected(harness, jsonl_gz(rows), "privacy audit failed", reason)
    assert value not in message  # the message names the field, never the value
    field = where.replace(".0.", "[0].")
    assert field in message


def test_a_gzip_bomb_is_rejected_on_its_ratio(harness) -> None:
    bomb = gzip.compress(b" " * (16 << 20), compresslevel=9, mtime=0)  # 16 MiB → ~16 KiB
    _rejected(harness, bomb, "compression-ratio cap")


def test_a_truncated_gzip_is_rejected(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    _rejected(harness, data[: len(data) // 2], "truncated gzip")


def test_corrupt_gzip_and_trailing_garbage_are_rejected(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    corrupt = data[:20] + bytes(b ^ 0xFF for b in data[20:60]) + data[60:]
    _rejected(harness, corrupt, "gzip")
    _rejected(harness, data + b"garbage", "bytes after its gzip stream")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda r: r.update(round_index="seven"), "field round_index is not of type int64"),
        (lambda r: r.update(output_tokens=True), "field output_tokens is not of type int64"),
        (lambda r: r.update(tools="none"), "field tools is not of type a list"),
        (lambda r: r.update(favourite_colour="blue"), "outside the public schema"),
        (lambda r: r.pop("session_id"), "required field(s) missing: session_id"),
        (lambda r: r.update(input_tokens_total=1 << 63), "not of type int64"),
    ],
)
def test_wrong_schema_is_rejected(harness, public_rows, mutate, fragment) -> None:
    rows = copy.deepcopy(public_rows)
    mutate(rows[1])
    message = _rejected(harness, jsonl_gz(rows), fragment)
    assert message.startswith("line 2:")  # the second row, by its line number


def test_not_json_and_not_objects_are_rejected(harness, public_rows) -> None:
    good = orjson.dumps(public_rows[0]) + b"\n"
    _rejected(harness, gz([good, b"{not json\n"]), "line 2: not valid JSON")
    _rejected(harness, gz([good, b"[1, 2]\n"]), "line 2: not a JSON object")
    _rejected(harness, gz([b"\n", b"\n"]), "no rows")


def test_a_tool_input_is_a_private_field(harness, public_rows) -> None:
    rows = copy.deepcopy(public_rows)
    row = next(r for r in rows if r.get("tools"))
    row["tools"][0]["input"] = {"command": "ls"}
    _rejected(harness, jsonl_gz(rows), "private field(s) tools[0].input")


def test_one_huge_row_is_rejected_without_buffering_it(harness, public_rows) -> None:
    row = dict(public_rows[0], model="m" * (LIMITS.max_row_bytes + 10))
    _rejected(harness, jsonl_gz([row]), "line 1 is longer than", "bytes-per-row cap")
    no_newline = gz([b'{"model": "' + b"x" * (LIMITS.max_row_bytes * 2)])
    _rejected(harness, no_newline, "bytes-per-row cap")


def test_chunks_out_of_order_or_overlapping_are_refused(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    before = harness.snapshot()
    upload_id = harness.start(data)["upload_id"]
    gap = harness.put(upload_id, 100, data[100:200])
    assert gap.status_code == 409 and "leaves a gap" in gap.json()["error"]
    assert gap.json()["received"] == 0
    assert harness.put(upload_id, 0, data[:100]).json()["received"] == 100
    overlap = harness.put(upload_id, 50, data[50:150])
    assert overlap.status_code == 409 and "overlaps" in overlap.json()["error"]
    assert overlap.json()["received"] == 100
    past = harness.put(upload_id, 100, data[100:] + b"extra")
    assert past.status_code == 413
    early = harness.http.post(f"/v1/uploads/{upload_id}/finish", headers=harness.auth)
    assert early.status_code == 409
    assert early.json()["error"] == f"finish before all chunks: received 100 of {len(data)} bytes"
    assert harness.put(upload_id, 100, data[100:]).status_code == 200
    assert harness.snapshot() == before  # nothing is committed before finish
    harness.http.post(f"/v1/uploads/{upload_id}/finish", headers=harness.auth)
    assert harness.wait(upload_id)["state"] == "accepted"


def test_a_wrong_declared_hash_is_rejected(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    before = harness.snapshot()
    info = harness.http.post(
        "/v1/uploads",
        json={"size": len(data), "sha256": "0" * 64, "consent": CONSENT},
        headers=harness.auth,
    ).json()
    harness.put(info["upload_id"], 0, data)
    harness.http.post(f"/v1/uploads/{info['upload_id']}/finish", headers=harness.auth)
    status = harness.wait(info["upload_id"])
    assert status["state"] == "rejected" and "do not match the declared sha256" in status["message"]
    assert harness.snapshot() == before


def test_forged_and_missing_tokens_are_refused(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    body = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "consent": CONSENT}
    forged = harness.http.post(
        "/v1/uploads", json=body, headers={"Authorization": "Bearer tlp_forged"}
    )
    assert forged.status_code == 401 and forged.json()["error"] == "unknown contributor token"
    missing = harness.http.post("/v1/uploads", json=body)  # the pool is not in open mode
    assert missing.status_code == 401 and "needs a contributor token" in missing.json()["error"]
    # someone else's upload id is not theirs to touch
    upload_id = harness.start(data)["upload_id"]
    other = Tokens(harness.pool_dir).add("mallory")
    r = harness.http.put(
        f"/v1/uploads/{upload_id}",
        params={"offset": 0},
        content=data,
        headers={"Authorization": f"Bearer {other}"},
    )
    assert r.status_code == 404


def test_consent_and_size_are_checked_at_start(harness) -> None:
    sha = "a" * 64
    no_consent = harness.http.post(
        "/v1/uploads", json={"size": 10, "sha256": sha}, headers=harness.auth
    )
    assert no_consent.status_code == 400 and "consent" in no_consent.json()["error"]
    other = {**CONSENT, "licence": "proprietary"}
    r = harness.http.post(
        "/v1/uploads", json={"size": 10, "sha256": sha, "consent": other}, headers=harness.auth
    )
    assert r.status_code == 400
    big = LIMITS.max_compressed_bytes + 1
    r = harness.http.post(
        "/v1/uploads", json={"size": big, "sha256": sha, "consent": CONSENT}, headers=harness.auth
    )
    assert r.status_code == 413 and "compressed-size cap" in r.json()["error"]


def test_body_caps_answer_413_before_reading(harness, public_rows) -> None:
    data = jsonl_gz(public_rows)
    upload_id = harness.start(data)["upload_id"]
    headers = {**harness.auth, "Content-Length": str(LIMITS.max_chunk_bytes + 1)}
    r = harness.http.put(
        f"/v1/uploads/{upload_id}", params={"offset": 0}, content=b"x" * 10, headers=headers
    )
    assert r.status_code == 413
    r = harness.http.post("/v1/withdraw", content=b"{}", headers={"Content-Length": str(1 << 20)})
    assert r.status_code == 413


def test_a_withdrawal_with_a_wrong_token_changes_nothing(harness, public_rows) -> None:
    receipt = harness.upload(jsonl_gz(public_rows))["receipt"]
    before = harness.snapshot()
    for token in ("wd_" + "0" * 64, "", receipt["withdrawal_token"][:-1]):
        r = harness.http.post(
            "/v1/withdraw",
            json={"contribution_id": receipt["contribution_id"], "withdrawal_token": token},
        )
        assert (
            r.status_code == 403
            and r.json()["error"] == "wrong withdrawal token for this contribution"
        )
    unknown = harness.http.post(
        "/v1/withdraw", json={"contribution_id": "ctb_nope", "withdrawal_token": "x"}
    )
    assert unknown.status_code == 403
    assert harness.snapshot() == before


def test_the_audit_log_records_outcomes_without_content(harness, public_rows) -> None:
    rows = copy.deepcopy(public_rows)
    rows[0]["model"] = "/home/planted-user/x"
    harness.upload(jsonl_gz(rows))
    log = (harness.pool_dir / "audit.log").read_text()
    records = [orjson.loads(line) for line in log.splitlines()]
    assert any(r.get("event") == "ingest" and r["outcome"] == "rejected" for r in records)
    assert any(r.get("method") == "PUT" and r["status"] == 200 for r in records)
    assert "planted-user" not in log and harness.token not in log


def test_rate_limit_per_address(tmp_path) -> None:
    app = create_app(
        tmp_path / "pool", policy=AccessPolicy(address_rate=0.01, address_burst=3), limits=LIMITS
    )
    with TestClient(app) as http:
        codes = [http.get("/v1/health").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_open_mode_limits_upload_starts_per_address(tmp_path, public_rows) -> None:
    policy = AccessPolicy(open_mode=True, open_uploads_per_hour=2)
    app = create_app(tmp_path / "pool", policy=policy, limits=LIMITS)
    with TestClient(app) as http:
        codes = []
        for i in range(3):
            body = {"size": 10 + i, "sha256": f"{i:064x}", "consent": CONSENT}
            codes.append(http.post("/v1/uploads", json=body).status_code)
    assert codes == [201, 201, 429]


def test_concurrent_uploads_are_bounded(tmp_path) -> None:
    token = Tokens(Pool(tmp_path / "pool").root).add("t")
    app = create_app(tmp_path / "pool", limits=LIMITS, max_uploads=2)
    with TestClient(app) as http:
        codes = [
            http.post(
                "/v1/uploads",
                json={"size": 10, "sha256": f"{i:064x}", "consent": CONSENT},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            for i in range(3)
        ]
    assert codes == [201, 201, 429]


def test_multi_member_gzip_is_read_whole(harness, public_rows) -> None:
    half = len(public_rows) // 2
    data = jsonl_gz(public_rows[:half]) + jsonl_gz(public_rows[half:])
    status = harness.upload(data)
    assert status["state"] == "accepted" and status["receipt"]["rows_accepted"] == len(public_rows)
    assert zlib.decompress(data[: len(jsonl_gz(public_rows[:half]))], wbits=31)


# --- Parquet uploads (the default of `tracelab contribute`) ----------------------------------


def _parquet(rows: list[dict], table=None, **kw) -> bytes:
    """Rows as a Parquet upload, written by pyarrow like a client would (or a given table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    if table is None:
        table = pa.Table.from_pylist(rows, schema=PUBLIC_ARROW_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **kw)
    return sink.getvalue().to_pybytes()


def _public_table(rows: list[dict]):
    import pyarrow as pa

    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    return pa.Table.from_pylist(rows, schema=PUBLIC_ARROW_SCHEMA)


def test_a_parquet_upload_is_accepted_and_dedups_against_the_same_rows_as_jsonl(
    harness, public_rows
) -> None:
    status = harness.upload(_parquet(public_rows))
    assert status["state"] == "accepted", status
    receipt = status["receipt"]
    assert receipt["rows_accepted"] == len(public_rows)
    # the same sessions as JSONL.gz: other bytes, same fingerprints, so nothing new
    again = harness.upload(jsonl_gz(public_rows))["receipt"]
    assert again["sessions_new"] == 0
    assert again["sessions_in_pool"] == receipt["sessions_new"]


def test_a_parquet_decompression_bomb_is_rejected_before_decoding(harness, public_rows) -> None:
    # 9,000 rows (under the row cap) with a 4,000-byte model each: 36 MB decoded (over the
    # 32 MiB cap), a few KB compressed
    rows = [dict(public_rows[0], model="a" * 4000)] * 9000
    data = _parquet(rows, compression="zstd")
    assert len(data) < LIMITS.ratio_allowance
    _rejected(harness, data, "decodes to more than 32 MiB", "inflated-size cap")
    # 2,000 such rows: 8 MB decoded, under that cap, but from a few KB: the ratio cap
    data = _parquet(rows[:2000], compression="zstd")
    _rejected(harness, data, "decompression bomb", "compression-ratio cap")


def test_a_truncated_or_corrupt_parquet_upload_is_rejected(harness, public_rows) -> None:
    data = _parquet(public_rows, compression="zstd")
    _rejected(harness, data[: len(data) // 2], "not a readable Parquet file")
    middle = len(data) // 3
    corrupt = (
        data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 64]) + data[middle + 64 :]
    )
    _rejected(harness, corrupt, "not a readable Parquet file")


@pytest.mark.parametrize(
    ("column", "fragments"),
    [
        ("cwd", ("the upload's schema", "private field(s) cwd", "not sanitized")),
        (
            "favourite_colour",
            ("the upload's schema", "outside the public schema: favourite_colour"),
        ),
    ],
)
def test_a_parquet_column_outside_the_allow_list_is_rejected_naming_it(
    harness, public_rows, column, fragments
) -> None:
    import pyarrow as pa

    table = _public_table(public_rows)
    table = table.append_column(column, pa.array(["/home/alice"] * len(table)))
    message = _rejected(harness, _parquet([], table=table), *fragments)
    assert "/home/alice" not in message


def test_a_parquet_nested_private_field_or_wrong_type_is_rejected(harness, public_rows) -> None:
    import pyarrow as pa

    from tracelab.schema import TOOL_FIELDS

    rows = copy.deepcopy(public_rows)
    for row in rows:
        for tool in row.get("tools") or ():
            tool["input"] = '{"command": "cat ~/.ssh/id_rsa"}'
    private = pa.schema(
        [
            (
                f.name,
                pa.list_(pa.struct(list(TOOL_FIELDS.items()))) if f.name == "tools" else f.type,
            )
            for f in _public_table(public_rows[:1]).schema
        ]
    )
    table = pa.Table.from_pylist(rows, schema=private)
    _rejected(harness, _parquet([], table=table), "private field(s) tools[].input")
    table = _public_table(public_rows)
    index = table.schema.get_field_index("round_index")
    wrong = table.set_column(index, "round_index", table.column("round_index").cast(pa.string()))
    _rejected(harness, _parquet([], table=wrong), "column round_index is string, not int64")
    _rejected(harness, _parquet([], table=table.drop_columns(["user"])), "missing: user")


@pytest.mark.parametrize(
    ("where", "value", "reason", "field"),
    [
        ("model", "/home/alice/secret-project", "path-like value", "model"),
        ("tools", "ghp_0123456789abcdefghijklmnopqrstuvwxyz", "secret", "tools[0].tool_name"),
        ("timing_events", "/Users/bob/.ssh", "path-like value", "timing_events[0].source"),
        ("project", "sk-ant-0123456789abcdefghijkl", "secret", "project"),
    ],
)
def test_a_planted_path_or_key_in_a_parquet_string_is_rejected(
    harness, public_rows, where, value, reason, field
) -> None:
    rows = copy.deepcopy(public_rows)
    index, row = next((i, r) for i, r in enumerate(rows) if r.get("tools"))
    if where == "tools":
        row["tools"][0]["tool_name"] = value
    elif where == "timing_events":
        row["timing_events"][0]["source"] = value
    else:
        row[where] = value
    message = _rejected(harness, _parquet(rows), "privacy audit failed", reason, field)
    assert f"row {index + 1}:" in message  # rows are numbered from 1, in upload order
    assert value not in message


def test_one_huge_parquet_row_is_rejected(harness, public_rows) -> None:
    rows = [public_rows[0], dict(public_rows[1], model="m" * (LIMITS.max_row_bytes + 10))]
    _rejected(harness, _parquet(rows), "row 2 is larger than", "bytes-per-row cap")


def test_parquet_metadata_never_reaches_the_pool_file(harness, public_rows) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    secret = "/home/alice/notes.txt"
    table = _public_table(public_rows)
    table = table.replace_schema_metadata({"note": secret})
    fields = [f.with_metadata({"where": secret}) for f in table.schema]
    table = table.cast(pa.schema(fields, metadata={"note": secret}))
    data = _parquet([], table=table)
    assert secret.encode() in data
    status = harness.upload(data)
    assert status["state"] == "accepted", status
    (stored,) = (harness.pool_dir / "contributions").glob("*.parquet")
    assert secret.encode() not in stored.read_bytes()
    kept = pq.read_schema(stored)
    assert not any(secret in str(v) for v in (kept.metadata or {}).values())
    assert pq.read_table(stored).to_pylist() == _public_table(public_rows).to_pylist()
