"""The analyses framework: PNG text chunks, value formats, table writers, trace input caching."""

from __future__ import annotations

import csv
import io
import math
import os
import struct
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest

from tracebuilder import ev, step
from tracelab.experiments.base import Table
from tracelab.experiments.fmt import format_value
from tracelab.experiments.registry import UnknownExperimentError, all_experiments, select
from tracelab.experiments.store import decode_cell, encode_cell, table_doc, table_from_doc
from tracelab.experiments.writers import table_csv, table_json, table_latex, table_markdown
from tracelab.figures.pngmeta import PngError, embed, extract, strip
from tracelab.io import write_rows
from tracelab.traceinput import TraceInputError, cached_db_path, db_cache_dir, resolve_trace


def _png(width: int = 3, height: int = 2) -> bytes:
    """A minimal valid PNG (grey, 8-bit) built by hand."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- PNG text chunks ----------------------------------------------------------------------


def test_png_embed_extract_round_trip_unicode():
    texts = {"tracelab:README.md": "# Σ prefix — 95.7%\n", "tracelab:data.csv": "a,b\n1,2\n"}
    out = embed(_png(), texts)
    assert extract(out) == texts
    assert out.endswith(b"IEND\xaeB`\x82")  # IEND stays last (with its fixed CRC)


def test_png_strip_gives_back_the_image_before_embedding():
    png = _png(5, 4)
    texts = {"tracelab:README.md": "# x\n", "tracelab:data.csv": "a\n1\n"}
    assert strip(embed(png, texts), "tracelab:") == png
    other = embed(png, {"Author": "someone"})  # another tool's text stays
    assert extract(strip(embed(other, texts), "tracelab:")) == {"Author": "someone"}


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**63),
        1.5,
        0.1 + 0.2,
        float("inf"),
        "text",
        {"$float": "not a tag of mine? still a dict"},
        datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 0),
        date(2026, 1, 5),
        Decimal("12.3400"),
        b"\x00\xff",
    ],
)
def test_store_cells_round_trip_with_their_type(value):
    if isinstance(value, dict):  # a dict is no table cell
        with pytest.raises(TypeError):
            encode_cell(value)
        return
    back = decode_cell(orjson.loads(orjson.dumps(encode_cell(value))))
    assert back == value and type(back) is type(value)


def test_store_nan_and_table_round_trip():
    nan = decode_cell(orjson.loads(orjson.dumps(encode_cell(float("nan")))))
    assert isinstance(nan, float) and math.isnan(nan)
    table = Table(
        "t",
        "T",
        ["label", "v"],
        [["a", 1.25], ["b", None]],
        kinds={"v": "pct"},
        latex=True,
        note="n",
        row_kinds=["pct", "int"],
    )
    assert table_from_doc(orjson.loads(orjson.dumps(table_doc(table)))) == table


def test_png_extract_reads_text_and_ztxt_chunks_of_other_tools():
    png = _png()
    body_t = b"Author\0someone"
    body_z = b"Comment\0\0" + zlib.compress(b"compressed latin-1 \xe9")
    extra = b""
    for kind, body in ((b"tEXt", body_t), (b"zTXt", body_z)):
        extra += (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )
    damaged_free = png[:-12] + extra + png[-12:]
    assert extract(damaged_free) == {"Author": "someone", "Comment": "compressed latin-1 é"}


def test_png_errors_are_clear():
    with pytest.raises(PngError, match="not a PNG"):
        extract(b"GIF89a....")
    with pytest.raises(PngError, match="IEND"):
        extract(_png()[:-12])
    with pytest.raises(ValueError, match="keyword"):
        embed(_png(), {"": "x"})


# --- formats and writers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (None, "int", "–"),
        (float("nan"), "pct", "–"),
        (1234567, "int", "1,234,567"),
        (0.957, "pct", "95.7%"),
        (9.7, "usd", "$9.70"),
        (22_654, "usd", "$22.7K"),
        (1_190_000_000, "tokens", "1.19 B"),
        (96_900_000, "tokens", "96.9 M"),
        (8479, "tokens", "8,479"),
        (38_300, "ms", "38.3s"),
        (306_000, "ms", "5.1m"),
        (29_520_000, "ms", "8.2h"),
        (130, "ms", "0.13s"),
    ],
)
def test_format_value(value, kind, shown):
    assert format_value(value, kind) == shown


def _table() -> Table:
    return Table(
        name="t",
        title="A | table",
        columns=["provider", "steps", "hit_rate"],
        rows=[["claude", 1200, 0.958], ["co_dex", None, 0.5]],
        kinds={"steps": "int", "hit_rate": "pct"},
        latex=True,
    )


def test_table_writers_keep_raw_values_and_format_for_people():
    t = _table()
    parsed = list(csv.reader(io.StringIO(table_csv(t))))
    assert parsed == [
        ["provider", "steps", "hit_rate"],
        ["claude", "1200", "0.958"],
        ["co_dex", "", "0.5"],
    ]
    doc = orjson.loads(table_json(t))
    assert doc["rows"][0] == {"provider": "claude", "steps": 1200, "hit_rate": 0.958}
    assert doc["rows"][1]["steps"] is None
    md = table_markdown(t)
    assert "| claude | 1,200 | 95.8% |" in md
    assert "|:---|---:|---:|" in md
    tex = table_latex(t)
    assert r"co\_dex & – & 50.0\% \\" in tex
    assert "\\begin{tabular}{lrr}" in tex


def test_row_kinds_format_each_row():
    t = Table(
        "o",
        "o",
        ["metric", "claude"],
        [["Sessions", 2676], ["Cost", 22_700.0]],
        row_kinds=["int", "usd"],
    )
    assert t.formatted_rows() == [["Sessions", "2,676"], ["Cost", "$22.7K"]]


# --- registry -----------------------------------------------------------------------------


def test_registry_ids_are_unique_and_selectable():
    experiments = all_experiments()
    ids = [e.id for e in experiments]
    assert len(ids) == len(set(ids))
    assert "trace_facts/overview" in ids
    assert [e.id for e in select(["overview"])] == ["trace_facts/overview"]
    assert {e.category for e in select(["trace_facts"])} == {"trace_facts"}
    with pytest.raises(UnknownExperimentError):
        select(["no_such_experiment"])
    for e in experiments:
        assert e.question.strip() and e.definitions.strip() and e.study_item.strip()


# --- trace input resolution ---------------------------------------------------------------


def _trace(tmp_path):
    path = tmp_path / "t.jsonl"
    write_rows(
        [
            step(
                "a",
                0,
                prefix=0,
                append=10,
                output=1,
                first="user_message",
                events=[ev("user_message", 0), ev("text", 1)],
            )
        ],
        path,
    )
    return path


def test_resolve_builds_once_then_reuses_the_cached_db(tmp_path):
    src = _trace(tmp_path)
    first = resolve_trace(None, src)
    assert first.built is not None and first.built.rows == 1
    assert first.db.parent == db_cache_dir()
    again = resolve_trace(None, src)
    assert again.cached and again.built is None and again.db == first.db


def test_resolve_rebuilds_a_changed_input_and_drops_the_stale_db(tmp_path):
    src = _trace(tmp_path)
    old = resolve_trace(None, src).db
    write_rows([step("a", 0, append=5), step("a", 1, append=6)], src)
    os.utime(src, ns=(1, 1_000_000_000))
    new = resolve_trace(None, src)
    assert new.built is not None and new.built.rows == 2
    assert new.db == cached_db_path(src) != old
    assert not old.exists()


def test_resolve_errors(tmp_path):
    with pytest.raises(TraceInputError, match="no trace given"):
        resolve_trace(None, None)
    with pytest.raises(TraceInputError, match="not both"):
        resolve_trace(tmp_path / "a.duckdb", tmp_path / "b.jsonl")
    with pytest.raises(TraceInputError, match="no such file"):
        resolve_trace(None, tmp_path / "missing.jsonl")


def test_a_duckdb_given_with_i_is_used_directly(tmp_path):
    src = _trace(tmp_path)
    built = resolve_trace(None, src).db
    direct = resolve_trace(None, built)
    assert direct.db == built and direct.built is None
