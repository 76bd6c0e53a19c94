"""The reaper over 2,000 wb instances in the moto server: paging, 1,000-id batches, exact terminations.

10,000 instances and the accrual transactions at scale are measured by bench/reaper_scale.py: moto copies
a whole table for every item of a transaction, which makes accrual at scale quadratic in moto (and only
there), so here every meter has already been charged up to the run's `now`.
"""

from __future__ import annotations

import time

import pytest
from weatherballoon.lambdas.aws import CallCounter, make_client
from weatherballoon.lambdas.config import ReaperSettings
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.ec2_fleet import Ec2Fleet
from weatherballoon.lambdas.engine import Reaper

from tests.integration.lambdas.conftest import TABLE, World

SIZE = 2000
EXPIRED = 1200  # more than one TerminateInstances batch


@pytest.mark.slow
def test_two_thousand_instances(world: World) -> None:
    now = time.time()
    ids = world.launch(SIZE)
    strangers = world.launch(20, managed=None)
    world.put_rows([
        world.row(i, now, lease_until=now - 1 if n < EXPIRED else now + 3600, accrued_until=now)
        for n, i in enumerate(ids)
    ])  # fmt: skip
    world.put_meters(ids, now)
    counter = CallCounter()
    settings = ReaperSettings(table_name=TABLE, team_name="ml")
    store = DynamoStore(TABLE, client=counter.attach(make_client("dynamodb", session=world.session)))
    fleet = Ec2Fleet(client=counter.attach(make_client("ec2", session=world.session)))
    report = Reaper(settings, store, fleet, clock=lambda: now).run()
    assert report.ok, report.failures[:5]
    assert report.seen == SIZE and report.rows == SIZE
    assert set(report.terminated()) == set(ids[:EXPIRED])
    states = world.states()
    assert {i for i, state in states.items() if state != "running"} == set(ids[:EXPIRED])
    assert all(states[i] == "running" for i in strangers)
    assert counter.calls["TerminateInstances"] == 2  # 1,000 + 200
    assert counter.calls["DescribeInstances"] == 1  # moto pages by reservation: 2 of 1,000 fit one page
    assert counter.calls["UpdateItem"] == EXPIRED  # one row marked per termination
    assert counter.calls["BatchWriteItem"] == EXPIRED // 25  # audit rows
    assert counter.calls.get("TransactWriteItems", 0) == 0  # nothing left to accrue
    assert counter.calls.get("Scan", 0) == 0  # rows by key (20 BatchGetItem), meters by shard (16 Query)
    assert counter.calls["BatchGetItem"] == SIZE // 100
    beat = world.store.get_heartbeat()
    assert beat is not None and beat.counts["terminated"] == EXPIRED and beat.counts["kept"] == SIZE - EXPIRED
