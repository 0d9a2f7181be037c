"""Where a step's prices come from: one resolver for every command, rates resolved per model.

A *price source* answers one question per distinct (provider, model) of a trace: which rates
(USD per million tokens) apply, in which time interval and for which context sizes. Three
sources exist, chosen with `--prices` (`resolve_source`):

- default: **genai-prices** (`pricing.genai`), a maintained price database shipped inside its
  Python package (never fetched at run time): historic list prices, context-length tiers,
  cache reads and 5-minute / 1-hour cache writes. The step is priced at the list price in
  force at its start.
- `study`: the study's Table 6 with the reference's lookup (`pricing.table`, amendments §14.7):
  exact `provider:model`, else the first family (opus, sonnet, haiku, gpt-5) that is a
  substring of the lowercased model, else unpriced. The paper's cost tables reproduce exactly.
- `FILE`: a CSV of the same columns as the packaged study table.

Every source reports how it matched a model: `exact` (the source knows the model), `fallback`
(it did not, and the model's family priced it), or no band at all (*unpriced*: the analyses
count and report such steps, never price them at zero).

`register_prices` resolves every distinct model once and registers the answer as the TEMP
table `price_rates` (a few rows); `metrics.steps` joins it to the steps and does the per-step
arithmetic in SQL, so pricing costs one small join whatever the trace size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import duckdb

#: How a source priced a model (`price_match` in `step_facts`; null = unpriced).
MATCH_EXACT = "exact"
MATCH_FALLBACK = "fallback"

#: The reference's family fallback, in its lookup order (amendments §14.7): the first family
#: whose name is a substring of the lowercased model prices it.
FAMILIES = ("opus", "sonnet", "haiku", "gpt-5")

#: `--prices` names (anything else is a CSV file).
SOURCE_DEFAULT = "genai-prices"
SOURCE_STUDY = "study"


class PriceTableError(ValueError):
    """A price source cannot be used: a CSV missing a column or holding a non-price."""


@dataclass(frozen=True)
class Rates:
    """USD per million tokens. A write rate of None is billed like the cheaper kind below it:
    a missing 5-minute write at the input price, a missing 1-hour write at the 5-minute one."""

    input: float
    cache_write_5m: float | None
    cache_read: float
    output: float
    cache_write_1h: float | None = None

    def resolved(self) -> tuple[float, float, float, float, float]:
        """(input, 5-minute write, 1-hour write, cache read, output), every gap filled."""
        write_5m = self.cache_write_5m if self.cache_write_5m is not None else self.input
        write_1h = self.cache_write_1h if self.cache_write_1h is not None else write_5m
        return (self.input, write_5m, write_1h, self.cache_read, self.output)


@dataclass(frozen=True)
class RateBand:
    """The rates of one model for steps started in [valid_from, valid_to) whose context (input
    tokens) is in (context_above, context_upto]; None = unbounded. `group` names what priced
    the model (a table row, or the price database's model id)."""

    match: str
    group: str
    rates: Rates
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    context_above: int | None = None
    context_upto: int | None = None


class PriceSource(Protocol):
    """What `register_prices` needs of a price source."""

    #: Stable identity (cache keys of the web app).
    key: str
    #: What reports print as the price source.
    label: str

    def bands(self, provider: str, model: str) -> list[RateBand]:
        """The rate bands of `model` (disjoint in time × context); [] = unpriced."""
        ...


def family_of(model: str) -> str | None:
    """The model's family by the reference's rule: the first of `FAMILIES` it contains."""
    low = model.lower()
    return next((f for f in FAMILIES if f in low), None)


def resolve_source(spec: str | Path | None) -> PriceSource:
    """The source `--prices` names: None / 'genai-prices' (default), 'study', or a CSV file.

    Raises `PriceTableError` (bad CSV) or `OSError` (unreadable file)."""
    from tracelab.pricing.table import load_prices, study_table

    if spec is None or str(spec) == SOURCE_DEFAULT:
        from tracelab.pricing.genai import GenaiPrices

        return GenaiPrices()
    if str(spec) == SOURCE_STUDY:
        return study_table()
    return load_prices(Path(spec))


def default_source() -> PriceSource:
    return resolve_source(None)


def preload(source: PriceSource | None = None) -> None:
    """Load what resolving `source`'s bands needs (default: the default source), if it loads
    anything (genai-prices: its price database, about a second on a cold start)."""
    load = getattr(source if source is not None else default_source(), "preload", None)
    if load is not None:
        load()


PRICE_RATES_DDL = """
CREATE OR REPLACE TEMP TABLE price_rates (
    provider VARCHAR, model VARCHAR, price_match VARCHAR, price_group VARCHAR,
    valid_from TIMESTAMPTZ, valid_to TIMESTAMPTZ, context_above BIGINT, context_upto BIGINT,
    p_input DOUBLE, p_write_5m DOUBLE, p_write_1h DOUBLE, p_read DOUBLE, p_output DOUBLE)
"""

#: Open bounds become sentinels so the step join is plain comparisons.
_BOUNDS_SQL = """
UPDATE price_rates SET
    valid_from = coalesce(valid_from, '-infinity'::TIMESTAMPTZ),
    valid_to = coalesce(valid_to, 'infinity'::TIMESTAMPTZ),
    context_above = coalesce(context_above, -1),
    context_upto = coalesce(context_upto, 9223372036854775807)
"""


def register_prices(con: duckdb.DuckDBPyConnection, source: PriceSource) -> None:
    """TEMP tables `price_rates` (one row per band of each distinct model of `rounds`) and
    `price_source` (the source's label), resolving each (provider, model) once."""
    models = con.execute(
        "SELECT DISTINCT provider, model FROM rounds WHERE model IS NOT NULL ORDER BY ALL"
    ).fetchall()
    rows = []
    for provider, model in models:
        for b in source.bands(provider or "", model):
            rows.append(
                (
                    provider,
                    model,
                    b.match,
                    b.group,
                    b.valid_from,
                    b.valid_to,
                    b.context_above,
                    b.context_upto,
                    *b.rates.resolved(),
                )
            )
    con.execute(PRICE_RATES_DDL)
    if rows:
        con.executemany(
            "INSERT INTO price_rates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        con.execute(_BOUNDS_SQL)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE price_source AS SELECT ? AS key, ? AS label",
        [source.key, source.label],
    )
    save = getattr(source, "save", None)
    if save is not None:
        save()
