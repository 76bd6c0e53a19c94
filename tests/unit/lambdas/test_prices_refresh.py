"""The price-table refresh over a small copy of the Price List bulk API (tests/unit/lambdas/price_list)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from weatherballoon.lambdas import offer_file
from weatherballoon.lambdas.prices import PriceTable, load_prices
from weatherballoon.lambdas.prices_refresh import Source, build_table, main

FIXTURE = Path(__file__).with_name("price_list")


def test_the_table_holds_linux_shared_on_demand_prices_of_the_supported_families() -> None:
    table = build_table(Source(str(FIXTURE)), today="2026-12-07")
    assert table["as_of"] == "2026-11-30"
    # commercial regions only (the fixture's index also lists us-gov-west-1); Windows, dedicated, reserved
    # capacity, pre-installed software, storage, r5 and the Reserved terms are all left out
    assert table["regions"] == {
        "ap-south-1": {"g5.xlarge": 1.156, "t3.micro": 0.0112},
        "eu-west-1": {"g5.2xlarge": 1.353, "g5.xlarge": 1.123, "t3.micro": 0.0114},
        "us-east-1": {"g5.2xlarge": 1.212, "g5.xlarge": 1.006, "p5.48xlarge": 55.04, "t3.micro": 0.0104},
    }
    assert table["fallback_factors"] == {"ap-south-1": 1.15, "eu-west-1": 1.12, "us-east-1": 1.0}


def test_the_built_table_loads_and_prices_a_missing_type_upward() -> None:
    table = PriceTable.from_document(build_table(Source(str(FIXTURE)), regions=["ap-south-1"], today="2026-12-07"))
    assert table.on_demand("ap-south-1", "g5.xlarge") == 1.156
    assert table.lookup("ap-south-1", "p5.48xlarge") == (round(55.04 * 1.15, 6), True)  # estimated, never less


def test_a_region_the_index_does_not_list_is_refused() -> None:
    with pytest.raises(ValueError, match="no offer file for xx-nowhere-1"):
        build_table(Source(str(FIXTURE)), regions=["xx-nowhere-1"])


def test_the_command_writes_the_file(tmp_path: Path) -> None:
    output = tmp_path / "prices.json"
    assert main(["--source", str(FIXTURE), "--regions", "eu-west-1", "--output", str(output)]) == 0
    written = json.loads(output.read_text())
    assert set(written["regions"]) == {"us-east-1", "eu-west-1"} and "bulk API" in written["source"]
    assert load_prices(output).on_demand("eu-west-1", "g5.2xlarge") == 1.353


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_offer_files_are_read_a_member_at_a_time_whatever_the_chunk(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(offer_file, "_CHUNK", chunk)
    document = {
        "version": "1",
        "products": {"A": {"attributes": {"s": 'quote " and \\ slash', "n": -1.5e3, "t": True}}, "B": {}},
        "terms": {"Reserved": {"A": [1, {"x": None}]}, "OnDemand": {"A": {"p": "0.5"}}},
    }
    text = json.dumps(document, indent=1)
    assert dict(offer_file.members(io.StringIO(text), ("products",))) == document["products"]
    assert dict(offer_file.members(io.StringIO(text), ("terms", "OnDemand"))) == {"A": {"p": "0.5"}}
    assert list(offer_file.members(io.StringIO(text), ("absent",))) == []


def test_a_file_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(offer_file.OfferFileError):
        list(offer_file.members(io.StringIO("[1, 2]"), ("products",)))
