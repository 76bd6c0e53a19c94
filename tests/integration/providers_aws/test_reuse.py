"""Reuse: a warm instance of the same owner, spec and region is claimed with a conditional write; two
concurrent `wb run`s never share a claim; --fresh, another spec or a missing key means a new launch."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from weatherballoon.cli.providers.aws import keys, reuse
from weatherballoon.cli.providers.aws.instances import describe
from weatherballoon.cli.providers.records import Instance, InstanceSpec
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.records import InstanceRecord, InstanceState
from weatherballoon.lambdas.schema import instance_arn

from tests.integration.providers_aws.conftest import ACCOUNT, ME, REGION, BootEmulator, World, instance_row

SPEC = InstanceSpec(instance_type="g5.xlarge")


def store(world: World) -> DynamoStore:
    return DynamoStore(world.deployed.table, client=boto3.client("dynamodb"))


def go_idle(world: World, instance: Instance) -> None:
    """What the agent does when the last job ends: the warm window, state idle."""
    now = time.time()
    store(world).renew_lease(ME, instance_arn(REGION, ACCOUNT, instance.id), now + 600, now, state=InstanceState.IDLE)


def test_a_warm_instance_is_claimed_and_fresh_or_another_spec_launches(world: World, booting: BootEmulator) -> None:
    first = world.provider().acquire(SPEC).instance
    go_idle(world, first)
    again = world.provider().acquire(SPEC).instance
    assert again.id == first.id and again.target == first.target
    assert f"reusing warm instance {first.id}" in world.messages
    row = instance_row(world.deployed, first.id)
    assert row["state"] == "busy" and row["claim"]

    fresh = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", fresh=True)).instance
    assert fresh.id != first.id
    go_idle(world, fresh)
    spot = world.provider().acquire(InstanceSpec(instance_type="g5.xlarge", spot=True)).instance  # another spec hash
    assert spot.id not in (first.id, fresh.id)

    keys.forget(fresh.id)  # as if it had been launched from another laptop
    assert world.provider().acquire(SPEC).id not in (first.id, fresh.id, spot.id)


def test_concurrent_claims_on_one_warm_instance_have_exactly_one_winner(world: World, booting: BootEmulator) -> None:
    warm = world.provider().acquire(SPEC).instance
    go_idle(world, warm)
    (ec2,) = describe(boto3.client("ec2"), ids=[warm.id])
    row = store(world).get_instance(ME, instance_arn(REGION, ACCOUNT, warm.id))
    assert isinstance(row, InstanceRecord)
    candidate = reuse.Candidate(ec2, row)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: reuse.claim_first(store(world), [candidate], 5, time.time), range(8)))
    assert sum(result is not None for result in results) == 1


def test_two_concurrent_runs_get_one_warm_instance_and_one_new_one(world: World, booting: BootEmulator) -> None:
    warm = world.provider().acquire(SPEC).instance
    go_idle(world, warm)
    providers = [world.provider() for _ in range(2)]  # built first: each one rewrites the project's config
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda provider: provider.acquire(SPEC).instance, providers))
    ids = sorted(instance.id for instance in got)
    assert len(set(ids)) == 2 and warm.id in ids
    for instance in got:
        assert instance_row(world.deployed, instance.id)["state"] == "busy"


def test_a_taken_instance_that_ran_no_job_goes_back_to_the_warm_pool(world: World, booting: BootEmulator) -> None:
    provider = world.provider()
    instance = provider.acquire(SPEC).instance  # e.g. `wb ssh --launch`: nothing starts a job
    with provider.attached(instance):
        assert instance_row(world.deployed, instance.id)["state"] == "busy"
    row = instance_row(world.deployed, instance.id)
    assert row["state"] == "idle" and float(row["lease_until"]) >= time.time() + 9 * 60  # idleMinutes 10
    assert world.provider().acquire(SPEC).id == instance.id


def test_a_remembered_machine_that_cannot_be_claimed_is_let_go_and_the_lookup_chooses(
    world: World, booting: BootEmulator
) -> None:
    """`acquire` only chooses the remembered machine; the session layer claims it (here it cannot: no early
    connection), hands it back with `let_go`, and acquires again, which looks it up and claims it there."""
    from weatherballoon.cli.providers.aws import warm_cache
    from weatherballoon.cli.providers.held import Obtained
    from weatherballoon.cli.session.warm_start import hold

    loaded = world.project()  # one config for all three runs: a rewritten file is another config to the note
    provider = world.provider(loaded)
    first = provider.acquire(SPEC)
    with provider.attached(first.instance):  # no job: back to the warm pool, and noted for the next run
        pass
    assert world.provider(loaded).acquire(SPEC).how is Obtained.REMEMBERED  # chosen without a claim or AWS call
    held = hold(world.provider(loaded), SPEC, early=None)
    said = " ".join(world.messages)
    assert f"the last warm instance {first.id} cannot be taken (no early connection was started)" in said
    assert held.how is Obtained.FOUND and held.id == first.id and held.claim is not None
    assert instance_row(world.deployed, first.id)["claim"] == held.claim
    assert all(
        entry.instance_id != first.id for entry in map(warm_cache.WarmEntry.from_json, warm_cache._load().values())
    )
