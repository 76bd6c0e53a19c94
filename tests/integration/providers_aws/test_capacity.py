"""Capacity errors injected at the HTTP layer (a proxy in front of moto answers chosen RunInstances calls
with EC2's error XML): spot falls back zone by zone, then to on-demand; quota errors end a market at once;
when nothing is left the error names every attempt and what to do."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import BootEmulator, World, instance_row
from tests.integration.providers_aws.fault_proxy import FaultProxy, RunCall


@pytest.fixture
def faults(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    subnets = {s["SubnetId"]: s["AvailabilityZone"] for s in boto3.client("ec2").describe_subnets()["Subnets"]}
    with FaultProxy(world.deployed.url, subnets) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        yield proxy


def attempts(proxy: FaultProxy) -> list[tuple[str, str | None, str | None]]:
    return [(c.market, c.zone, c.answered) for c in proxy.calls]


def test_spot_without_capacity_anywhere_falls_back_to_on_demand_and_says_so(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    faults.rules.append(lambda c: "InsufficientInstanceCapacity" if c.market == "spot" else None)
    instance = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", spot=True)).instance
    zones = ["us-west-2a", "us-west-2b", "us-west-2c"]  # the zones moto offers g5.xlarge in
    assert attempts(faults) == [("spot", z, "InsufficientInstanceCapacity") for z in zones] + [
        ("on-demand", "us-west-2a", None)
    ]
    assert f"spot capacity unavailable in {', '.join(zones)}; falling back to on-demand" in world.messages
    row = instance_row(world.deployed, instance.id)
    assert row["market"] == "on-demand" and float(row["price_usd_hour"]) == 1.006


def test_spot_lands_in_the_next_zone_and_records_the_spot_price(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    faults.rules.append(lambda c: "InsufficientInstanceCapacity" if c.zone == "us-west-2a" else None)
    instance = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", spot=True)).instance
    assert attempts(faults) == [("spot", "us-west-2a", "InsufficientInstanceCapacity"), ("spot", "us-west-2b", None)]
    raw = boto3.client("ec2").describe_instances(InstanceIds=[instance.id])["Reservations"][0]["Instances"][0]
    assert raw["InstanceLifecycle"] == "spot" and raw["Placement"]["AvailabilityZone"] == "us-west-2b"
    row = instance_row(world.deployed, instance.id)
    assert row["market"] == "spot" and float(row["price_usd_hour"]) == pytest.approx(0.00001)  # moto's spot price
    assert not any("falling back" in m for m in world.messages)


def test_on_demand_moves_zone_by_zone_then_fails_naming_attempts_quota_and_other_types(
    world: World, faults: FaultProxy
) -> None:
    faults.rules.append(lambda c: "InsufficientInstanceCapacity")
    with pytest.raises(ProvisionError) as caught:
        world.provider().acquire(InstanceSpec(instance_type="g5.xlarge"))
    assert caught.value.exit_code == 255
    assert [(market, zone) for market, zone, _ in attempts(faults)] == [
        ("on-demand", "us-west-2a"),
        ("on-demand", "us-west-2b"),
        ("on-demand", "us-west-2c"),
    ]
    message = caught.value.render()
    assert "could not launch g5.xlarge in us-west-2; tried on-demand in us-west-2a: Insufficient" in message
    assert "https://console.aws.amazon.com/servicequotas/" in message
    assert "-t g5.2xlarge" in message and "provisioner.region" in message


def test_a_quota_error_ends_its_market_at_once(world: World, faults: FaultProxy, booting: BootEmulator) -> None:
    def rule(call: RunCall) -> str | None:
        return "MaxSpotInstanceCountExceeded" if call.market == "spot" else None

    faults.rules.append(rule)
    world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", spot=True))
    assert attempts(faults) == [
        ("spot", "us-west-2a", "MaxSpotInstanceCountExceeded"),
        ("on-demand", "us-west-2a", None),
    ]

    faults.calls.clear()
    faults.rules[:] = [lambda c: "VcpuLimitExceeded"]
    with pytest.raises(ProvisionError) as caught:
        world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", fresh=True))
    assert "raise the quota (VcpuLimitExceeded) at https://console.aws" in caught.value.render()
    assert len(faults.calls) == 1  # a regional quota: no point in asking the other zones


def test_spot_without_the_accounts_spot_role_falls_back_to_on_demand_at_once_and_says_why(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    """EC2 answers a spot launch with AuthFailure.ServiceLinkedRoleCreationNotPermitted when the account has no
    AWSServiceRoleForEC2Spot and the caller may not create it: no other zone can do better."""
    faults.rules.append(lambda c: "AuthFailure.ServiceLinkedRoleCreationNotPermitted" if c.market == "spot" else None)
    instance = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", spot=True)).instance
    assert attempts(faults) == [
        ("spot", "us-west-2a", "AuthFailure.ServiceLinkedRoleCreationNotPermitted"),
        ("on-demand", "us-west-2a", None),
    ]
    notices = [m for m in world.messages if "spot" in m]
    assert len(notices) == 1 and "AWSServiceRoleForEC2Spot" in notices[0], world.messages
    assert "wb bootstrap --create-spot-role" in notices[0] and "launching on-demand" in notices[0]
    assert instance_row(world.deployed, instance.id)["market"] == "on-demand"
