"""The shipped price table and its lookup rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.lambdas.errors import UnknownInstanceTypeError, UnknownRegionError
from weatherballoon.lambdas.meter import PriceSource
from weatherballoon.lambdas.prices import PRICES_PATH, load_prices, meter_price

FAMILIES = ["g4dn", "g5", "g6", "g6e", "p3", "p4d", "p5", "t3", "m5", "c5"]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


def test_file_says_when_and_where_from() -> None:
    doc = json.loads(PRICES_PATH.read_text())
    assert doc["as_of"] and len(doc["as_of"]) == 10
    assert "aws.amazon.com" in doc["source"]
    assert doc["currency"] == "USD" and "fallback_note" in doc


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_priced_in_every_major_region(family: str, region: str) -> None:
    table = load_prices()
    sizes = [t for t in table.known_types() if t.split(".")[0] == family]
    assert sizes, family
    for instance_type in sizes:
        assert table.on_demand(region, instance_type) > 0


def test_explicit_prices() -> None:
    table = load_prices()
    assert table.on_demand("us-east-1", "g5.xlarge") == 1.006
    assert table.on_demand("eu-west-1", "g5.xlarge") == 1.123
    assert table.on_demand("us-west-2", "t3.micro") == 0.0104  # same list price as us-east-1


def test_fallback_is_base_price_times_factor_and_never_below_known_ratios() -> None:
    table = load_prices()
    factor = table.fallback_factors["eu-central-1"]
    assert table.on_demand("eu-central-1", "g6e.xlarge") == pytest.approx(1.861 * factor)
    for region, types in table.regions.items():
        for instance_type, price in types.items():
            base = table.regions[table.base_region][instance_type]
            assert base * table.fallback_factors[region] >= price - 1e-9, (region, instance_type)


def test_unknown_type_names_close_matches() -> None:
    with pytest.raises(UnknownInstanceTypeError, match=r"g5\.xlarge") as info:
        load_prices().on_demand("us-east-1", "g5.xlarg")
    assert info.value.instance_type == "g5.xlarg"


def test_unknown_region_is_an_error() -> None:
    with pytest.raises(UnknownRegionError, match="xx-nowhere-1"):
        load_prices().on_demand("xx-nowhere-1", "g5.xlarge")


def test_every_commercial_region_is_priced_and_estimates_say_so() -> None:
    import botocore.session

    commercial = botocore.session.get_session().get_available_regions("ec2", partition_name="aws")
    table, document = load_prices(), json.loads(PRICES_PATH.read_text())
    assert set(commercial) <= set(table.known_regions)
    estimated = document["estimated_regions"]
    for region in commercial:
        usd, is_estimate = table.lookup(region, "g5.xlarge")
        assert usd >= 1.006, region  # never below the base region's price
        if region in estimated:
            assert is_estimate and meter_price(table, region, "g5.xlarge", False).source is PriceSource.ESTIMATE
    assert not set(estimated) & set(document["regions"])  # a region with AWS's prices is never called estimated
    assert "Estimated, not AWS's price" in document["estimated_note"]


def test_a_custom_table_loads_and_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "as_of": "2026-01-01",
                "source": "test",
                "base_region": "r1",
                "regions": {"r1": {"x.large": 2}},
                "fallback_factors": {"r1": 1, "r2": 1.5},
            }
        )
    )
    table = load_prices(path)
    assert table.on_demand("r2", "x.large") == 3.0
    path.write_text(json.dumps({"as_of": "2026-01-01", "source": "test"}))
    with pytest.raises(ValueError, match="base_region"):
        load_prices(path)


def test_the_meter_price_comes_from_ec2_facts_and_the_table_never_from_a_row() -> None:
    table = load_prices()
    spot = meter_price(table, "us-east-1", "g5.xlarge", True, 0.31)
    assert (spot.usd_hour, spot.source) == (0.31, PriceSource.SPOT)
    assert meter_price(table, "us-east-1", "g5.xlarge", False, 0.31).usd_hour == 1.006  # not spot: no spot price
    no_spot_price = meter_price(table, "us-east-1", "g5.xlarge", True, None)
    assert (no_spot_price.usd_hour, no_spot_price.source) == (1.006, PriceSource.SPOT_AS_ON_DEMAND)
    assert meter_price(table, "us-east-1", "g5.xlarge", False).source is PriceSource.TABLE


def test_an_unknown_type_or_region_is_charged_the_highest_price_and_flagged() -> None:
    table = load_prices()
    unknown_type = meter_price(table, "us-east-1", "x9.mega", False)
    assert unknown_type.unpriced and unknown_type.source is PriceSource.FALLBACK
    assert unknown_type.usd_hour == max(table.regions["us-east-1"].values())
    unknown_region = meter_price(table, "xx-nowhere-1", "g5.xlarge", False)
    assert unknown_region.unpriced and unknown_region.usd_hour >= unknown_type.usd_hour
    assert meter_price(table, "us-east-1", "x9.mega", True, None).unpriced  # spot without a price: same


def test_the_seed_samples_type_is_priced() -> None:
    # shared/seed-sample.weatherballoon.json launches a t2.medium in us-west-2; it must be billable.
    assert load_prices().on_demand("us-west-2", "t2.medium") == 0.0464
