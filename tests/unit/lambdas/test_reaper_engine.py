"""The reaper's run over the in-memory store and fleet: what it terminates, closes, accrues and records."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import clock, schema
from weatherballoon.lambdas.accrual import usd_for
from weatherballoon.lambdas.audit import AuditRecord
from weatherballoon.lambdas.budgets import BudgetEntry
from weatherballoon.lambdas.config import Mode, ReaperSettings
from weatherballoon.lambdas.decision import Action, Reason
from weatherballoon.lambdas.engine import Reaper
from weatherballoon.lambdas.errors import StoreError
from weatherballoon.lambdas.in_memory_fleet import InMemoryFleet
from weatherballoon.lambdas.in_memory_store import InMemoryStore
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.records import InstanceState, Market
from weatherballoon.lambdas.schema import Scope

from .builders import T0, facts, job, meter, row

NOW = T0 + 1000  # every row() lease (T0+300) has lapsed by now unless a test extends it
LIVE = T0 + 5000


def settings(**changes: object) -> ReaperSettings:
    base = ReaperSettings(table_name="t", orphan_grace_s=600, job_cap_grace_s=60, team_name="default")
    return ReaperSettings(**{**base.__dict__, **changes})


def reaper(store: InMemoryStore, fleet: InMemoryFleet, **changes: object) -> Reaper:
    return Reaper(settings(**changes), store, fleet, clock=lambda: NOW)


def meters(store: InMemoryStore) -> dict[str, MeterRecord]:
    return {m.instance_id: m for m in (MeterRecord.from_item(i) for i in store.meter_items())}


def spot(instance_id: str, usd_hour: float, **changes: object) -> MeterRecord:
    return meter(instance_id, spot=True, price=Price(usd_hour, PriceSource.SPOT), **changes)  # type: ignore[arg-type]


def audits(store: InMemoryStore) -> dict[str, AuditRecord]:
    found = {}
    for (pk, _), item in store.items.items():
        if pk.startswith(schema.AUDIT_PREFIX):
            record = AuditRecord.from_item(item)
            found[record.instance_id] = record
    return found


@pytest.fixture
def world() -> tuple[InMemoryStore, InMemoryFleet]:
    """One instance per reason, plus keepers, plus a stranger that is not wb's."""
    store, fleet = InMemoryStore(), InMemoryFleet()
    cases = {
        "i-lease": row("i-lease"),
        "i-max": row("i-max", lease_until=LIVE, max_until=NOW - 1),
        "i-marked": row("i-marked", lease_until=LIVE, mark="down by AIDAALICE"),
        "i-bob": row("i-bob", owner="AIDABOB", lease_until=LIVE),
        "i-team": row("i-team", owner="AIDACAROL", team="vision", lease_until=LIVE),
        "i-jobtime": row("i-jobtime", lease_until=LIVE),
        "i-keep": row("i-keep", lease_until=LIVE),
    }
    for instance_id, record in cases.items():
        store.create_instance(record)
        fleet.add(facts(instance_id, owner=record.owner, team=record.team))
    store.put_job(job("i-jobtime", "long", max_time_s=100.0))
    fleet.add(facts("i-orphan", launched_at=NOW - 600))
    fleet.add(facts("i-young", launched_at=NOW - 599))
    fleet.add(facts("i-stranger", managed=False, launched_at=T0 - 10**6))
    store.set_budget(BudgetEntry(Scope.OWNER, "AIDABOB", 5.0))
    store.set_budget(BudgetEntry(Scope.TEAM, "vision", 1.0))
    month = schema.ledger_pk(clock.month_of(NOW))
    store.put_item({"pk": month, "sk": "OWNER#AIDABOB", "usd": 5.0})
    store.put_item({"pk": month, "sk": "TEAM#vision", "usd": 0.9})  # Carol's accrual this run tips it over
    return store, fleet


