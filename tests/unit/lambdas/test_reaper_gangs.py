"""The reaper ends a gang together: one member ending, by any reason or by EC2, ends the rest in the same run."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import gang as gang_model
from weatherballoon.lambdas.config import ReaperSettings
from weatherballoon.lambdas.decision import Action, Reason
from weatherballoon.lambdas.engine import Reaper
from weatherballoon.lambdas.gang import MAX_GANG_SIZE, Member, gang_ends, gang_tags
from weatherballoon.lambdas.in_memory_fleet import InMemoryFleet
from weatherballoon.lambdas.in_memory_store import InMemoryStore

from .builders import T0, facts, row

NOW = T0 + 1000
LIVE = T0 + 5000
GRACE = 600


def reaper(store: InMemoryStore, fleet: InMemoryFleet) -> Reaper:
    settings = ReaperSettings(table_name="t", orphan_grace_s=GRACE, job_cap_grace_s=60, team_name="default")
    return Reaper(settings, store, fleet, clock=lambda: NOW)


def gang(
    store: InMemoryStore, fleet: InMemoryFleet, gang_id: str, size: int, *, owner: str = "AIDAALICE",
    launched: int | None = None, lapsed: tuple[int, ...] = (),
) -> list[str]:  # fmt: skip
    """A gang of `size` whose first `launched` members exist; the ranks in `lapsed` have an expired lease."""
    ids = [f"i-{gang_id}-{rank}" for rank in range(size if launched is None else launched)]
    for rank, instance_id in enumerate(ids):
        lease = NOW - 1 if rank in lapsed else LIVE
        extra = {gang_model.ROW_GANG: gang_id, gang_model.ROW_RANK: rank}
        store.create_instance(row(instance_id, owner=owner, lease_until=lease, extra=extra))
        fleet.add(facts(instance_id, owner=owner, extra_tags=gang_tags(gang_id, size)))
    return ids


def outcome(store: InMemoryStore, fleet: InMemoryFleet) -> dict[str, tuple[Action, Reason]]:
    report = reaper(store, fleet).run()
    return {d.instance_id: (d.action, d.reason) for d in report.decisions}


@pytest.fixture
def world() -> tuple[InMemoryStore, InMemoryFleet]:
    return InMemoryStore(), InMemoryFleet()


def test_a_whole_gang_with_live_leases_is_kept(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    ids = gang(store, fleet, "g1", 3)
    assert outcome(store, fleet) == {i: (Action.KEEP, Reason.LEASE_VALID) for i in ids}
    assert fleet.terminated_ids() == set()


def test_one_lapsed_lease_ends_the_whole_gang_in_the_same_run(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    ids = gang(store, fleet, "g1", 3, lapsed=(1,))
    decided = outcome(store, fleet)
    assert decided[ids[1]] == (Action.TERMINATE, Reason.LEASE_EXPIRED)
    assert decided[ids[0]] == decided[ids[2]] == (Action.TERMINATE, Reason.GANG_MEMBER_ENDED)
    assert fleet.terminated_ids() == set(ids)


@pytest.mark.parametrize("state", ["shutting-down", "stopped"])
def test_a_member_ec2_ended_ends_the_rest(world: tuple[InMemoryStore, InMemoryFleet], state: str) -> None:
    """A reclaimed spot machine, or one its agent powered off, is seen on its way out."""
    store, fleet = world
    ids = gang(store, fleet, "g1", 3)
    fleet.add(facts(ids[2], state=state, extra_tags=gang_tags("g1", 3)))
    decided = outcome(store, fleet)
    assert decided[ids[0]] == decided[ids[1]] == (Action.TERMINATE, Reason.GANG_MEMBER_ENDED)
    assert {ids[0], ids[1]} <= fleet.terminated_ids()


def test_a_member_gone_from_ec2_ends_the_rest(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    """A terminated member drops out of DescribeInstances: the declared size tells the reaper it is missing."""
    store, fleet = world
    ids = gang(store, fleet, "g1", 3)
    fleet.add(facts(ids[0], state="terminated", extra_tags=gang_tags("g1", 3)))
    decided = outcome(store, fleet)
    assert decided[ids[1]] == decided[ids[2]] == (Action.TERMINATE, Reason.GANG_MEMBER_ENDED)


def test_a_member_whose_machine_ec2_no_longer_lists_ends_the_rest_once_it_was_metered(
    world: tuple[InMemoryStore, InMemoryFleet],
) -> None:
    """A terminated machine drops out of DescribeInstances, often before a reaper run sees it shutting down:
    its live row says it was a member, the reaper's meter says it was seen running."""
    store, fleet = world
    ids = gang(store, fleet, "g1", 3)
    young = reaper(store, fleet)
    report = young.run(now=T0 + 10)  # every member seen (and metered) while young
    assert {d.instance_id for d in report.decisions if d.action is Action.KEEP} == set(ids)
    del fleet.instances[ids[1]]  # gone from EC2's listing altogether
    report = young.run(now=T0 + 20)  # well within the launch grace: the meter alone says it was there
    decided = {d.instance_id: (d.action, d.reason, d.detail) for d in report.decisions}
    for other in (ids[0], ids[2]):
        assert decided[other] == (Action.TERMINATE, Reason.GANG_MEMBER_ENDED, f"gang g1: member {ids[1]} is gone")


