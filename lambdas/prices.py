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

from .errors import UnknownInstanceTypeError, UnknownRegionError

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
        explicit = self.regions.get(region, {}).get(instance_type)
        if explicit is not None:
            return explicit
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
        return round(base * self.fallback_factors[region], 6)


def load_prices(path: Path | str | None = None) -> PriceTable:
    """The table at `path`, or the shipped one (parsed once per process)."""
    if path is None:
        return _shipped()
    return PriceTable.from_document(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=None)  # noqa: UP033 -- functools.cache is 3.9+; this runs on 3.8
def _shipped() -> PriceTable:
    return PriceTable.from_document(json.loads(PRICES_PATH.read_text(encoding="utf-8")))


def billed_price(
    row_price_usd_hour: float | None, region: str, instance_type: str, spot: bool, table: PriceTable
) -> float:
    """What the reaper charges per hour. EC2 says whether the instance is spot (a row cannot fake it):
    spot instances are charged the price their row recorded at launch; on-demand instances the table's
    price for the type EC2 reports, so a row cannot make itself cheaper. The row price is the fallback for
    a type the table does not know."""
    if spot and row_price_usd_hour is not None and row_price_usd_hour > 0:
        return row_price_usd_hour
    try:
        return table.on_demand(region, instance_type)
    except UnknownInstanceTypeError:
        if row_price_usd_hour is not None and row_price_usd_hour > 0:
            return row_price_usd_hour
        raise


def hourly_price(row_price_usd_hour: float | None, region: str, instance_type: str, table: PriceTable) -> float:
    """What a machine costs per hour: the price its row recorded at launch (spot or on-demand), else the
    table's on-demand price."""
    if row_price_usd_hour is not None and row_price_usd_hour > 0:
        return row_price_usd_hour
    return table.on_demand(region, instance_type)
