"""The analyze folder as data: what `tracelab analyze` persists so `tracelab report --from DIR`
renders the same report without recomputing anything.

Why a lossless form beside the CSV / JSON / Markdown a person reads: those lose types (a CSV has
no None, `<table>.json` shows dates and decimals as text), and a report rendered from them would
differ from a computed one in its formatting. So each experiment folder also holds
`experiment.json` — the result in words, every table with its display kinds and typed cells,
each figure's title, caption and data table — and each interactive chart's Plotly JSON as it
was produced (`<figure>.plotly.json`). The PNGs are already there (their embedded texts are
stripped again for the report). The folder's root holds `run.json` (format, stamp, trace, the
experiments of the run with their status) and the report's opening (`overview.json`,
`integrity.json`).

The stamp says what the numbers were computed from: the code (a hash of the package's source
and data files), the trace (its database's meta) and the price table. A report is rendered only
from a folder whose stamp matches the running code, and every experiment's own stamp must match
the folder's (a folder reused across traces keeps stale experiment folders otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson

from tracelab import __version__
from tracelab.experiments.base import Experiment, Figure, Result, Table
from tracelab.tracedb import trace_meta

#: The `format` of `run.json`; a folder without it is not an analyze output of this kind.
FORMAT = "tracelab-analysis/1"
EXPERIMENT_FILE = "experiment.json"
RUN_FILE = "run.json"
OVERVIEW_FILE = "overview.json"
INTEGRITY_FILE = "integrity.json"
PLOTLY_SUFFIX = ".plotly.json"


# --- typed cells ----------------------------------------------------------------------------


def encode_cell(value: Any) -> Any:
    """A table cell as JSON: native values as they are, others tagged so they come back."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store a table cell of type {type(value).__name__}")


_DECODE = {
    "$float": float,
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$decimal": Decimal,
    "$bytes": base64.b64decode,
}


def decode_cell(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag in _DECODE:
            return _DECODE[tag](text)
    return value


def table_doc(table: Table) -> dict[str, Any]:
    """Everything of a `Table`, losslessly."""
    return {
        "name": table.name,
        "title": table.title,
        "columns": table.columns,
        "rows": [[encode_cell(v) for v in row] for row in table.rows],
        "kinds": table.kinds,
        "latex": table.latex,
        "note": table.note,
        "row_kinds": table.row_kinds,
    }


def table_from_doc(doc: dict[str, Any]) -> Table:
    return Table(
        name=doc["name"],
        title=doc["title"],
        columns=list(doc["columns"]),
        rows=[[decode_cell(v) for v in row] for row in doc["rows"]],
        kinds=dict(doc.get("kinds") or {}),
        latex=bool(doc.get("latex")),
        note=doc.get("note") or "",
        row_kinds=doc.get("row_kinds"),
    )


# --- experiments ----------------------------------------------------------------------------


def experiment_doc(
    exp: Experiment, result: Result, figures: list[Figure], stamp: dict[str, Any]
) -> bytes:
    """`experiment.json`: the result and the figures' descriptions (not their images)."""
    doc = {
        "format": FORMAT,
        "id": exp.id,
        "stamp": stamp,
        "text": result.text,
        "tables": [table_doc(t) for t in result.tables],
        "figures": [
            {
                "name": f.name,
                "title": f.title,
                "caption": f.caption,
                "data": table_doc(f.data),
                "interactive": f.interactive is not None,
            }
            for f in figures
        ],
    }
    return orjson.dumps(doc)


def result_from_doc(doc: dict[str, Any]) -> Result:
    return Result([table_from_doc(t) for t in doc["tables"]], doc["text"])


# --- stamp ----------------------------------------------------------------------------------


@cache
def code_fingerprint() -> str:
    """A hash of every source and data file of the installed `tracelab` package."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in {".py", ".csv", ".json"} and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def prices_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """A hash of the prices the metric tables were prepared with (the source's key and every
    resolved rate band, `pricing.register_prices`); None before they are prepared."""
    try:
        source = con.execute("SELECT key, label FROM price_source").fetchall()
        rates = con.execute("SELECT * FROM price_rates ORDER BY ALL").fetchall()
    except duckdb.Error:
        return None
    return hashlib.sha256(orjson.dumps([source, rates], default=str)).hexdigest()[:16]


def stamp(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What a run's numbers come from: code, trace (its database meta) and prices."""
    return {"code": code_fingerprint(), "trace": trace_meta(con), "prices": prices_fingerprint(con)}


def write_json(path: Path, doc: Any) -> None:
    """Indented JSON, atomically."""
    from tracelab.io import atomic_write_bytes

    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
