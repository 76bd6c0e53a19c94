"""The shipped, dated on-demand price table (`prices.json`) and its lookup rules.

Lookup of (region, type): the region's explicit price, else the base region's price x the region's
fallback factor (see `fallback_note` in the file), else an error naming the closest known types. Spot
instances are not looked up: their row carries the spot price recorded at launch.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PriceLookupError, UnknownInstanceTypeError, UnknownRegionError
from .meter import Price, PriceSource

PRICES_PATH = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    source: str
    base_region: str
    regions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    fallback_factors: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> PriceTable:
        for key in ("as_of", "source", "base_region", "regions", "fallback_factors"):
            if key not in doc:
                raise ValueError(f"price table is missing {key!r}")
        regions = {r: {t: float(p) for t, p in types.items()} for r, types in doc["regions"].items()}
        if doc["base_region"] not in regions:
            raise ValueError(f"price table has no prices for its base region {doc['base_region']!r}")
        factors = {r: float(f) for r, f in doc["fallback_factors"].items()}
        return cls(str(doc["as_of"]), str(doc["source"]), str(doc["base_region"]), regions, factors)

    @property
    def known_regions(self) -> list[str]:
        return sorted(set(self.regions) | set(self.fallback_factors))

    def known_types(self) -> list[str]:
        return sorted(self.regions[self.base_region])

    def on_demand(self, region: str, instance_type: str) -> float:
        """USD per hour, Linux, on-demand."""
        return self.lookup(region, instance_type)[0]

    def ceiling(self, region: str) -> float:
        """The highest hourly price the table knows for `region` (for a region it does not know, the highest
        base price times the highest factor): the conservative charge for a machine it cannot price."""
        base = self.regions[self.base_region]
        if region in self.regions or region in self.fallback_factors:
            return max(self.lookup(region, kind)[0] for kind in base)
        return round(max(base.values()) * max(self.fallback_factors.values(), default=1.0), 6)

    def lookup(self, region: str, instance_type: str) -> tuple[float, bool]:
        """(USD per hour, estimated): estimated when derived from the base region through a factor."""
        explicit = self.regions.get(region, {}).get(instance_type)
        if explicit is not None:
            return explicit, False
        if region not in self.fallback_factors:
            raise UnknownRegionError(
                f"no prices for region {region!r} (table of {self.as_of}); known: " + ", ".join(self.known_regions),
                region=region,
                instance_type=instance_type,
            )
        base = self.regions[self.base_region].get(instance_type)
        if base is None:
            close = difflib.get_close_matches(instance_type, self.known_types(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownInstanceTypeError(
                f"no price for instance type {instance_type!r} in {region} (table of {self.as_of}){hint}",
                region=region,
                instance_type=instance_type,
            )
        return round(base * self.fallback_factors[region], 6), True


def load_prices(path: Path | str | None = None) -> PriceTable:
    """The table at `path`, or the shipped one (parsed once per process)."""
    if path is None:
        return _shipped()
    return PriceTable.from_document(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=None)  # noqa: UP033 -- functools.cache is 3.9+; this runs on 3.8
def _shipped() -> PriceTable:
    return PriceTable.from_document(json.loads(PRICES_PATH.read_text(encoding="utf-8")))


def meter_price(
    table: PriceTable, region: str, instance_type: str, spot: bool, spot_usd_hour: float | None = None
) -> Price:
    """What the reaper charges per hour, from facts no member can write: EC2 says whether the instance is
    spot and which type it is, EC2 published the spot price, and the table holds the on-demand price.

    A spot instance is charged the spot price the reaper looked up (or the on-demand price when it found
    none: never less than spot). A type or region the table does not know is charged the highest price the
    table knows for that region, and marked unpriced, so budgets keep counting and trip early, not late."""
    if spot and spot_usd_hour is not None and spot_usd_hour > 0:
        return Price(spot_usd_hour, PriceSource.SPOT)
    try:
        usd, estimated = table.lookup(region, instance_type)
    except PriceLookupError:
        return Price(table.ceiling(region), PriceSource.FALLBACK)
    if spot:
        return Price(usd, PriceSource.SPOT_AS_ON_DEMAND)
    return Price(usd, PriceSource.ESTIMATE if estimated else PriceSource.TABLE)
