"""Throttles and lost answers injected at the HTTP layer (a proxy in front of moto, with EC2's ClientToken
idempotency) for the calls that launch or end a machine: RunInstances is retried with its ClientToken and
never starts two machines; TerminateInstances (idempotent by itself) is retried by botocore."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.aws import launch_retry
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import BootEmulator, World, instance_row
from tests.integration.providers_aws.fault_proxy import DROP, FaultProxy, RunCall


@pytest.fixture
def faults(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    subnets = {s["SubnetId"]: s["AvailabilityZone"] for s in boto3.client("ec2").describe_subnets()["Subnets"]}
    with FaultProxy(world.deployed.url, subnets) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        yield proxy


def first(answers: list[str | None]) -> Callable[[RunCall], str | None]:
    """A rule that answers the next RunInstances calls with `answers`, one each, then lets them through."""
    queue = list(answers)

    def rule(call: RunCall) -> str | None:
        return queue.pop(0) if queue else None

    return rule


def live_wb_instances() -> list[str]:
    ec2 = boto3.client("ec2")
    filters = [
        {"Name": "tag:wb:managed", "Values": ["true"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ]
    return [i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def test_a_throttled_launch_is_retried_with_the_same_client_token(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    faults.rules.append(first(["RequestLimitExceeded", "RequestLimitExceeded"]))
    instance = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge")).instance
    assert [c.answered for c in faults.calls] == ["RequestLimitExceeded", "RequestLimitExceeded", None]
    assert len({c.token for c in faults.calls}) == 1 and faults.calls[0].token  # one token, resent unchanged
    assert faults.calls[0].zone == faults.calls[2].zone  # a throttle is not a capacity error: same zone
    assert live_wb_instances() == [instance.id] and faults.launches == 1
    assert sum("throttled (RequestLimitExceeded); trying again" in m for m in world.messages) == 2
    assert instance_row(world.deployed, instance.id)["state"] == "busy"


def test_a_launch_whose_answer_is_lost_is_retried_and_starts_one_machine(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    """EC2 accepted the launch but the answer never came: the retry, with the same token, gets the same
    instance back (EC2's idempotency), and no second machine is billed."""
    faults.rules.append(first([DROP]))
    instance = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge")).instance
    assert [c.answered for c in faults.calls] == [DROP, None]
    assert faults.calls[0].token == faults.calls[1].token
    assert faults.launches == 1 and live_wb_instances() == [instance.id]
    assert any("no answer (ConnectionClosedError); trying again" in m for m in world.messages), world.messages


def test_answers_lost_every_time_fail_clearly_after_one_machine_started(world: World, faults: FaultProxy) -> None:
    faults.rules.append(lambda call: DROP)
    with pytest.raises(ProvisionError) as caught:
        world.provider().acquire(InstanceSpec(instance_type="g5.xlarge"))
    assert caught.value.exit_code == 255
    assert f"no answer from EC2 after {launch_retry.DEFAULT_POLICY.attempts} tries" in caught.value.message
    assert "reaper ends it" in (caught.value.hint or "")
    assert len(faults.calls) == launch_retry.DEFAULT_POLICY.attempts and len({c.token for c in faults.calls}) == 1
    assert faults.launches == 1  # retried many times, launched once: the reaper's orphan rule ends it


def test_terminate_rides_out_a_throttle_and_a_lost_answer(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    provider = world.provider()
    instance = provider.acquire(InstanceSpec(instance_type="g5.xlarge")).instance
    faults.faults["TerminateInstances"] = ["RequestLimitExceeded", DROP]
    assert provider.terminate([instance]) == [instance.id]
    assert [code for action, code in faults.actions if action == "TerminateInstances"] == [
        "RequestLimitExceeded", DROP, None,
    ]  # fmt: skip
    assert live_wb_instances() == []