def test_a_member_not_listed_yet_right_after_launch_ends_nothing(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    """DescribeInstances may not list a machine just launched: a row never metered, younger than the grace."""
    store, fleet = world
    ids = gang(store, fleet, "g1", 3)
    del fleet.instances[ids[2]]
    report = reaper(store, fleet).run(now=T0 + 10)
    assert all(d.action is not Action.TERMINATE for d in report.decisions)


def test_a_partial_gang_waits_for_the_launch_grace_then_ends(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    """A client that died after launching 2 of 3 machines: kept while a launch could still be under way."""
    store, fleet = world
    ids = gang(store, fleet, "g1", 3, launched=2)
    started = NOW - GRACE + 1
    members = [("AIDAALICE", Member(i, gang_tags("g1", 3), "running", started, False)) for i in ids]
    assert gang_ends(members, NOW, GRACE) == {}
    assert set(gang_ends(members, NOW + 1, GRACE)) == set(ids)
    decided = outcome(store, fleet)  # launched at T0, NOW - T0 = 1000 s > grace
    assert decided == {i: (Action.TERMINATE, Reason.GANG_MEMBER_ENDED) for i in ids}


def test_gangs_are_keyed_by_owner_so_nobody_ends_anothers_gang(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    """Bob tags his own machine with Alice's gang id, and lets its lease lapse: Alice's gang stays."""
    store, fleet = world
    alice = gang(store, fleet, "g1", 2)
    store.create_instance(row("i-bob", owner="AIDABOB", lease_until=NOW - 1))
    fleet.add(facts("i-bob", owner="AIDABOB", extra_tags=gang_tags("g1", 2)))
    decided = outcome(store, fleet)
    assert decided["i-bob"] == (Action.TERMINATE, Reason.LEASE_EXPIRED)
    assert all(decided[i] == (Action.KEEP, Reason.LEASE_VALID) for i in alice)


def test_two_gangs_of_one_owner_are_independent(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    first, second = gang(store, fleet, "g1", 2, lapsed=(0,)), gang(store, fleet, "g2", 2)
    decided = outcome(store, fleet)
    assert decided[first[1]] == (Action.TERMINATE, Reason.GANG_MEMBER_ENDED)
    assert all(decided[i] == (Action.KEEP, Reason.LEASE_VALID) for i in second)


def test_machines_without_a_gang_are_untouched(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    store.create_instance(row("i-solo", lease_until=LIVE))
    fleet.add(facts("i-solo"))
    store.create_instance(row("i-lapsed", lease_until=NOW - 1))
    fleet.add(facts("i-lapsed"))
    decided = outcome(store, fleet)
    assert decided["i-solo"] == (Action.KEEP, Reason.LEASE_VALID)


def test_the_audit_names_the_member_that_ended_first(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    ids = gang(store, fleet, "g1", 2, lapsed=(0,))
    report = reaper(store, fleet).run()
    detail = {d.instance_id: d.detail for d in report.decisions}[ids[1]]
    assert detail == f"gang g1: member {ids[0]} is being terminated"


@pytest.mark.parametrize("size", [0, MAX_GANG_SIZE + 1])
def test_gang_tags_refuse_impossible_sizes(size: int) -> None:
    with pytest.raises(ValueError, match="a gang has 1 to"):
        gang_tags("g", size)
