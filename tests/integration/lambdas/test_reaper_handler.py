"""The reaper handler, invoked in-process against the moto server: exactly what it terminates, and why."""

from __future__ import annotations

import json
import threading
import time

import pytest
from weatherballoon.lambdas import clock, permissions, reaper, schema, tags
from weatherballoon.lambdas.aws import CallCounter, make_client
from weatherballoon.lambdas.budgets import BudgetEntry
from weatherballoon.lambdas.config import ReaperSettings
from weatherballoon.lambdas.decision import Reason
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.ec2_fleet import Ec2Fleet
from weatherballoon.lambdas.engine import Reaper
from weatherballoon.lambdas.errors import MissingSettingError
from weatherballoon.lambdas.meter import Price, PriceSource
from weatherballoon.lambdas.records import InstanceState, JobRow
from weatherballoon.lambdas.schema import Scope

from tests.integration.lambdas.conftest import IMAGE, TABLE, LambdaContext, World, later
from tests.integration.lambdas.fault_proxy import FaultProxy

HOUR = 3600.0


def invoke() -> dict:
    return reaper.handler({"source": "aws.events"}, LambdaContext())


def emitted_metrics(stdout: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in stdout.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = blob[metric["Name"]]
                found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def seed_every_reason(world: World, now: float) -> dict[str, Reason]:
    """One instance per reason, judged at about `now`; returns id -> the reason it must be reaped for."""
    lease, max_life, marked, job_time, job_cost, orphan, keep = world.launch(7)
    (bob,) = world.launch(1, owner="AIDABOB")
    (carol,) = world.launch(1, owner="AIDACAROL", team="vision")
    world.put_rows([
        world.row(lease, now, lease_until=now - 1),
        world.row(max_life, now, max_until=now - 1),
        world.row(marked, now, mark="down by AIDAALICE"),
        world.row(job_time, now),
        world.row(job_cost, now),
        world.row(keep, now),
        world.row(bob, now, owner="AIDABOB"),
        world.row(carol, now, owner="AIDACAROL", team="vision"),
    ])  # fmt: skip
    world.put_rows([
        JobRow("AIDAALICE", world.arn(job_time), "long", ("sleep", "1d"), started_at=now - 1000, max_time_s=60.0),
        JobRow("AIDAALICE", world.arn(job_cost), "pricey", ("train",), started_at=now - 1000, max_cost_usd=0.1),
    ])  # fmt: skip
    world.store.set_budget(BudgetEntry(Scope.OWNER, "AIDABOB", 10.0))
    world.store.set_budget(BudgetEntry(Scope.TEAM, "vision", 100.0))
    month = schema.ledger_pk(clock.month_of(now))
    for sk, usd in (("OWNER#AIDABOB", "10"), ("TEAM#vision", "100")):
        world.ddb.put_item(TableName=TABLE, Item={"pk": {"S": month}, "sk": {"S": sk}, "usd": {"N": usd}})
    return {
        lease: Reason.LEASE_EXPIRED, max_life: Reason.MAX_LIFETIME, marked: Reason.MARKED,
        job_time: Reason.JOB_MAX_TIME, job_cost: Reason.JOB_MAX_COST, orphan: Reason.ORPHAN,
        bob: Reason.OWNER_BUDGET, carol: Reason.TEAM_BUDGET,
    }  # fmt: skip


def test_every_reason_terminates_exactly_those_instances(
    world: World, reaper_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time() + HOUR
    expected = seed_every_reason(world, now)
    reaper.set_reaper(reaper.build_reaper(ReaperSettings.from_env(), clock=later(HOUR)))
    summary = invoke()
    assert summary["terminated"] == {i: r.value for i, r in sorted(expected.items())}
    assert world.terminated() == set(expected)
    audits = world.audits()
    assert {i: a["reason"] for i, a in audits.items()} == {i: r.value for i, r in expected.items()}
    assert all(a["action"] == "terminate" and a["expires_at"] > now for a in audits.values())
    for instance_id, reason in expected.items():
        if reason is Reason.ORPHAN:
            continue
        owner = {Reason.OWNER_BUDGET: "AIDABOB", Reason.TEAM_BUDGET: "AIDACAROL"}.get(reason, "AIDAALICE")
        got = world.store.get_instance(owner, world.arn(instance_id))
        assert got is not None and got.state is InstanceState.TERMINATING and got.reap_reason == reason.value
    beat = world.store.get_heartbeat()
    assert beat is not None and beat.counts["terminated"] == 8 and beat.counts["kept"] == 1
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["terminated"] == 8 and metrics["terminate.orphan"] == 1 and metrics["terminate.marked"] == 1
    assert metrics["failures"] == 0


def test_instances_that_are_not_wbs_are_never_touched(world: World, reaper_env: dict[str, str]) -> None:
    now = time.time() + HOUR
    (untagged,) = world.launch(1, managed=None)
    (opted_out,) = world.launch(1, managed="false")
    (shouting,) = world.launch(1, managed="TRUE")
    (ours,) = world.launch(1)
    # rows that would doom them, were they wb's
    world.put_rows([world.row(i, now, lease_until=now - 1000, mark="x") for i in (untagged, opted_out, shouting)])
    reaper.set_reaper(reaper.build_reaper(ReaperSettings.from_env(), clock=later(HOUR)))
    summary = invoke()
    assert summary["terminated"] == {ours: "orphan"}
    states = world.states()
    assert [states[i] for i in (untagged, opted_out, shouting)] == ["running"] * 3


def test_dry_run_terminates_nothing_and_records_what_it_would_do(
    world: World, reaper_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODE", "dry-run")
    now = time.time() + HOUR
    expected = seed_every_reason(world, now)
    before = world.store.load_live()
    reaper.set_reaper(reaper.build_reaper(ReaperSettings.from_env(), clock=later(HOUR)))
    summary = invoke()
    assert summary["mode"] == "dry-run" and summary["terminated"] == {}
    assert world.terminated() == set()
    assert world.store.load_live().instances == before.instances  # not even accrual moved
    audits = world.audits()
    assert {i: a["reason"] for i, a in audits.items()} == {i: r.value for i, r in expected.items()}
    assert {a["action"] for a in audits.values()} == {"would-terminate"}


def test_rows_of_gone_instances_are_closed(world: World, reaper_env: dict[str, str]) -> None:
    now = time.time()
    gone, alive = world.launch(2)
    world.ec2.terminate_instances(InstanceIds=[gone])
    world.put_rows([
        world.row(gone, now), world.row(alive, now), world.row("i-0000000000000dead", now),
        world.row("i-00000000000000new", now, launched_at=now - 5),  # EC2 may not list it yet
    ])  # fmt: skip
    world.put_rows([JobRow("AIDAALICE", world.arn(gone), "j1", ("x",), started_at=now - 100)])
    summary = invoke()  # the production build, real clock
    assert summary["counts"]["closed"] == 2 and summary["counts"]["jobs_closed"] == 1
    live = {r.instance_id for r in world.store.load_live().instances}
    assert live == {alive, "i-00000000000000new"}
    closed = world.store.get_instance("AIDAALICE", world.arn(gone))
    assert closed is not None and closed.state is InstanceState.CLOSED and closed.reap_reason == "instance-gone"
    assert world.store.get_jobs("AIDAALICE", world.arn(gone))[0].stop_reason == "instance-gone"
    assert world.audits()[gone]["action"] == "close"
    second = invoke()
    assert second["counts"]["closed"] == 0  # closing is done once


def test_accrual_reaches_the_ledger(world: World, reaper_env: dict[str, str]) -> None:
    """Meters are charged their price: a spot price recorded at first sight is kept; an on-demand meter is
    charged the table's price for the type EC2 reports (g5.xlarge, $1.006/h), whatever it held before."""
    now = time.time()
    (spot,) = world.launch(1, spot=True)
    (on_demand,) = world.launch(1, owner="AIDABOB")
    world.put_rows([world.row(spot, now), world.row(on_demand, now, owner="AIDABOB", price_usd_hour=0.0001)])
    world.put_meter(spot, now, 6.0, accrued_until=now - 600, spot=True)
    world.put_meter(on_demand, now, 0.0001, owner="AIDABOB", accrued_until=now - 3600)
    invoke()
    ledger = {(e.scope, e.name): e.usd for e in world.store.load_ledger(clock.month_of(now))}
    assert ledger[(Scope.OWNER, "AIDAALICE")] == pytest.approx(1.0, abs=0.01)  # 10 min x $6/h
    assert ledger[(Scope.OWNER, "AIDABOB")] == pytest.approx(1.006, abs=0.01)  # 1 h x $1.006/h
    meter = world.meter(spot)
    assert meter is not None and meter.accrued_until is not None and meter.accrued_until >= now


def test_a_new_spot_instance_is_priced_from_ec2s_published_spot_price(world: World, reaper_env: dict[str, str]) -> None:
    (spot,) = world.launch(1, spot=True)
    zone = world.ec2.describe_instances(InstanceIds=[spot])["Reservations"][0]["Instances"][0]["Placement"]
    history = world.ec2.describe_spot_price_history(
        InstanceTypes=["g5.xlarge"], ProductDescriptions=["Linux/UNIX"], AvailabilityZone=zone["AvailabilityZone"]
    )["SpotPriceHistory"]
    published = float(max(history, key=lambda entry: entry["Timestamp"])["SpotPrice"])
    world.put_rows([world.row(spot, time.time(), price_usd_hour=99.0)])  # the row's price is ignored
    invoke()
    meter = world.meter(spot)
    assert meter is not None and meter.spot and meter.price == Price(published, PriceSource.SPOT)


def test_two_overlapping_runs_are_safe(world: World, reaper_env: dict[str, str], ddb_proxy: FaultProxy) -> None:
    """Two reapers read the same state, then both accrue and terminate. Each DynamoDB request reaches moto
    one at a time (see FaultProxy.serialize); the reapers' requests interleave freely."""
    ddb_proxy.serialize = True
    # no accrual is written before both runs have read the table: they overlap for certain
    ddb_proxy.holds["TransactWriteItems"] = lambda proxy: len(proxy.calls("BatchGetItem")) >= 2
    now = time.time()
    ids = world.launch(60)
    expired, live = ids[:30], ids[30:]
    world.put_rows([world.row(i, now, lease_until=now - 1) for i in expired])
    world.put_rows([world.row(i, now) for i in live])
    for i in expired:
        world.put_meter(i, now, 1.006)
    for i in live:
        world.put_meter(i, now, 1.006, accrued_until=now - 3600)
    settings = ReaperSettings.from_env()
    judged = now + 1
    reapers = [reaper.build_reaper(settings, clock=lambda: judged) for _ in range(2)]
    reports: list = [None, None]
    barrier = threading.Barrier(2)

    def go(n: int) -> None:
        barrier.wait()
        reports[n] = reapers[n].run()

    threads = [threading.Thread(target=go, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None and r.ok for r in reports), [r.failures for r in reports if r]
    assert world.terminated() == set(expired)
    assert all(set(r.terminated()) == set(expired) for r in reports)  # terminating twice is harmless
    ledger = {(e.scope, e.name): e.usd for e in world.store.load_ledger(clock.month_of(now))}
    # counted once although both runs tried: live rows 3601 s, expired rows 61 s, at $1.006/h (g5.xlarge)
    expected = 30 * 3601 * 1.006 / 3600.0 + 30 * 61 * 1.006 / 3600.0
    assert ledger[(Scope.OWNER, "AIDAALICE")] == pytest.approx(expected, rel=1e-9)
    assert sum(r.accrued_rows for r in reports) == 60
    assert sum(r.accrual_conflicts for r in reports) == 60  # the slower run found every row charged
    charged = {i: world.meter(i) for i in live}
    assert all(m is not None and m.accrued_usd == pytest.approx(3601 * 1.006 / 3600.0) for m in charged.values())


def test_missing_table_name_is_a_named_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(MissingSettingError, match="TABLE_NAME"):
        invoke()


def launch_protected(world: World) -> str:
    """A wb instance launched as a member could: termination protection on, every volume kept after
    termination (no IAM condition key refuses either)."""
    image = world.ec2.describe_images(ImageIds=[IMAGE])["Images"][0]
    tag_map = {tags.MANAGED: "true", tags.OWNER: "AIDAALICE", tags.TEAM: "ml", tags.PROJECT: "proj"}
    answer = world.ec2.run_instances(
        ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="g5.xlarge", DisableApiTermination=True,
        TagSpecifications=tags.tag_specifications(tag_map, ("instance",)),
        BlockDeviceMappings=[
            {"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": 100, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 500, "DeleteOnTermination": False}},
        ],
    )  # fmt: skip
    instance_id = str(answer["Instances"][0]["InstanceId"])
    # moto ignores DisableApiTermination on RunInstances (EC2 honours it); set it as EC2 would have
    world.ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
    return instance_id


def test_an_instance_launched_protected_with_kept_volumes_is_ended_and_leaves_nothing(
    world: World, reaper_env: dict[str, str]
) -> None:
    now = time.time()
    protected = launch_protected(world)
    with pytest.raises(Exception, match="OperationNotPermitted"):
        world.ec2.terminate_instances(InstanceIds=[protected])  # what the reaper meets
    world.put_rows([world.row(protected, now, lease_until=now - 1)])
    summary = invoke()
    assert summary["terminated"] == {protected: "lease-expired"}
    assert summary["counts"]["unprotected"] == 1 and summary["counts"]["volumes_fixed"] == 1
    assert world.terminated() == {protected}
    assert world.ec2.describe_volumes()["Volumes"] == []  # both volumes went with the machine


def test_a_stopped_wb_instance_is_terminated(world: World, reaper_env: dict[str, str]) -> None:
    now = time.time()
    stopped, running = world.launch(2)
    world.put_rows([world.row(stopped, now), world.row(running, now)])
    world.ec2.stop_instances(InstanceIds=[stopped])
    summary = invoke()
    assert summary["terminated"] == {stopped: "stopped"}


def test_the_reaper_uses_only_the_iam_it_declares(world: World, reaper_env: dict[str, str]) -> None:
    """Meter (a spot price looked up), accrue, lift protection and kept volumes, terminate, close a row, its
    job and its meter, write audits and the heartbeat: every API used is in `permissions.REAPER_ACTIONS`,
    which the stack grants."""
    now = time.time()
    expired, kept, gone = world.launch(3)
    (spot,) = world.launch(1, spot=True)
    protected = launch_protected(world)
    world.ec2.terminate_instances(InstanceIds=[gone])
    world.put_rows([world.row(expired, now, lease_until=now - 1), world.row(kept, now), world.row(gone, now),
                    world.row(spot, now), world.row(protected, now, lease_until=now - 1)])  # fmt: skip
    world.put_rows([JobRow("AIDAALICE", world.arn(gone), "j", ("x",), started_at=now - 10)])
    world.put_meter(gone, now, 1.006, first_seen=now - 3600)
    world.store.set_budget(BudgetEntry(Scope.OWNER, "AIDAALICE", 1000.0))
    counter = CallCounter()
    store = DynamoStore(TABLE, client=counter.attach(make_client("dynamodb", session=world.session)))
    fleet = Ec2Fleet(client=counter.attach(make_client("ec2", session=world.session)))
    report = Reaper(ReaperSettings.from_env(), store, fleet).run()
    assert report.ok, report.failures
    assert report.terminated() == {expired: Reason.LEASE_EXPIRED, protected: Reason.LEASE_EXPIRED}
    assert report.closed() == [gone] and report.meters_closed == 1
    used = {permissions.OPERATION_ACTIONS[op] for op in counter.calls}
    assert used == permissions.REAPER_ACTIONS
