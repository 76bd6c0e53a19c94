"""While attached the client renews the lease (and stops when it detaches or supervision refuses); the
job row carries the caps; `job_stopped_reason` explains what the reaper recorded."""

from __future__ import annotations

import time

import boto3
import pytest
from weatherballoon.cli.jobs.index import LocalJob
from weatherballoon.cli.providers.records import InstanceSpec
from weatherballoon.lambdas.dynamo_codec import from_wire, key
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.schema import instance_arn, instance_pk

from tests.integration.providers_aws.conftest import ACCOUNT, ME, REGION, BootEmulator, World, instance_row

SPEC = InstanceSpec(instance_type="g5.xlarge", max_time_s=5400.0, max_cost_usd=3.5)


def store(world: World) -> DynamoStore:
    return DynamoStore(world.deployed.table, client=boto3.client("dynamodb"))


def test_attached_renews_every_interval_and_stops_on_exit(world: World, booting: BootEmulator) -> None:
    # a compressed lease: 0.03 minutes (1.8 s), so renewals come every 0.6 s
    provider = world.provider(world.project(supervision={"leaseMinutes": 0.03}))
    held = provider.acquire(SPEC)
    instance = held.instance
    before = instance_row(world.deployed, instance.id)
    with provider.attached(instance):
        time.sleep(2.0)
        keeper = held.lease
        assert keeper is not None and keeper.interval_s == 0.6 and keeper.renewals >= 2 and keeper.failures == 0
        during = instance_row(world.deployed, instance.id)
    assert not keeper.running
    assert during["lease_until"] > before["lease_until"] and during["renewed_at"] > before["renewed_at"]
    after = instance_row(world.deployed, instance.id)
    assert after["state"] == "idle"  # no job started: released to the warm pool on the way out
    time.sleep(0.8)
    assert instance_row(world.deployed, instance.id)["renewed_at"] == after["renewed_at"]


def test_a_marked_row_refuses_the_renewal_and_the_client_says_why(world: World, booting: BootEmulator) -> None:
    provider = world.provider(world.project(supervision={"leaseMinutes": 0.03}))
    held = provider.acquire(SPEC)
    instance = held.instance
    store(world).mark_instance(ME, instance_arn(REGION, ACCOUNT, instance.id), "down by an admin")
    with provider.attached(instance):
        time.sleep(1.0)
        keeper = held.lease
        assert keeper is not None and not keeper.running and keeper.refused == "marked: down by an admin"
    assert f"supervision is ending {instance.id}: marked: down by an admin" in world.messages
    assert provider.job_stopped_reason(instance) == "marked: down by an admin"


def test_job_row_records_caps_and_outputs_and_the_reap_reason_is_explained(world: World, booting: BootEmulator) -> None:
    provider = world.provider()
    held = provider.acquire(SPEC)
    instance = held.instance
    record = LocalJob(
        id="20261124-101010-abcdef",
        provider="aws",
        instance_id=instance.id,
        target=instance.target,
        remote_root="~/wb/proj",
        command=("python", "train.py"),
        outputs=("out/**",),
    )
    provider.job_started(held, record)
    arn = instance_arn(REGION, ACCOUNT, instance.id)
    item = boto3.client("dynamodb").get_item(
        TableName=world.deployed.table, Key=key(instance_pk(ME, arn), f"JOB#{record.id}")
    )["Item"]
    job = from_wire(item)
    assert job["command"] == ["python", "train.py"] and job["outputs"] == ["out/**"]
    assert float(job["max_time_s"]) == 5400.0 and float(job["max_cost_usd"]) == 3.5 and job["state"] == "running"
    assert provider.list_instances()[-1].running_jobs == (record.id,)

    assert provider.job_stopped_reason(instance) is None
    row = store(world).get_instance(ME, arn)
    assert row is not None
    store(world).mark_terminating(row, "owner-budget", time.time())
    reason = world.provider().job_stopped_reason(instance)
    assert reason == "owner-budget: the owner's monthly budget is used up (see: wb costs)"


def test_the_budget_gate_never_shows_an_amount_under_a_cent_as_zero(world: World) -> None:
    """A budget of $0.0001 read "$0.00" (issue 9, misleading messages)."""
    from weatherballoon.cli.errors import SupervisionStop
    from weatherballoon.lambdas.budgets import BudgetEntry, LedgerEntry
    from weatherballoon.lambdas.dynamo_codec import to_wire
    from weatherballoon.lambdas.schema import Scope

    now = time.time()
    store(world).set_budget(BudgetEntry(Scope.OWNER, ME, 0.0001, updated_at=now, updated_by="admin"))
    spent = LedgerEntry(time.strftime("%Y-%m", time.gmtime(now)), Scope.OWNER, ME, 0.00015, updated_at=now)
    boto3.client("dynamodb").put_item(TableName=world.deployed.table, Item=to_wire(spent.to_item()))
    provider = world.provider()
    with pytest.raises(SupervisionStop, match=r"you have spent \$0\.00015 of your \$0\.0001 budget"):
        provider.acquire(SPEC)
    provider.close()
