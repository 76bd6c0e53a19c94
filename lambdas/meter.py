"""The reaper's meter of one instance: what decides money and time, kept where no member or instance can write.

A member may write any attribute of their own instance and job rows, and an instance may write its own row.
Nothing that decides what an owner is charged or how long a machine may live is read from there. The meter
(`METER#<shard>` / `<instance-arn>`, written only by the reaper) holds:

- `accrued_until` / `accrued_usd`: the accrual cursor and the running total;
- `price_usd_hour` with `price_source`: the table's on-demand price for the type EC2 reports, or the spot
  price EC2 published for the instance's type and zone when the reaper first saw it, or a conservative
  fallback when neither is known (`unpriced`);
- `lifetime_start`: the earliest start of the machine the reaper has seen (EC2's LaunchTime, or the root
  volume's attach time when earlier). A stop and start moves LaunchTime; it never moves this.

Owner and team come from the instance's tags, which are set at launch and cannot change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import schema
from .items import Reader, put


class PriceSource(str, Enum):
    TABLE = "table"  # the shipped table's on-demand price for the region
    ESTIMATE = "table-estimate"  # base region x the region's fallback factor (marked estimated in the table)
    SPOT = "spot"  # EC2's spot price for the type and zone when the reaper first saw the instance
    SPOT_AS_ON_DEMAND = "spot-at-on-demand"  # no spot price found: charged the on-demand price (never less)
    FALLBACK = "unpriced-fallback"  # type or region unknown: the highest price the table knows for the region


UNPRICED = frozenset({PriceSource.FALLBACK})


@dataclass(frozen=True)
class Price:
    usd_hour: float
    source: PriceSource

    @property
    def unpriced(self) -> bool:
        return self.source in UNPRICED


_FIELDS = (
    "instance_id",
    "owner",
    "team",
    "instance_type",
    "price_usd_hour",
    "price_source",
    "lifetime_start",
    "first_seen",
    "accrued_until",
    "accrued_usd",
)


@dataclass(frozen=True)
class MeterRecord:
    instance_arn: str
    owner: str
    team: str
    instance_type: str
    spot: bool
    price: Price
    lifetime_start: float
    first_seen: float
    accrued_until: float | None = None  # None: a new meter, never written
    accrued_usd: float = 0.0

    def __post_init__(self) -> None:
        schema.parse_instance_arn(self.instance_arn)

    @property
    def pk(self) -> str:
        return schema.meter_key(self.instance_arn)[0]

    @property
    def sk(self) -> str:
        return self.instance_arn

    @property
    def instance_id(self) -> str:
        return schema.parse_instance_arn(self.instance_arn)[2]

    @property
    def accrual_start(self) -> float:
        return self.lifetime_start if self.accrued_until is None else self.accrued_until

    @property
    def price_usd_hour(self) -> float:
        return self.price.usd_hour

    @property
    def price_source(self) -> str:
        return self.price.source.value

    def replace(self, **changes: Any) -> MeterRecord:
        return dataclasses.replace(self, **changes)

    def attributes(self) -> dict[str, Any]:
        """Every attribute but the keys (what the first accrual writes)."""
        item: dict[str, Any] = {"market": "spot" if self.spot else "on-demand"}
        for name in _FIELDS:
            put(item, name, getattr(self, name))
        return item

    def to_item(self) -> dict[str, Any]:
        return {schema.PK: self.pk, schema.SK: self.sk, **self.attributes()}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> MeterRecord:
        read = Reader(item)
        arn = read.text(schema.SK)
        try:
            expected_pk = schema.meter_key(arn)[0]
        except ValueError as exc:
            raise read.fail(schema.SK, str(exc)) from None
        if read.text(schema.PK) != expected_pk:
            raise read.fail(schema.PK, f"is not this instance's meter partition {expected_pk}")
        source = read.opt_text("price_source") or PriceSource.FALLBACK.value
        try:
            price_source = PriceSource(source)
        except ValueError:
            raise read.fail("price_source", f"is {source!r}, not a known price source") from None
        return cls(
            instance_arn=arn,
            owner=read.text("owner"),
            team=read.opt_text("team") or "",
            instance_type=read.text("instance_type"),
            spot=read.opt_text("market") == "spot",
            price=Price(read.num("price_usd_hour"), price_source),
            lifetime_start=read.num("lifetime_start"),
            first_seen=read.num("first_seen"),
            accrued_until=read.opt_num("accrued_until"),
            accrued_usd=read.opt_num("accrued_usd") or 0.0,
        )
