"""The price table (a data file) and how a model name finds its prices.

Why a data file: list prices change and users analyze other models; the study's Table 6 ships as
`data/prices.csv` and any CSV of the same columns can replace it. A model that matches no row is
*unpriced* — the analyses count and report such steps instead of pricing them at zero.

The cost of a step (one definition, used by every analysis — see `metrics.steps`):
  append  = uncached input × input price + cache-creation × 5-minute-write price (Claude);
            append × input price otherwise (Codex, or a Claude row without the raw split)
  prefix  = prefix tokens × cache-read price
  output  = output tokens × output price
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

PRICE_COLUMNS = (
    "provider",
    "model_group",
    "model_glob",
    "input",
    "cache_write_5m",
    "cache_read",
    "output",
)
_PRICE_FIELDS = ("input", "cache_write_5m", "cache_read", "output")


class PriceTableError(ValueError):
    """The price file is missing a column or holds a value that is not a price."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model family; `cache_write_5m` None = billed as input."""

    provider: str
    model_group: str
    model_glob: str
    input: float
    cache_write_5m: float | None
    cache_read: float
    output: float


def default_price_file() -> Path:
    return Path(str(resources.files("tracelab") / "data" / "prices.csv"))


def load_prices(path: Path | None = None) -> list[Price]:
    """Read a price CSV (`#` lines are comments); the packaged Table 6 when `path` is None."""
    path = Path(path) if path is not None else default_price_file()
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = [c for c in PRICE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PriceTableError(f"{path}: missing column(s) {', '.join(missing)}")
    prices = []
    for lineno, rec in enumerate(reader, start=2):
        values: dict[str, float | None] = {}
        for field in _PRICE_FIELDS:
            raw = (rec[field] or "").strip()
            if not raw and field == "cache_write_5m":
                values[field] = None
                continue
            try:
                values[field] = float(raw)
            except ValueError:
                msg = f"{path}: row {lineno}: {field}={raw!r} is not a price"
                raise PriceTableError(msg) from None
            if values[field] < 0:
                raise PriceTableError(f"{path}: row {lineno}: {field} is negative")
        prices.append(
            Price(
                provider=rec["provider"].strip(),
                model_group=rec["model_group"].strip(),
                model_glob=rec["model_glob"].strip(),
                input=values["input"],
                cache_write_5m=values["cache_write_5m"],
                cache_read=values["cache_read"],
                output=values["output"],
            )
        )
    return prices


def register_prices(con: duckdb.DuckDBPyConnection, prices: list[Price]) -> None:
    """Create TEMP table `prices` (file order kept in `price_rank`: the first match wins)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE prices (price_rank INTEGER, provider VARCHAR, "
        "model_group VARCHAR, model_glob VARCHAR, input DOUBLE, cache_write_5m DOUBLE, "
        "cache_read DOUBLE, output DOUBLE)"
    )
    con.executemany(
        "INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                rank,
                p.provider,
                p.model_group,
                p.model_glob,
                p.input,
                p.cache_write_5m,
                p.cache_read,
                p.output,
            )
            for rank, p in enumerate(prices)
        ],
    )
