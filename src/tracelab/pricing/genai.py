"""The default price source: the genai-prices database (its data ships inside the package).

Why: the study's table knows 7 model patterns; real logs name dozens of models over months of
price changes. genai-prices is a maintained database with historic list prices, context-length
tiers, cache reads and 5-minute / 1-hour cache writes. Only the bundled snapshot is read —
nothing is fetched at run time.

Per distinct (provider, model), once:
- **exact**: genai-prices' own model matching knows the name for the agent's provider
  (claude → Anthropic, codex → OpenAI; another agent: the provider genai-prices infers from
  the model name). Dated or suffixed names resolve as genai-prices resolves them (e.g.
  `claude-sonnet-4-20250514` → claude-sonnet-4-0, `gpt-5-codex` → gpt-5).
- **fallback**: genai-prices does not know the name; its family (the reference's rule,
  `pricing.family_of`) prices it as that family's model of the study's Table 6, at
  genai-prices' prices for that model (`FAMILY_MODELS`).
- otherwise unpriced.

Each price version becomes a time interval (genai-prices' start dates are UTC dates: a step
started on or after the date pays the new price), and each context tier a context band
(a tier applies to the whole step when its input tokens exceed the tier's start, genai-prices'
"cliff" rule). Request-specific variants (batch, flex or priority service tiers) are not
visible in the logs; steps are priced at the standard list price.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import metadata
from typing import Any

import orjson

from tracelab.io import atomic_write_bytes
from tracelab.paths import cache_dir
from tracelab.pricing import MATCH_EXACT, MATCH_FALLBACK, RateBand, Rates, family_of

#: The agent's provider → genai-prices' provider id.
PROVIDERS = {"claude": "anthropic", "codex": "openai"}

#: A family's stand-in model (the study's Table 6 row of that family).
FAMILY_MODELS = {
    "opus": ("anthropic", "claude-opus-4-8"),
    "sonnet": ("anthropic", "claude-sonnet-4-6"),
    "haiku": ("anthropic", "claude-haiku-4-5"),
    "gpt-5": ("openai", "gpt-5.5"),
}

#: genai-prices' price keys for our five rates.
_KEYS = ("input_mtok", "cache_write_mtok", "cache_read_mtok", "output_mtok", "cache_write_1h_mtok")


class GenaiPrices:
    """Price source over genai-prices' bundled snapshot (see the module docstring).

    Loading the database costs about a second (its package and 1.5 MB of price data), more than
    pricing every step of a large trace. So a model's resolved bands are kept in the user cache
    dir, keyed by the installed genai-prices version (the data is part of the release): a trace
    whose models were all seen before never imports genai-prices. A cache that cannot be read
    or written only costs that second.
    """

    def __init__(self) -> None:
        self.version = metadata.version("genai-prices")
        self.key = f"genai-prices:{self.version}"
        self.label = f"genai-prices {self.version} (list prices at each step's time)"
        self._path = cache_dir() / "prices" / f"genai-prices-{self.version}-v{_CACHE_FORMAT}.json"
        self._known: dict[str, list[dict[str, Any]]] | None = None
        self._dirty = False

    def bands(self, provider: str, model: str) -> list[RateBand]:
        known = self._cache()
        name = f"{provider}\x1f{model}"
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return [_from_json(b) for b in known[name]]
        bands = self._resolve(provider, model)  # not cached yet, or a damaged entry
        known[name] = [_to_json(b) for b in bands]
        self._dirty = True
        return bands

    def preload(self) -> None:
        """Load genai-prices now when no model has been resolved on this machine yet (an empty
        band cache), so a later `bands` call does not pay for it: `tracelab serve` calls it in
        a thread while its fact tables are built."""
        if not self._cache():
            from genai_prices.data_snapshot import get_snapshot

            get_snapshot()

    def save(self) -> None:
        """Keep the bands resolved since the cache was read (atomic; failures ignored)."""
        if self._dirty and self._known is not None:
            with contextlib.suppress(OSError):
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write_bytes(self._path, orjson.dumps(self._known))
            self._dirty = False

    def _cache(self) -> dict[str, list[dict[str, Any]]]:
        if self._known is None:
            self._known = {}
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                data = orjson.loads(self._path.read_bytes())
                if isinstance(data, dict):
                    self._known = data
        return self._known

    @staticmethod
    def _resolve(provider: str, model: str) -> list[RateBand]:
        info = _find(PROVIDERS.get(provider), model)
        if info is not None:
            return _bands(info, MATCH_EXACT)
        family = family_of(model)
        if family is not None:
            info = _find(*FAMILY_MODELS[family])
            if info is not None:
                return _bands(info, MATCH_FALLBACK)
        return []


#: Bump when the cached band format changes.
_CACHE_FORMAT = 1


def _to_json(b: RateBand) -> dict[str, Any]:
    return {
        "match": b.match,
        "group": b.group,
        "rates": [b.rates.input, b.rates.cache_write_5m, b.rates.cache_read, b.rates.output,
                  b.rates.cache_write_1h],
        "from": b.valid_from.isoformat() if b.valid_from else None,
        "to": b.valid_to.isoformat() if b.valid_to else None,
        "above": b.context_above,
        "upto": b.context_upto,
    }  # fmt: skip


def _from_json(d: dict[str, Any]) -> RateBand:
    return RateBand(
        d["match"],
        d["group"],
        Rates(*d["rates"]),
        datetime.fromisoformat(d["from"]) if d["from"] else None,
        datetime.fromisoformat(d["to"]) if d["to"] else None,
        d["above"],
        d["upto"],
    )


@cache
def _find(provider_id: str | None, model: str) -> Any:
    """genai-prices' ModelInfo for `model` (None when it knows no such model)."""
    from genai_prices.data_snapshot import get_snapshot

    try:
        return get_snapshot().find_provider_model(model, None, provider_id, None)[1]
    except LookupError:
        return None


