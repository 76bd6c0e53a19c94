"""Faults injected at the HTTP layer (a proxy in front of moto): a failing batch never hides the others,
transient throttling is absorbed by retries, and any failure makes the invocation raise after the work."""

from __future__ import annotations

import time

import pytest
from weatherballoon.lambdas import reaper
from weatherballoon.lambdas.errors import ReaperRunError
from weatherballoon.lambdas.records import InstanceState

from tests.integration.lambdas.conftest import LambdaContext, World
from tests.integration.lambdas.fault_proxy import FaultProxy, Rule


def invoke() -> dict:
    return reaper.handler({}, LambdaContext())


def seed_expired(world: World, count: int) -> list[str]:
    now = time.time()
    ids = world.launch(count)
    world.put_rows([world.row(i, now, lease_until=now - 1) for i in ids])
    return ids


def test_a_refused_id_fails_alone_and_every_other_batch_goes_through(
    world: World, reaper_env: dict[str, str], ec2_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMINATE_BATCH_SIZE", "5")
    ids = seed_expired(world, 12)
    poison = ids[6]  # in the second batch
    ec2_proxy.rules.append(
        Rule("TerminateInstances", 403, "UnauthorizedOperation", when=lambda r: poison in r.instance_ids())
    )
    with pytest.raises(ReaperRunError, match=poison) as info:
        invoke()
    assert [str(f) for f in info.value.failures] == [f"terminate {poison}: " + info.value.failures[0].message]
    assert world.terminated() == set(ids) - {poison}
    sizes = [len(r.instance_ids()) for r in ec2_proxy.calls("TerminateInstances")]
    assert max(sizes) <= 5 and sum(1 for s in sizes if s == 5) >= 2
    kept = world.store.get_instance("AIDAALICE", world.arn(poison))
    assert kept is not None and kept.state is InstanceState.BUSY  # not marked: EC2 did not acknowledge
    assert world.audits()[poison]["facts"]["applied"] is False
    assert world.audits()[ids[0]]["facts"]["applied"] is True
    beat = world.store.get_heartbeat()
    assert beat is not None and beat.failures == 1 and beat.counts["terminated"] == 11


def test_throttling_is_retried_and_the_run_succeeds(
    world: World, reaper_env: dict[str, str], ec2_proxy: FaultProxy
) -> None:
    ids = seed_expired(world, 4)
    ec2_proxy.rules.append(Rule("TerminateInstances", 503, "RequestLimitExceeded", times=2))
    summary = invoke()
    assert summary["counts"]["failures"] == 0 and set(summary["terminated"]) == set(ids)
    assert len(ec2_proxy.calls("TerminateInstances")) == 3  # two throttled attempts, then through
    assert world.terminated() == set(ids)


def test_a_lost_terminate_answer_is_retried_and_the_run_succeeds(
    world: World, reaper_env: dict[str, str], ec2_proxy: FaultProxy
) -> None:
    """EC2 terminated the instances, but the answer never came back: the retry (TerminateInstances is idempotent)
    gets EC2's answer, and the reaper records the terminations as applied."""
    ids = seed_expired(world, 3)
    ec2_proxy.rules.append(Rule("TerminateInstances", 0, "", times=1, drop=True))
    summary = invoke()
    assert summary["counts"]["failures"] == 0 and set(summary["terminated"]) == set(ids)
    assert len(ec2_proxy.calls("TerminateInstances")) == 2  # the lost one (it took effect), then the retry
    assert world.terminated() == set(ids)
    assert all(world.audits()[i]["facts"]["applied"] is True for i in ids)


def test_an_ec2_outage_still_accrues_records_and_raises(
    world: World, reaper_env: dict[str, str], ec2_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_MAX_ATTEMPTS", "1")
    ids = seed_expired(world, 6)
    ec2_proxy.rules.append(Rule("TerminateInstances", 500, "InternalError"))
    with pytest.raises(ReaperRunError) as info:
        invoke()
    assert {f.subject for f in info.value.failures} == set(ids)
    assert len(ec2_proxy.calls("TerminateInstances")) == 3  # the batch, then both halves: systemic, stop
    assert world.terminated() == set()
    assert len(world.audits()) == 6
    meter = world.meter(ids[0])
    assert meter is not None and meter.accrued_until is not None and meter.accrued_until > time.time() - 30


def test_a_failing_audit_write_does_not_stop_terminations(
    world: World, reaper_env: dict[str, str], ddb_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_MAX_ATTEMPTS", "1")
    ids = seed_expired(world, 3)
    ddb_proxy.rules.append(Rule("BatchWriteItem", 500, "InternalServerError"))
    with pytest.raises(ReaperRunError, match="audit") as info:
        invoke()
    assert [f.stage for f in info.value.failures] == ["audit"]
    assert world.terminated() == set(ids)
    row = world.store.get_instance("AIDAALICE", world.arn(ids[0]))
    assert row is not None and row.state is InstanceState.TERMINATING and row.reap_reason == "lease-expired"


def test_a_throttled_accrual_transaction_is_retried(
    world: World, reaper_env: dict[str, str], ddb_proxy: FaultProxy
) -> None:
    now = time.time()
    (instance,) = world.launch(1)
    world.put_rows([world.row(instance, now)])
    world.put_meter(instance, now, 6.0, accrued_until=now - 600, spot=True)  # a spot price is kept as recorded
    ddb_proxy.rules.append(Rule("TransactWriteItems", 400, "ProvisionedThroughputExceededException", times=1))
    summary = invoke()
    assert summary["counts"]["failures"] == 0 and summary["counts"]["accrued"] == 1
    assert len(ddb_proxy.calls("TransactWriteItems")) == 2
    assert summary["accrued_usd"] == pytest.approx(1.0, abs=0.01)
