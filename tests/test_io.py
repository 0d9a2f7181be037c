"""Trace files: every format round-trips, writes are atomic, bad input is counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tracelab.io import (
    ReadReport,
    TraceFormatError,
    dumps_clean_row,
    dumps_row,
    read_rows,
    trace_format,
    write_rows,
)
from tracelab.schema import PRIVATE_ROW_FIELDS, ROW_FIELDS
from tracelab.synth import generate_home


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from tracelab.collect import collect_home

    home = tmp_path_factory.mktemp("home")
    generate_home(home, sessions=6, seed=5)
    return collect_home(home)[1]


def _clean(row: dict) -> dict:
    """Null event attributes are omitted in files (spec §3): compare without them."""
    return {
        **row,
        "timing_events": [
            {k: v for k, v in ev.items() if v is not None} for ev in row["timing_events"]
        ],
    }


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_round_trip_every_format(tmp_path: Path, rows: list[dict], suffix: str) -> None:
    path = tmp_path / f"trace{suffix}"
    assert write_rows(rows, path) == len(rows)
    back = list(read_rows(path))
    assert [_clean(r) for r in back] == [_clean(r) for r in rows]
    # Codex tool inputs are JSON *strings*; Parquet must not turn them into objects.
    codex_inputs = [t["input"] for r in back if r["provider"] == "codex" for t in r["tools"]]
    assert codex_inputs and all(isinstance(i, str) for i in codex_inputs)


def test_parser_rows_are_already_clean(rows: list[dict]) -> None:
    """The collector's fast serializer is only right because parser rows are clean."""
    for row in rows:
        assert list(row) == list(ROW_FIELDS)
        assert all(v is not None for ev in row["timing_events"] for v in ev.values())
        assert dumps_clean_row(row) == dumps_row(row)


def test_public_rows_leave_private_columns_out(tmp_path: Path, rows: list[dict]) -> None:
    public = [{k: v for k, v in r.items() if k not in PRIVATE_ROW_FIELDS} for r in rows]
    for r in public:
        r["tools"] = [{k: v for k, v in t.items() if k != "input"} for t in r["tools"]]
    jsonl, parquet = tmp_path / "p.jsonl", tmp_path / "p.parquet"
    write_rows(public, jsonl)
    write_rows(public, parquet)
    text = jsonl.read_text()
    for name in PRIVATE_ROW_FIELDS:
        assert f'"{name}"' not in text
    schema = pq.read_schema(parquet)
    assert not set(PRIVATE_ROW_FIELDS) & set(schema.names)
    tool_struct = schema.field("tools").type.value_type
    names = [tool_struct.field(i).name for i in range(tool_struct.num_fields)]
    assert "input" not in names and "input_chars" in names


def test_failed_write_keeps_the_previous_file(tmp_path: Path, rows: list[dict]) -> None:
    path = tmp_path / "trace.jsonl.gz"
    write_rows(rows[:3], path)
    before = path.read_bytes()

    def broken():
        yield from rows[3:6]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_rows(broken(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["trace.jsonl.gz"]


def test_truncated_and_garbled_input_is_counted_not_fatal(tmp_path: Path, rows: list[dict]) -> None:
    path = tmp_path / "trace.jsonl"
    write_rows(rows[:4], path)
    data = path.read_bytes()
    path.write_bytes(data + b"not json\n[1, 2]\n" + data[:50])  # garbage + a cut last line
    report = ReadReport()
    assert len(list(read_rows(path, report))) == 4
    assert report.skipped_lines == 3

    gz = tmp_path / "trace.jsonl.gz"
    gz.write_bytes(gzip.compress(data)[:-30])  # a download that stopped early
    report = ReadReport()
    got = list(read_rows(gz, report))
    assert 1 <= len(got) <= 4 and report.skipped_lines >= 1


def test_unknown_suffix_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="unknown trace format"):
        trace_format(tmp_path / "trace.csv")
    assert trace_format(Path("x.JSONL.GZ")) == "jsonl.gz"
