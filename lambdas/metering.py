"""One run's metering: a meter for every wb instance EC2 lists, priced from facts no member can write, and the
exactly-once charges that advance the meters and the ledgers (`accrual`).

- A new instance gets a meter at first sight: owner and team from its tags, price from the table (or, for a
  spot instance, from the spot price EC2 publishes for its type and zone), lifetime start from EC2.
- A known meter keeps its spot price and first start; its on-demand price follows the table (so a refreshed
  table applies), and its lifetime start only ever moves earlier.
- A machine the table cannot price is charged the table's highest price for its region and flagged
  `unpriced` (report, log, metric, the meter row, `wb status`): accrual never silently stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .decision import InstanceFacts
from .errors import FleetError
from .fleet import Fleet, SpotKey
from .meter import MeterRecord
from .prices import PriceTable, meter_price
from .report import RunReport

UNKNOWN_OWNER = "untagged"  # ledger owner of a wb:managed instance without a wb:owner tag


def current_meters(
    instances: Sequence[InstanceFacts],
    known: Mapping[str, MeterRecord],
    *,
    now: float,
    table: PriceTable,
    fleet: Fleet,
    default_team: str,
    report: RunReport,
) -> dict[str, MeterRecord]:
    """instance ARN -> its meter as this run will charge it (new meters are not written yet)."""
    spot_wanted = {(f.instance_type, f.zone) for f in instances if f.spot and f.arn not in known}
    spot_found: dict[SpotKey, float] = {}
    if spot_wanted:
        try:
            spot_found = fleet.spot_prices(spot_wanted)
        except FleetError as exc:
            report.fail("price", "spot prices", exc)  # charged at on-demand meanwhile: never less than spot
    meters: dict[str, MeterRecord] = {}
    for facts in instances:
        meter = known.get(facts.arn)
        if meter is None:
            price = meter_price(
                table, facts.region, facts.instance_type, facts.spot, spot_found.get((facts.instance_type, facts.zone))
            )
            meter = MeterRecord(
                instance_arn=facts.arn,
                owner=facts.owner or UNKNOWN_OWNER,
                team=facts.team(default_team),
                instance_type=facts.instance_type,
                spot=facts.spot,
                price=price,
                lifetime_start=facts.started_at,
                first_seen=now,
            )
        else:
            changes: dict[str, Any] = {"lifetime_start": min(meter.lifetime_start, facts.started_at)}
            if not meter.spot:
                changes["price"] = meter_price(table, facts.region, meter.instance_type, False)
            meter = meter.replace(**changes)
        if meter.price.unpriced:
            report.unpriced.append(facts.instance_id)
        meters[facts.arn] = meter
    return meters


def gone_meters(meters: Sequence[MeterRecord], present_arns: set[str], now: float, grace_s: float) -> list[MeterRecord]:
    """Meters whose instance EC2 no longer lists, once they are older than the orphan grace (a describe right
    after a launch may not list the instance yet; a meter is only removed for an instance surely gone)."""
    return [m for m in meters if m.instance_arn not in present_arns and now - m.first_seen >= grace_s]