EXPECTED = {
    "i-lease": Reason.LEASE_EXPIRED,
    "i-max": Reason.MAX_LIFETIME,
    "i-marked": Reason.MARKED,
    "i-bob": Reason.OWNER_BUDGET,
    "i-team": Reason.TEAM_BUDGET,
    "i-jobtime": Reason.JOB_MAX_TIME,
    "i-orphan": Reason.ORPHAN,
}


def test_terminates_exactly_what_the_model_says(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    report = reaper(store, fleet).run()
    assert report.ok, report.failures
    assert report.terminated() == EXPECTED
    assert fleet.terminated_ids() == set(EXPECTED)
    assert fleet.instances["i-stranger"].state == "running"
    assert len(fleet.calls) == 1 and sorted(fleet.calls[0]) == sorted(EXPECTED)  # one batched call
    owners = {"i-bob": "AIDABOB", "i-team": "AIDACAROL"}
    for instance_id, reason in EXPECTED.items():
        assert audits(store)[instance_id].reason == reason.value
        if instance_id != "i-orphan":
            got = store.get_instance(owners.get(instance_id, "AIDAALICE"), row(instance_id).instance_arn)
            assert got is not None and got.state is InstanceState.TERMINATING and got.reap_reason == reason.value
    kept = {d.instance_id: d.reason for d in report.by_action(Action.KEEP)}
    assert kept == {"i-keep": Reason.LEASE_VALID, "i-young": Reason.ORPHAN_GRACE}
    assert "i-stranger" not in {d.instance_id for d in report.decisions}  # never even described
    beat = store.get_heartbeat()
    assert beat is not None and beat.counts["terminated"] == 7 and beat.failures == 0


def test_bob_goes_over_budget_through_this_runs_accrual() -> None:
    """Ledger at $4.99 of $5; the minute this run accrues pushes him over, and the decision sees it."""
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", owner="AIDABOB", lease_until=LIVE))
    store.put_item(spot("i-1", 3.6, owner="AIDABOB", accrued_until=NOW - 60).to_item())
    fleet.add(facts("i-1", owner="AIDABOB", spot=True))
    store.set_budget(BudgetEntry(Scope.OWNER, "AIDABOB", 5.0))
    store.put_item({"pk": schema.ledger_pk(clock.month_of(NOW)), "sk": "OWNER#AIDABOB", "usd": 4.99})
    report = reaper(store, fleet).run()
    assert report.terminated() == {"i-1": Reason.OWNER_BUDGET}
    assert report.accrued_usd == pytest.approx(0.06)


def test_default_budgets_from_settings_apply_without_rows() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", lease_until=LIVE))
    store.put_item(spot("i-1", 36.0, team="default", accrued_until=NOW - 100).to_item())
    fleet.add(facts("i-1", team=None, spot=True))  # untagged team -> TEAM_NAME
    report = reaper(store, fleet, team_budget_usd=0.5, team_name="default").run()
    assert report.terminated() == {"i-1": Reason.TEAM_BUDGET}


def test_accrual_charges_each_interval_once_across_runs() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet(spot_price_table={("g5.xlarge", "us-east-1a"): 6.0})
    store.create_instance(row("i-1", lease_until=LIVE))
    fleet.add(facts("i-1", spot=True, zone="us-east-1a"))
    engine = reaper(store, fleet)
    engine.run(now=T0 + 600)
    engine.run(now=T0 + 600)  # a retry at the same instant adds nothing
    engine.run(now=T0 + 1200)
    month = clock.month_of(T0)
    ledger = {(e.scope, e.name): e.usd for e in store.load_ledger(month)}
    assert ledger[(Scope.OWNER, "AIDAALICE")] == pytest.approx(2.0)  # 20 min x $6/h
    assert ledger[(Scope.TEAM, "ml")] == pytest.approx(2.0)
    got = meters(store)["i-1"]
    assert (got.accrued_until, got.price, got.lifetime_start) == (T0 + 1200, Price(6.0, PriceSource.SPOT), T0)
    assert got.accrued_usd == pytest.approx(2.0)


def test_two_reapers_at_once_never_double_count() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet(spot_price_table={("g5.xlarge", "us-east-1a"): 1.0})
    for n in range(300):
        store.create_instance(row(f"i-{n:03d}", lease_until=LIVE))
        fleet.add(facts(f"i-{n:03d}", spot=True, zone="us-east-1a"))
    a, b = reaper(store, fleet), reaper(store, fleet)
    ra = a.run(now=T0 + 3600)
    rb = b.run(now=T0 + 3600)
    assert ra.accrued_rows + rb.accrued_rows == 300
    ledger = {(e.scope, e.name): e.usd for e in store.load_ledger(clock.month_of(T0))}
    assert ledger[(Scope.OWNER, "AIDAALICE")] == pytest.approx(300.0)


def test_dry_run_changes_nothing_but_records(world: tuple[InMemoryStore, InMemoryFleet]) -> None:
    store, fleet = world
    before = {k: dict(v) for k, v in store.items.items() if not k[0].startswith(schema.BUDGET_PK)}
    report = reaper(store, fleet, mode=Mode.DRY_RUN).run()
    assert report.ok and report.terminated() == {} and fleet.calls == []
    assert {d.instance_id: d.reason for d in report.by_action(Action.TERMINATE)} == EXPECTED
    after = {k: v for k, v in store.items.items() if k in before}
    assert after == before  # no row, job or ledger changed
    assert all(a.action == "would-terminate" and a.mode == "dry-run" for a in audits(store).values())
    assert store.get_heartbeat() is not None


def test_rows_of_gone_instances_are_closed_with_their_jobs() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-gone", launched_at=NOW - 600))
    store.create_instance(row("i-new", launched_at=NOW - 30))  # EC2 may not list it yet
    store.put_job(job("i-gone", "j"))
    fleet.add(facts("i-dead", state="terminated"))
    store.create_instance(row("i-dead"))
    report = reaper(store, fleet).run()
    assert sorted(report.closed()) == ["i-dead", "i-gone"] and report.jobs_closed == 1
    gone = store.get_instance("AIDAALICE", row("i-gone").instance_arn)
    assert gone is not None and gone.state is InstanceState.CLOSED and gone.reap_reason == "instance-gone"
    assert gone.expires_at == int(NOW + 90 * 86400)
    assert store.get_jobs("AIDAALICE", row("i-gone").instance_arn)[0].stop_reason == "instance-gone"
    new = store.get_instance("AIDAALICE", row("i-new").instance_arn)
    assert new is not None and new.state is InstanceState.BUSY
    assert audits(store)["i-gone"].action == "close"


def test_a_poison_id_fails_alone_and_the_rest_are_terminated() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet(failing_ids={"i-013"})
    for n in range(32):
        store.create_instance(row(f"i-{n:03d}"))
        fleet.add(facts(f"i-{n:03d}"))
    report = reaper(store, fleet).run()
    assert set(report.terminated()) == {f"i-{n:03d}" for n in range(32)} - {"i-013"}
    assert [(f.stage, f.subject) for f in report.failures] == [("terminate", "i-013")]
    assert report.terminate_calls == 1 + 2 * 5  # one batch, bisected down to the poison id
    untouched = store.get_instance("AIDAALICE", row("i-013").instance_arn)
    assert untouched is not None and untouched.state is InstanceState.BUSY


def test_a_systemic_failure_stops_bisecting_and_other_batches_still_run() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet(failing_ids={"i-000", "i-009"})
    for n in range(20):
        store.create_instance(row(f"i-{n:03d}"))
        fleet.add(facts(f"i-{n:03d}"))
    report = reaper(store, fleet, terminate_batch_size=10).run()
    # batch 1 (i-000..009): both halves fail -> 3 calls, all 10 reported; batch 2 succeeds in 1 call
    assert set(report.terminated()) == {f"i-{n:03d}" for n in range(10, 20)}
    assert {f.subject for f in report.failures} == {f"i-{n:03d}" for n in range(10)}
    assert report.terminate_calls == 4


def test_batches_respect_the_size() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    for n in range(10):
        fleet.add(facts(f"i-{n}", launched_at=T0 - 10**5))
    reaper(store, fleet, terminate_batch_size=3).run()
    assert [len(c) for c in fleet.calls] == [3, 3, 3, 1]


class BudgetlessStore(InMemoryStore):
    """A table whose budget rows cannot be read (a real failure mode: throttled Query)."""

    def load_budgets(self) -> list[BudgetEntry]:
        raise StoreError("throttled", operation="query", code="ThrottlingException")


def test_unreadable_budgets_skip_budget_reasons_but_not_the_others() -> None:
    store, fleet = BudgetlessStore(), InMemoryFleet()
    store.create_instance(row("i-1"))
    store.create_instance(row("i-2", lease_until=LIVE))
    fleet.add(facts("i-1"))
    fleet.add(facts("i-2"))
    report = reaper(store, fleet, default_owner_budget_usd=0.0).run()
    assert report.terminated() == {"i-1": Reason.LEASE_EXPIRED}
    assert [f.stage for f in report.failures] == ["budgets"]


def test_an_unpriced_type_is_charged_the_highest_price_and_flagged_never_skipped() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", price_usd_hour=0.0, instance_type="zz.huge"))
    fleet.add(facts("i-1", instance_type="zz.huge"))
    report = reaper(store, fleet).run()
    assert report.terminated() == {"i-1": Reason.LEASE_EXPIRED}
    assert report.unpriced == ["i-1"] and report.counts()["unpriced"] == 1 and report.ok
    charged = meters(store)["i-1"]
    assert charged.price.source is PriceSource.FALLBACK and charged.price.unpriced
    table = reaper(store, fleet).prices
    assert charged.price_usd_hour == max(table.regions["us-east-1"].values())
    assert report.accrued_usd == pytest.approx(usd_for(NOW - T0, charged.price_usd_hour))


def test_a_failed_describe_decides_nothing() -> None:
    class BlindFleet(InMemoryFleet):
        def describe_managed(self):
            from weatherballoon.lambdas.errors import FleetError

            raise FleetError("DescribeInstances failed", operation="DescribeInstances", code="RequestLimitExceeded")

    store = InMemoryStore()
    store.create_instance(row("i-1", launched_at=T0 - 10**5))
    report = reaper(store, BlindFleet()).run()
    assert report.decisions == [] and [f.stage for f in report.failures] == ["describe"]
    got = store.get_instance("AIDAALICE", row("i-1").instance_arn)
    assert got is not None and got.state is InstanceState.BUSY  # not closed for lack of EC2 facts
    assert store.get_heartbeat() is not None


def test_a_row_under_another_owner_neither_marks_nor_keeps_the_instance() -> None:
    """Members may write any row under their own prefix: Mallory's row for Alice's instance is ignored."""
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", lease_until=LIVE))  # Alice's own row
    store.create_instance(row("i-1", owner="AIDAMALLORY", mark="gotcha"))  # forged
    store.create_instance(row("i-2", owner="AIDAMALLORY", lease_until=LIVE))  # keeps Alice's orphan? no
    fleet.add(facts("i-1"))
    fleet.add(facts("i-2", launched_at=NOW - 700))
    report = reaper(store, fleet).run()
    assert report.terminated() == {"i-2": Reason.ORPHAN}
    assert sorted(report.closed()) == ["i-1", "i-2"]  # the forged rows match no instance: closed
    alice = store.get_instance("AIDAALICE", row("i-1").instance_arn)
    assert alice is not None and alice.state is InstanceState.BUSY


def test_on_demand_is_charged_the_table_price_whatever_the_row_says() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", lease_until=LIVE, price_usd_hour=0.0001, market=Market.SPOT))
    fleet.add(facts("i-1", instance_type="g5.xlarge"))
    report = reaper(store, fleet).run()
    assert report.accrued_usd == pytest.approx(usd_for(NOW - T0, 1.006))  # from the first start, table price


def test_max_hours_counts_from_the_first_start_the_reaper_saw() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.create_instance(row("i-1", lease_until=LIVE, max_until=NOW + 10**6))  # a row claiming forever
    fleet.add(facts("i-1", launched_at=NOW - 3600))
    assert reaper(store, fleet, max_hours=2.0).run().terminated() == {}
    assert reaper(store, fleet, max_hours=1.0).run().terminated() == {"i-1": Reason.MAX_LIFETIME}


def test_a_row_rewritten_by_its_member_cannot_lower_the_charge() -> None:
    """Item 3 of issue 8: the accrual cursor moved into the future, the price set to zero, the row's market
    set to spot, the team changed: the charge is the same as for an untouched row."""
    honest, forged = InMemoryStore(), InMemoryStore()
    honest.create_instance(row("i-1", lease_until=LIVE))
    forged.create_instance(
        row("i-1", lease_until=LIVE, accrued_until=NOW + 86400, accrued_usd=0.0, price_usd_hour=0.0,
            market=Market.SPOT, team="nobody", launched_at=NOW)
    )  # fmt: skip
    results = []
    for store in (honest, forged):
        fleet = InMemoryFleet([facts("i-1")])
        reaper(store, fleet).run(now=NOW)
        reaper(store, fleet).run(now=NOW + 600)
        month = clock.month_of(NOW)
        results.append({(e.scope, e.name): round(e.usd, 9) for e in store.load_ledger(month)})
    assert results[0] == results[1]
    assert results[1][(Scope.OWNER, "AIDAALICE")] == pytest.approx(usd_for(NOW + 600 - T0, 1.006))
    assert set(results[1]) == {(Scope.OWNER, "AIDAALICE"), (Scope.TEAM, "ml")}  # the tag's team, not the row's


def test_a_stop_and_start_cannot_reset_the_lifetime_cap() -> None:
    """Item 4: EC2 moves LaunchTime on a start; the reaper keeps the first start it recorded."""
    store, fleet = InMemoryStore(), InMemoryFleet([facts("i-1", launched_at=T0)])
    store.create_instance(row("i-1", lease_until=T0 + 10**6, max_until=T0 + 10**6))
    engine = reaper(store, fleet, max_hours=1.0)
    assert engine.run(now=T0 + 60).terminated() == {}  # the meter records the first start
    fleet.add(facts("i-1", launched_at=T0 + 3000))  # stopped and started again: a fresh LaunchTime
    assert engine.run(now=T0 + 3600).terminated() == {"i-1": Reason.MAX_LIFETIME}
    assert meters(store)["i-1"].lifetime_start == T0


def test_deleting_the_row_ends_the_instance_at_once_not_after_a_new_grace() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet([facts("i-1", launched_at=T0)])
    store.create_instance(row("i-1", lease_until=T0 + 10**6))
    engine = reaper(store, fleet)
    assert engine.run(now=T0 + 60).terminated() == {}
    del store.items[(row("i-1").pk, schema.META_SK)]  # what a member's delete would do (members may not)
    fleet.add(facts("i-1", launched_at=T0 + 5000))  # and a restart on top
    assert engine.run(now=T0 + 5100).terminated() == {"i-1": Reason.ORPHAN}


def test_a_stopped_instance_is_terminated() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet([facts("i-1", state="stopped")])
    store.create_instance(row("i-1", lease_until=LIVE))
    assert reaper(store, fleet).run().terminated() == {"i-1": Reason.STOPPED}


def test_termination_protection_is_lifted_to_end_the_instance() -> None:
    """Item 5: no IAM key stops a member launching with DisableApiTermination; the reaper lifts it."""
    ids = [f"i-0{n:016x}" for n in range(6)]  # EC2's form: EC2 names the protected id in its refusal
    store, fleet = InMemoryStore(), InMemoryFleet([facts(i) for i in ids], protected_ids={ids[2], ids[4]})
    for instance_id in ids:
        store.create_instance(row(instance_id))
    report = reaper(store, fleet).run()
    assert set(report.terminated()) == set(ids) and report.ok
    assert sorted(report.unprotected) == [ids[2], ids[4]]
    assert sorted(fleet.modified) == [(ids[2], "disableApiTermination=false"), (ids[4], "disableApiTermination=false")]
    assert report.terminate_calls == 3  # refused twice, one instance named each time, then accepted


def test_volumes_kept_after_termination_are_set_to_go_with_the_machine() -> None:
    store = InMemoryStore()
    fleet = InMemoryFleet([facts("i-1", volumes_kept_on_termination=("/dev/sda1", "/dev/sdf"))])
    store.create_instance(row("i-1", lease_until=LIVE))
    report = reaper(store, fleet).run()
    assert report.volumes_fixed == ["i-1"] and report.terminated() == {}  # fixed even while it may run on
    assert fleet.modified == [("i-1", "deleteOnTermination=true /dev/sda1,/dev/sdf")]
    assert fleet.instances["i-1"].volumes_kept_on_termination == ()


def test_a_spot_price_is_looked_up_once_at_first_sight_and_kept() -> None:
    store = InMemoryStore()
    fleet = InMemoryFleet(
        [facts("i-1", spot=True, zone="us-east-1b")], spot_price_table={("g5.xlarge", "us-east-1b"): 0.4}
    )
    store.create_instance(row("i-1", lease_until=T0 + 10**6, price_usd_hour=0.0))
    engine = reaper(store, fleet)
    engine.run(now=T0 + 60)
    fleet.spot_price_table[("g5.xlarge", "us-east-1b")] = 9.9  # later prices do not change this machine's
    engine.run(now=T0 + 3660)
    assert meters(store)["i-1"].price == Price(0.4, PriceSource.SPOT)
    assert meters(store)["i-1"].accrued_usd == pytest.approx(usd_for(3660, 0.4))


def test_a_spot_instance_without_a_published_price_is_charged_on_demand() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet([facts("i-1", spot=True, zone="us-east-1b")])
    store.create_instance(row("i-1", lease_until=LIVE))
    reaper(store, fleet).run()
    assert meters(store)["i-1"].price == Price(1.006, PriceSource.SPOT_AS_ON_DEMAND)


def test_an_orphan_is_charged_to_its_tagged_owner() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet([facts("i-1", owner="AIDABOB", launched_at=NOW - 60)])
    report = reaper(store, fleet).run()
    assert report.accrued_usd == pytest.approx(usd_for(60, 1.006))
    ledger = {(e.scope, e.name): e.usd for e in store.load_ledger(clock.month_of(NOW))}
    assert ledger[(Scope.OWNER, "AIDABOB")] == pytest.approx(usd_for(60, 1.006))


def test_the_meter_of_a_gone_instance_is_removed_after_the_grace() -> None:
    store, fleet = InMemoryStore(), InMemoryFleet()
    store.put_item(meter("i-gone", first_seen=NOW - 600, accrued_until=NOW - 60).to_item())
    store.put_item(meter("i-young", first_seen=NOW - 30, accrued_until=NOW - 30).to_item())
    report = reaper(store, fleet).run()
    assert report.meters_closed == 1 and set(meters(store)) == {"i-young"}


def test_a_run_never_scans_the_table() -> None:
    class NoScan(InMemoryStore):
        def scan(self) -> None:  # pragma: no cover - would be the old whole-table read
            raise AssertionError("scan")

    store = NoScan()
    for n in range(50):
        store.put_item(row(f"i-old{n}", state=InstanceState.CLOSED).to_item())
    store.create_instance(row("i-1", lease_until=LIVE))
    keys_read: list[tuple[str, str]] = []
    original = store.get_items
    store.get_items = lambda keys: keys_read.extend(keys) or original(keys)  # type: ignore[method-assign]
    reaper(store, InMemoryFleet([facts("i-1")])).run()
    assert keys_read == [(row("i-1").pk, schema.META_SK)]  # closed history is never read
