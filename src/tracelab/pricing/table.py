"""Price tables as CSV files: the study's Table 6 (`--prices study`) and `--prices FILE`.

Why a data file: list prices change and users analyze other models; any CSV of these columns
can replace the packaged one.

    provider, model_group, model_glob, [match,] input, cache_write_5m, [cache_write_1h,]
    cache_read, output                                      (USD per million tokens)

Lookup (amendments §14.7, the reference's): the first `exact` row whose provider is the step's
(or `*`) and whose `model_glob` (a shell pattern, case-sensitive; a plain name matches only
itself) matches the model; else the first `family` row, in file order, whose `model_glob`
is a substring of the lowercased model, any provider (a *fallback*); else unpriced. A file
without a `match` column has only exact rows, so it has no fallback unless it adds family rows.
An empty `cache_write_5m` bills cache writes at the input price; an empty (or absent)
`cache_write_1h` bills 1-hour writes at the 5-minute price — so the study table, which has no
1-hour price, applies the reference's formula exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path

from tracelab.pricing import (
    MATCH_EXACT,
    MATCH_FALLBACK,
    PriceTableError,
    RateBand,
    Rates,
)

PRICE_COLUMNS = (
    "provider",
    "model_group",
    "model_glob",
    "input",
    "cache_write_5m",
    "cache_read",
    "output",
)
OPTIONAL_COLUMNS = ("match", "cache_write_1h")
_OPTIONAL_PRICES = ("cache_write_5m", "cache_write_1h")
ROW_EXACT = "exact"
ROW_FAMILY = "family"


@dataclass(frozen=True)
class Price:
    """One row: USD per million tokens for a model pattern (`match` 'exact') or a family
    substring (`match` 'family')."""

    provider: str
    model_group: str
    model_glob: str
    input: float
    cache_write_5m: float | None
    cache_read: float
    output: float
    cache_write_1h: float | None = None
    match: str = ROW_EXACT

    @property
    def rates(self) -> Rates:
        return Rates(
            self.input, self.cache_write_5m, self.cache_read, self.output, self.cache_write_1h
        )


@dataclass
class PriceTable:
    """A price source made of table rows (see the module docstring for the lookup)."""

    rows: list[Price]
    label: str = "price table"
    key: str = ""
    _exact: list[Price] = field(init=False, repr=False)
    _family: list[Price] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = [r for r in self.rows if r.match == ROW_EXACT]
        self._family = [r for r in self.rows if r.match == ROW_FAMILY]
        if not self.key:
            self.key = "table:" + hashlib.sha256(repr(self.rows).encode()).hexdigest()[:16]

    def bands(self, provider: str, model: str) -> list[RateBand]:
        for r in self._exact:
            if r.provider in (provider, "*") and fnmatchcase(model, r.model_glob):
                return [RateBand(MATCH_EXACT, r.model_group, r.rates)]
        low = model.lower()
        for r in self._family:
            if r.model_glob.lower() in low:
                return [RateBand(MATCH_FALLBACK, r.model_group, r.rates)]
        return []


def study_price_file() -> Path:
    return Path(str(resources.files("tracelab") / "data" / "prices.csv"))


def study_table() -> PriceTable:
    """The study's Table 6 with the reference's family fallback (`--prices study`)."""
    table = load_prices(study_price_file())
    table.label = "study (Table 6, reference lookup)"
    table.key = "study:" + table.key
    return table


def load_prices(path: Path) -> PriceTable:
    """Read a price CSV (`#` lines are comments)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    columns = reader.fieldnames or []
    missing = [c for c in PRICE_COLUMNS if c not in columns]
    if missing:
        raise PriceTableError(f"{path}: missing column(s) {', '.join(missing)}")
    prices = [_row(path, lineno, rec) for lineno, rec in enumerate(reader, start=2)]
    return PriceTable(prices, label=f"price file {path.name}")


def _row(path: Path, lineno: int, rec: dict[str, str | None]) -> Price:
    values: dict[str, float | None] = {}
    for name in ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output"):
        raw = (rec.get(name) or "").strip()
        if not raw and name in _OPTIONAL_PRICES:
            values[name] = None
            continue
        try:
            value = float(raw)
        except ValueError:
            raise PriceTableError(f"{path}: row {lineno}: {name}={raw!r} is not a price") from None
        if not value >= 0 or value == float("inf"):
            raise PriceTableError(f"{path}: row {lineno}: {name}={raw!r} is not a price")
        values[name] = value
    match = (rec.get("match") or ROW_EXACT).strip().lower()
    if match not in (ROW_EXACT, ROW_FAMILY):
        raise PriceTableError(f"{path}: row {lineno}: match={match!r} is not exact or family")
    glob = (rec["model_glob"] or "").strip()
    if not glob:
        raise PriceTableError(f"{path}: row {lineno}: empty model_glob")
    return Price(
        provider=(rec["provider"] or "").strip(),
        model_group=(rec["model_group"] or "").strip(),
        model_glob=glob,
        input=values["input"],
        cache_write_5m=values["cache_write_5m"],
        cache_read=values["cache_read"],
        output=values["output"],
        cache_write_1h=values["cache_write_1h"],
        match=match,
    )