def _periods(info: Any) -> list[tuple[datetime | None, datetime | None, Any]]:
    """(valid_from, valid_to, ModelPrice) per price version, from genai-prices' start dates."""
    from genai_prices.types import ModelPrice, StartDateConstraint

    if isinstance(info.prices, ModelPrice):
        return [(None, None, info.prices)]
    starts = sorted(
        {
            datetime.combine(c.constraint.start_date, datetime.min.time(), UTC)
            for c in info.prices
            if isinstance(c.constraint, StartDateConstraint)
        }
    )
    bounds: list[datetime | None] = [None, *starts, None]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        # genai-prices itself picks the version in force at a moment inside the interval.
        at = lo if lo is not None else (hi - timedelta(days=1) if hi is not None else None)
        out.append((lo, hi, info.get_prices(at or datetime.now(UTC))))
    return out


def _rate(price: Any, context: int) -> float | None:
    """USD per million tokens of one price key for a step of `context` input tokens."""
    from genai_prices.types import calc_unit_price

    if price is None:
        return None
    return float(calc_unit_price(price, Decimal(1), context, 1))


def _bands(info: Any, match: str) -> list[RateBand]:
    from genai_prices.types import TieredPrices

    bands = []
    for valid_from, valid_to, model_price in _periods(info):
        prices = [getattr(model_price, k, None) for k in _KEYS]
        if prices[0] is None or prices[3] is None:
            continue  # no input or output price: not a token-priced model here
        starts = sorted({t.start for p in prices if isinstance(p, TieredPrices) for t in p.tiers})
        edges: list[int | None] = [None, *starts, None]
        for above, upto in itertools.pairwise(edges):
            at = 0 if above is None else above + 1
            p_input, p_write, p_read, p_output, p_write_1h = (_rate(p, at) for p in prices)
            rates = Rates(
                input=p_input,
                cache_write_5m=p_write,
                # genai-prices bills cache reads without a price of their own as input
                cache_read=p_read if p_read is not None else p_input,
                output=p_output,
                cache_write_1h=p_write_1h,
            )
            bands.append(RateBand(match, info.id, rates, valid_from, valid_to, above, upto))
    return bands
