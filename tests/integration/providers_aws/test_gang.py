"""`AwsProvider.acquire_gang` against the bootstrapped stack in moto, through the fault proxy (EC2's ClientToken
idempotency, injected capacity errors and lost answers): one gang, whole or not at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from weatherballoon.cli.errors import ProvisionError, UsageError
from weatherballoon.cli.providers.aws.gang_launch import GANG_ID, GANG_RANK
from weatherballoon.cli.providers.aws.gang_network import NAME_PREFIX
from weatherballoon.cli.providers.aws.leases import release_to_idle
from weatherballoon.cli.providers.held import Obtained
from weatherballoon.cli.providers.records import InstanceSpec
from weatherballoon.cli.session.tunnel import MAX_CONNECTIONS_PER_ENDPOINT
from weatherballoon.lambdas import gang, tags

from tests.integration.providers_aws.conftest import BootEmulator, World, instance_row
from tests.integration.providers_aws.fault_proxy import DROP, FaultProxy, RunCall

G5 = InstanceSpec(instance_type="g5.xlarge")
NODES = 3


@pytest.fixture
def faults(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    subnets = {s["SubnetId"]: s["AvailabilityZone"] for s in boto3.client("ec2").describe_subnets()["Subnets"]}
    with FaultProxy(world.deployed.url, subnets) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        yield proxy
        _sweep_gang_networks()


def _sweep_gang_networks() -> None:
    """Tests share one moto: leave no gang group or placement group behind for the next one."""
    ec2 = boto3.client("ec2")
    live = [i["InstanceId"] for i in live_wb_instances()]
    if live:
        ec2.terminate_instances(InstanceIds=live)
    for placement in ec2.describe_placement_groups()["PlacementGroups"]:
        ec2.delete_placement_group(GroupName=placement["GroupName"])
    for group in gang_groups():
        ec2.delete_security_group(GroupId=group["GroupId"])


def gang_groups() -> list[dict[str, Any]]:
    filters = [{"Name": "tag-key", "Values": [gang.GANG]}]
    return boto3.client("ec2").describe_security_groups(Filters=filters)["SecurityGroups"]


def live_wb_instances() -> list[dict[str, Any]]:
    filters = [
        {"Name": "tag:wb:managed", "Values": ["true"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ]
    reservations = boto3.client("ec2").describe_instances(Filters=filters)["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def nth_launch(k: int, code: str) -> Any:
    """A rule answering the k-th RunInstances (1-based) with `code`; the others go through."""
    seen = [0]

    def rule(call: RunCall) -> str | None:
        seen[0] += 1
        return code if seen[0] == k else None

    return rule


# --- a gang, launched ----------------------------------------------------------------------------------------


def test_a_gang_starts_in_one_call_in_one_zone_in_its_own_group_and_placement_group(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    started = time.monotonic()
    held = world.provider().acquire_gang(InstanceSpec(instance_type="g5.xlarge", max_cost_usd=3.0), NODES)
    took = time.monotonic() - started
    print(f"\ngang of {NODES} launched and booted (moto, boot emulator) in {took:.2f} s")

    assert [h.gang_rank for h in held] == [0, 1, 2]
    assert all(h.how is Obtained.LAUNCHED for h in held)
    gang_id = held[0].gang_id
    assert gang_id and {h.gang_id for h in held} == {gang_id}
    # one RunInstances for all three, into the gang's cluster placement group and both groups
    [call] = faults.calls
    assert (call.count, call.placement_group) == (NODES, NAME_PREFIX + gang_id)
    [group] = gang_groups()
    stack_group = world.deployed.stack.outputs["SecurityGroupId"]
    assert set(call.groups) == {stack_group, group["GroupId"]}
    described = {i["InstanceId"]: i for i in live_wb_instances()}
    assert set(described) == {h.id for h in held}
    assert len({i["Placement"]["AvailabilityZone"] for i in described.values()}) == 1
    for instance in described.values():
        labels = tags.tags_from_aws(instance["Tags"])
        assert (labels[gang.GANG], labels[gang.GANG_SIZE]) == (gang_id, str(NODES))
        [interface] = instance["NetworkInterfaces"]
        assert {g["GroupId"] for g in interface["Groups"]} == {stack_group, group["GroupId"]}
    # the gang's group admits exactly its own members, on everything, and nothing else
    assert group["IpPermissions"] == [
        {
            "IpProtocol": "-1",
            "IpRanges": [],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": [
                {
                    "GroupId": group["GroupId"],
                    "UserId": group["OwnerId"],
                    "Description": group["IpPermissions"][0]["UserIdGroupPairs"][0]["Description"],
                }
            ],
        }
    ]
    placement = boto3.client("ec2").describe_placement_groups(GroupNames=[NAME_PREFIX + gang_id])["PlacementGroups"]
    assert [(p["Strategy"], tags.tags_from_aws(p["Tags"])[gang.GANG]) for p in placement] == [("cluster", gang_id)]
    # one row each, busy, with the rank; each rank's spec carries its share of the cost cap
    for h in held:
        row = instance_row(world.deployed, h.id)
        assert (row["state"], row[GANG_ID], int(row[GANG_RANK])) == ("busy", gang_id, h.gang_rank)
        assert h.spec is not None and h.spec.max_cost_usd == pytest.approx(1.0)


def test_a_capacity_error_on_the_first_launch_moves_the_whole_gang_to_the_next_zone(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    faults.rules.append(nth_launch(1, "InsufficientInstanceCapacity"))
    held = world.provider().acquire_gang(G5, NODES)
    assert [c.answered for c in faults.calls] == ["InsufficientInstanceCapacity", None]
    assert faults.calls[0].zone != faults.calls[1].zone and faults.launches == 1
    assert sorted(i["InstanceId"] for i in live_wb_instances()) == sorted(h.id for h in held)
    assert len({i["Placement"]["AvailabilityZone"] for i in live_wb_instances()}) == 1


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "VcpuLimitExceeded"])
def test_no_capacity_anywhere_leaves_nothing_and_names_what_was_missing(
    world: World, faults: FaultProxy, code: str
) -> None:
    faults.rules.append(lambda call: code)
    with pytest.raises(ProvisionError) as caught:
        world.provider().acquire_gang(G5, NODES)
    assert caught.value.exit_code == 255
    assert f"could not launch a gang of {NODES} x g5.xlarge in one zone of us-west-2" in caught.value.message
    assert code in caught.value.message
    assert faults.launches == 0 and live_wb_instances() == []
    assert gang_groups() == [] and boto3.client("ec2").describe_placement_groups()["PlacementGroups"] == []


def test_a_lost_answer_on_the_gang_launch_starts_one_gang(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    faults.rules.append(nth_launch(1, DROP))
    held = world.provider().acquire_gang(G5, NODES)
    assert [c.answered for c in faults.calls] == [DROP, None] and faults.calls[0].token == faults.calls[1].token
    assert faults.launches == 1 and len(live_wb_instances()) == NODES == len(held)


def test_a_member_that_dies_while_the_gang_boots_ends_the_whole_gang_at_once(
    world: World, faults: FaultProxy, deployed_stack: Any
) -> None:
    """Rank 1 is reclaimed before the gang is ready: no partial gang is kept, every member is terminated."""
    ec2 = boto3.client("ec2", endpoint_url=world.deployed.url)  # straight to moto, as EC2 itself
    stop = threading.Event()
    killed: list[str] = []

    def reclaim_rank_1() -> None:
        while not stop.wait(0.05):
            members = [i for i in live_wb_instances() if i.get("AmiLaunchIndex") == 1]
            if members:
                ec2.terminate_instances(InstanceIds=[members[0]["InstanceId"]])
                killed.append(members[0]["InstanceId"])
                return

    reclaimer = threading.Thread(target=reclaim_rank_1, daemon=True)
    reclaimer.start()
    try:
        with (
            BootEmulator(world.deployed, world.tmp / "slow-boot", delay_s=1.0),
            pytest.raises(ProvisionError) as caught,
        ):
            world.provider().acquire_gang(G5, NODES)
    finally:
        stop.set()
        reclaimer.join(5)
    assert killed, "the reclaimer never saw rank 1"
    assert f"rank 1 ({killed[0]}) ended while the gang booted" in caught.value.message
    assert f"all {NODES} machines of the gang are being terminated" in caught.value.message
    assert live_wb_instances() == []
    launched = [c for c in faults.calls if c.answered is None]
    assert len(launched) == 1  # nothing relaunched behind the user's back


# --- a warm gang: whole or not at all ------------------------------------------------------------------------


def _warm(world: World, held: list[Any]) -> None:
    provider = world.provider()
    for h in held:
        assert release_to_idle(provider.plane.store, h.row, 1.0, time.time)


def test_a_warm_gang_is_reused_whole(world: World, faults: FaultProxy, booting: BootEmulator) -> None:
    first = world.provider().acquire_gang(G5, NODES)
    _warm(world, first)
    again = world.provider().acquire_gang(G5, NODES)
    assert [h.id for h in again] == [h.id for h in first]
    assert all(h.how is Obtained.FOUND and h.claim for h in again)
    assert faults.launches == 1 and any("reusing warm gang" in m for m in world.messages)


def test_a_warm_gang_missing_one_free_member_is_not_used_and_gives_its_claims_back(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    first = world.provider().acquire_gang(G5, NODES)
    _warm(world, first)
    provider = world.provider()
    store = provider.plane.store
    # another command claims rank 2 between this one's look and its claims
    assert store.claim_instance(first[2].row.owner, first[2].row.instance_arn, "other", time.time() + 60, time.time())
    again = provider.acquire_gang(G5, NODES)
    assert {h.id for h in again}.isdisjoint(h.id for h in first) and faults.launches == 2
    states = [instance_row(world.deployed, h.id)["state"] for h in first]
    assert states == ["idle", "idle", "busy"]  # ranks 0 and 1 were handed back, rank 2 is the other's


def test_a_single_run_never_takes_a_gang_machine(world: World, faults: FaultProxy, booting: BootEmulator) -> None:
    gang_held = world.provider().acquire_gang(G5, NODES)
    _warm(world, gang_held)
    solo = world.provider().acquire(G5)
    assert solo.how is Obtained.LAUNCHED and solo.id not in {h.id for h in gang_held}


# --- wb status: one line per gang, expandable -------------------------------------------------------------------


def test_status_shows_a_gang_as_one_line_and_expands_it(
    world: World, faults: FaultProxy, booting: BootEmulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from weatherballoon.cli.main import run_cli

    loaded = world.project()
    monkeypatch.chdir(loaded.local_root)
    held = world.provider(loaded).acquire_gang(G5, NODES)
    solo = world.provider(loaded).acquire(InstanceSpec(instance_type="g5.xlarge", fresh=True))
    gang_id = held[0].gang_id

    capsys.readouterr()
    assert run_cli(["status"]) == 0
    out = capsys.readouterr().out
    gang_lines = [line for line in out.splitlines() if f"gang {gang_id}" in line]
    assert len(gang_lines) == 1 and f"gang {gang_id} (x{NODES})" in gang_lines[0] and "busy" in gang_lines[0]
    assert solo.id in out and not any(h.id in out for h in held)

    assert run_cli(["status", "--expand"]) == 0
    out = capsys.readouterr().out
    for h in held:
        assert f"rank {h.gang_rank}: {h.id}" in out

    assert run_cli(["status", "--json"]) == 0
    shown = {item["id"]: item for item in __import__("json").loads(capsys.readouterr().out)}
    assert [(shown[h.id]["gang"], shown[h.id]["gang_rank"], shown[h.id]["gang_size"]) for h in held] == [
        (gang_id, rank, NODES) for rank in range(NODES)
    ]
    assert shown[solo.id]["gang"] is None


# --- the gang's network on its own -------------------------------------------------------------------------------


def test_a_type_without_cluster_placement_gets_the_gang_group_only(world: World, faults: FaultProxy) -> None:
    from weatherballoon.cli.providers.aws import gang_network

    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    labels = tags.wb_tags("AKIAIOSFODNN7EXAMPLE", "default", "proj", "wb")
    made = gang_network.create(ec2, gang_id="t3gang", vpc_id=vpc, instance_type="t3.micro", labels=labels,
                               say=world.messages.append)  # fmt: skip
    assert made.placement_group is None and made.group_id
    assert any("t3.micro has no cluster placement" in m for m in world.messages)
    assert gang_network.delete(ec2, made) == []
    assert gang_groups() == []


def test_the_next_gang_launch_sweeps_the_old_networks_its_owner_no_longer_uses(
    world: World, faults: FaultProxy, booting: BootEmulator
) -> None:
    """A gang that ended leaves its group and placement group (EC2 refuses to delete them while machines use
    them); the owner's next gang launch deletes those older than the sweep age, and leaves alone a young one
    (another command of the owner may be launching that gang right now) and other owners' ones."""
    from weatherballoon.cli.providers.aws import gang_network

    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    now = time.time()

    def network(owner: str, age_s: float) -> str:
        labels = tags.wb_tags(owner, "default", "proj", "wb")
        gang_id = gang_network.new_gang_id(now - age_s)
        gang_network.create(ec2, gang_id=gang_id, vpc_id=vpc, instance_type="g5.xlarge", labels=labels, say=print)
        return gang_network.resource_name(gang_id)

    old = network("AKIAIOSFODNN7EXAMPLE", gang_network.SWEEP_AFTER_S + 60)
    young = network("AKIAIOSFODNN7EXAMPLE", 5)
    others = network("AIDAOTHERMEMBER00001", gang_network.SWEEP_AFTER_S + 60)
    held = world.provider().acquire_gang(G5, NODES)
    mine = gang_network.resource_name(str(held[0].gang_id))
    names = {p["GroupName"] for p in ec2.describe_placement_groups()["PlacementGroups"]}
    assert old not in names and names == {young, others, mine}
    assert {g["GroupName"] for g in gang_groups()} == {young, others, mine}


def test_a_gang_larger_than_the_endpoints_connection_cap_is_refused_before_any_launch(
    world: World, faults: FaultProxy
) -> None:
    """Through Instance Connect every machine of a gang holds a tunnel for the whole run, and an endpoint
    serves at most 20 at once (AWS's quota): 21 machines would be launched, billed, then refused with 429."""
    provider = world.provider(world.project(connect="eice"))
    with pytest.raises(UsageError) as caught:
        provider.acquire_gang(G5, MAX_CONNECTIONS_PER_ENDPOINT + 1)
    assert caught.value.exit_code == 2
    assert "--nodes 21" in caught.value.message and "at most 20" in caught.value.message
    assert "--nodes 20 or fewer" in (caught.value.hint or "")
    assert faults.calls == [] and live_wb_instances() == []
