"""`tracelab contribute`: sanitize locally, show what will be sent, upload it resumably.

Why the order: nothing leaves the machine before it is sanitized and audited here (a private
trace is re-sanitized with the user's key; a trace that already passes the strict audit is
sent as is), and the user sees the rows, sessions, window, models, fields and a sample row of
exactly the file that will be sent before consenting. The file is Parquet by default (the
pool checks it several times faster than JSON; `pool.columnar.parquet_writer`'s fixed settings)
or the release's JSONL.gz with a fixed gzip header: either way the same trace gives the same
bytes and a re-upload is recognised by its hash.

The upload is chunked: each chunk is sent at the offset the server has; after a dropped
connection, a 429 or a 5xx the client waits, asks the server how many bytes it holds and
resumes from there. It then polls the job until the pool accepts or rejects the contribution.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tracelab import __version__
from tracelab.io import atomic_write_bytes, read_rows, write_rows
from tracelab.paths import config_dir
from tracelab.schema import ROW_FIELDS, Row

if TYPE_CHECKING:  # imported where used: `tracelab serve` imports this module at start-up
    import httpx

LICENCE = "CC-BY-4.0"
FORMATS = ("parquet", "jsonl")
CHUNK_BYTES = 4 << 20
_RETRY_STATUS = frozenset({429, 502, 503, 504})


class ContributeError(RuntimeError):
    """The contribution could not be made; `str(exc)` is one line for the user."""


@dataclass
class Prepared:
    """The sanitized file that would be sent, and what the user is shown about it."""

    path: Path
    format: str = "jsonl"
    size: int = 0
    sha256: str = ""
    sanitized_here: bool = False
    rows: int = 0
    sessions: int = 0
    first: str | None = None
    last: str | None = None
    models: Counter = field(default_factory=Counter)
    providers: Counter = field(default_factory=Counter)
    fields: list[str] = field(default_factory=list)
    sample: Row | None = None

    def preview(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "format": self.format,
            "bytes": self.size,
            "sha256": self.sha256,
            "sanitized_here": self.sanitized_here,
            "rows": self.rows,
            "sessions": self.sessions,
            "window": [self.first, self.last],
            "models": dict(self.models.most_common()),
            "providers": dict(sorted(self.providers.items())),
            "fields": self.fields,
            "sample_row": self.sample,
        }


def prepare(trace: Path, workdir: Path, key: bytes, fmt: str = "parquet") -> Prepared:
    """Write the sanitized upload (`fmt`: "parquet" or "jsonl") into `workdir`, describe it."""
    from tracelab.privacy import audit_file
    from tracelab.sanitize import sanitize_file

    if fmt not in FORMATS:
        raise ValueError(f"unknown upload format {fmt!r}")
    out = Path(workdir) / "contribution.jsonl.gz"
    prepared = Prepared(path=out, format=fmt)
    if audit_file(trace, strict=True).ok:
        write_rows(read_rows(trace), out)  # already public: re-encoded with a fixed gzip header
    else:
        sanitize_file(trace, out, key)  # raises SanitizeError unless the result passes the audit
        prepared.sanitized_here = True
    sessions: set[tuple[str, str]] = set()
    present: set[str] = set()
    for row in read_rows(out):
        prepared.rows += 1
        sessions.add((row.get("provider"), row.get("session_id")))
        prepared.models[row.get("model") or "(none)"] += 1
        prepared.providers[row.get("provider") or "(none)"] += 1
        present.update(name for name, value in row.items() if value not in (None, [], ""))
        for event in row.get("timing_events") or ():
            stamp = event.get("timestamp")
            if stamp:
                prepared.first = stamp if prepared.first is None else min(prepared.first, stamp)
                prepared.last = stamp if prepared.last is None else max(prepared.last, stamp)
        if prepared.sample is None:
            prepared.sample = row
    prepared.sessions = len(sessions)
    prepared.fields = [name for name in ROW_FIELDS if name in present]
    if fmt == "parquet":
        prepared.path = _to_parquet(out, Path(workdir) / "contribution.parquet")
        out.unlink()
    prepared.size = prepared.path.stat().st_size
    h = hashlib.sha256()
    with open(prepared.path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    prepared.sha256 = h.hexdigest()
    return prepared


def _to_parquet(source: Path, target: Path) -> Path:
    """The sanitized JSONL.gz as the pool's Parquet (public schema, the pool's writer), streamed
    block by block; written to a temporary name and renamed."""
    import gzip

    import pyarrow as pa
    import pyarrow.json as pj

    from tracelab.pool.columnar import parquet_writer
    from tracelab.pool.fastcheck import parse_options
    from tracelab.sanitize import SanitizeError
    from tracelab.schema import PUBLIC_ARROW_SCHEMA

    partial = target.with_name(target.name + ".partial")
    try:
        with gzip.open(source, "rb") as raw, parquet_writer(partial, PUBLIC_ARROW_SCHEMA) as out:
            reader = pj.open_json(
                raw, read_options=pj.ReadOptions(block_size=8 << 20), parse_options=parse_options()
            )
            for batch in reader:
                out.write_table(pa.Table.from_batches([batch], schema=PUBLIC_ARROW_SCHEMA))
    except (pa.ArrowException, ValueError) as exc:
        partial.unlink(missing_ok=True)
        first = str(exc).splitlines()[0][:200]
        raise SanitizeError(
            f"the sanitized trace does not fit the public schema: {first}"
        ) from None
    partial.replace(target)
    return target


def consent_record() -> dict[str, Any]:
    return {
        "licence": LICENCE,
        "accepted": True,
        "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class PoolClient:
    """HTTP client of a pool, with waits and retries that survive a restarting server."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        patience_s: float = 120.0,
        timeout_s: float = 60.0,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        import httpx

        headers = {"User-Agent": f"tracelab/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self.patience_s = patience_s
        self.chunk_bytes = chunk_bytes

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PoolClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; transport errors, 429 and 5xx are retried until `patience_s`."""
        import httpx

        deadline = time.monotonic() + self.patience_s
        delay = 0.1
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                why = f"cannot reach the pool at {self.url} ({exc.__class__.__name__})"
                response = None
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
                why = _error_text(response)
            if time.monotonic() >= deadline:
                raise ContributeError(why)
            wait = delay
            if response is not None and response.headers.get("retry-after", "").isdigit():
                wait = max(delay, float(response.headers["retry-after"]))
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)

    def _json(self, response: httpx.Response, ok: tuple[int, ...] = (200, 201, 202)) -> dict:
        if response.status_code not in ok:
            raise ContributeError(_error_text(response))
        return response.json()

    def contribute(
        self, prepared: Prepared, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Upload `prepared` and return the pool's receipt (raises ContributeError)."""
        body = {
            "size": prepared.size,
            "sha256": prepared.sha256,
            "consent": consent_record(),
            "client": f"tracelab/{__version__}",
        }
        start = self._json(self._call("POST", "/v1/uploads", json=body))
        if "receipt" in start:  # these exact bytes are in the pool already
            return start["receipt"]
        upload_id = start["upload_id"]
        received = start["received"]
        while True:
            received = self._send(prepared, upload_id, received, progress)
            finish = self._call("POST", f"/v1/uploads/{upload_id}/finish")
            if finish.status_code == 409 and "received" in finish.json():
                received = finish.json()["received"]  # the server lost a tail: send it again
                continue
            self._json(finish)
            break
        return self._wait(upload_id)

    def _send(
        self,
        prepared: Prepared,
        upload_id: str,
        received: int,
        progress: Callable[[int, int], None] | None,
    ) -> int:
        import httpx

        size = prepared.size
        deadline = time.monotonic() + self.patience_s
        with open(prepared.path, "rb") as fh:
            while received < size:
                fh.seek(received)
                chunk = fh.read(min(self.chunk_bytes, size - received))
                try:
                    response = self.http.put(
                        f"/v1/uploads/{upload_id}", params={"offset": received}, content=chunk
                    )
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code == 200:
                    received = response.json()["received"]
                    deadline = time.monotonic() + self.patience_s
                    if progress is not None:
                        progress(received, size)
                    continue
                if response is not None and response.status_code == 409:
                    data = response.json()
                    if "received" not in data:
                        raise ContributeError(data.get("error", "upload refused"))
                    received = data["received"]
                    continue
                if response is not None and response.status_code not in _RETRY_STATUS:
                    raise ContributeError(_error_text(response))
                if time.monotonic() >= deadline:
                    raise ContributeError(f"the upload to {self.url} stalled; try again later")
                time.sleep(0.5)  # dropped connection or busy server: ask where to resume
                status = self._json(self._call("GET", f"/v1/uploads/{upload_id}"))
                received = status["received"]
        return received

    def _wait(self, upload_id: str) -> dict[str, Any]:
        delay = 0.05
        while True:
            status = self._json(self._call("GET", f"/v1/jobs/{upload_id}"))
            if status["state"] == "accepted":
                return status["receipt"]
            if status["state"] == "rejected":
                raise ContributeError(f"the pool rejected the contribution: {status['message']}")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def withdraw(self, receipt: dict[str, Any]) -> dict[str, Any]:
        body = {
            "contribution_id": receipt.get("contribution_id"),
            "withdrawal_token": receipt.get("withdrawal_token"),
        }
        return self._json(self._call("POST", "/v1/withdraw", json=body))

    def stats(self) -> dict[str, Any]:
        return self._json(self._call("GET", "/v1/stats"))


def _error_text(response: httpx.Response) -> str:
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        message = None
    return f"{message or response.reason_phrase} (HTTP {response.status_code})"


def receipts_dir() -> Path:
    return config_dir() / "receipts"


def save_receipt(receipt: dict[str, Any], url: str, target: Path | None = None) -> Path:
    """Keep the receipt (it holds the withdrawal token: owner-only permissions)."""
    record = {"pool": url, **receipt}
    path = target or receipts_dir() / f"{receipt['contribution_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n"
    atomic_write_bytes(path, data, mode=0o600)
    return path


def load_receipt(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise ContributeError(f"{path}: no such receipt") from None
    except orjson.JSONDecodeError:
        raise ContributeError(f"{path}: not a receipt (not JSON)") from None
    if not isinstance(data, dict) or not data.get("contribution_id"):
        raise ContributeError(f"{path}: not a receipt (no contribution_id)")
    if not data.get("withdrawal_token"):
        raise ContributeError(f"{path}: the receipt holds no withdrawal token")
    return data


def default_token() -> str | None:
    return os.environ.get("TRACELAB_POOL_TOKEN") or None
