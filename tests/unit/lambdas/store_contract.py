"""Behaviour every SupervisionStore must have. Subclassed once per implementation (in-memory here, DynamoDB
against the moto server in tests/integration/lambdas), so both enforce the same conditions."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import clock
from weatherballoon.lambdas.accrual import plan_accrual
from weatherballoon.lambdas.audit import AuditRecord, ReaperHeartbeat
from weatherballoon.lambdas.budgets import BudgetEntry
from weatherballoon.lambdas.errors import LeaseRefusedError, RowExistsError, RowNotFoundError
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.records import InstanceState
from weatherballoon.lambdas.schema import Scope
from weatherballoon.lambdas.store import SupervisionStore

from .builders import T0, job, meter, row

MONTH = clock.month_of(T0)


def ledger_of(store: SupervisionStore) -> dict[tuple[Scope, str], float]:
    return {(e.scope, e.name): e.usd for e in store.load_ledger(MONTH)}


class StoreContract:
    @pytest.fixture
    def store(self) -> SupervisionStore:
        raise NotImplementedError

    def seed(self, store: SupervisionStore, item: dict) -> None:
        """Write an item exactly as given (what a member with PutItem on their own rows could write)."""
        raise NotImplementedError

    def test_create_and_get(self, store: SupervisionStore) -> None:
        record = row(extra={"private_ip": "10.0.0.5"})
        store.create_instance(record)
        assert store.get_instance(record.owner, record.instance_arn) == record
        assert store.get_instance("AIDABOB", record.instance_arn) is None
        with pytest.raises(RowExistsError):
            store.create_instance(record)

    def test_renew_extends_never_shortens_and_sets_state(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.LAUNCHING)
        store.create_instance(r)
        renewed = store.renew_lease(r.owner, r.instance_arn, T0 + 900, T0 + 600, InstanceState.IDLE)
        assert (renewed.lease_until, renewed.state, renewed.renewed_at) == (T0 + 900, InstanceState.IDLE, T0 + 600)
        again = store.renew_lease(r.owner, r.instance_arn, T0 + 700, T0 + 650, InstanceState.BUSY)
        assert (again.lease_until, again.state, again.renewed_at) == (T0 + 900, InstanceState.BUSY, T0 + 650)

    @pytest.mark.parametrize("change", [{"mark": "wb down"}, {"state": InstanceState.TERMINATING},
                                        {"state": InstanceState.CLOSED}])  # fmt: skip
    def test_renew_is_refused_when_supervision_ends_the_machine(self, store: SupervisionStore, change: dict) -> None:
        r = row(**change)
        store.create_instance(r)
        with pytest.raises(LeaseRefusedError):
            store.renew_lease(r.owner, r.instance_arn, T0 + 900, T0 + 10)
        assert store.get_instance(r.owner, r.instance_arn).lease_until == r.lease_until

    def test_renew_of_a_missing_row(self, store: SupervisionStore) -> None:
        with pytest.raises(RowNotFoundError):
            store.renew_lease("AIDAALICE", row().instance_arn, T0 + 900, T0)

    def test_claim_is_exclusive(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.IDLE)
        store.create_instance(r)
        assert store.claim_instance(r.owner, r.instance_arn, "tok-1", T0 + 400, T0 + 100)
        assert not store.claim_instance(r.owner, r.instance_arn, "tok-2", T0 + 400, T0 + 100)
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None and (got.claim, got.state, got.lease_until) == ("tok-1", InstanceState.BUSY, T0 + 400)

    @pytest.mark.parametrize("change, now", [({"mark": "x"}, T0 + 1), ({}, T0 + 300), ({"max_until": T0 + 5}, T0 + 6)])
    def test_claim_refuses_marked_or_expired(self, store: SupervisionStore, change: dict, now: float) -> None:
        r = row(state=InstanceState.IDLE, **change)
        store.create_instance(r)
        assert not store.claim_instance(r.owner, r.instance_arn, "tok", now + 300, now)

    def test_claim_wants_its_margin_of_lease(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.IDLE, lease_until=T0 + 100)
        store.create_instance(r)
        assert not store.claim_instance(r.owner, r.instance_arn, "tok", T0 + 400, T0 + 50, margin_s=60)
        assert store.claim_instance(r.owner, r.instance_arn, "tok", T0 + 400, T0 + 50, margin_s=30)

    def test_claim_never_shortens_the_lease(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.IDLE, lease_until=T0 + 900)
        store.create_instance(r)
        assert store.claim_instance(r.owner, r.instance_arn, "tok", T0 + 400, T0 + 50)
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None and (got.claim, got.state, got.lease_until) == ("tok", InstanceState.BUSY, T0 + 900)

    @pytest.mark.parametrize("hint", [None, T0, T0 + 10_000])
    def test_a_wrong_lease_hint_changes_nothing_but_the_order_of_the_writes(
        self, store: SupervisionStore, hint: float | None
    ) -> None:
        short = row("i-0001", state=InstanceState.IDLE, lease_until=T0 + 200)
        long = row("i-0002", state=InstanceState.IDLE, lease_until=T0 + 900)
        for r in (short, long):
            store.create_instance(r)
            assert store.claim_instance(r.owner, r.instance_arn, "tok", T0 + 400, T0 + 50, known_lease=hint)
            assert store.release_instance(r.owner, r.instance_arn, "tok", T0 + 600, T0 + 60, known_lease=hint)
        leases = [store.get_instance(r.owner, r.instance_arn).lease_until for r in (short, long)]
        assert leases == [T0 + 600, T0 + 900]

    def test_release_only_under_the_same_claim(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.IDLE)
        store.create_instance(r)
        assert store.claim_instance(r.owner, r.instance_arn, "tok-1", T0 + 400, T0 + 100)
        assert not store.release_instance(r.owner, r.instance_arn, "tok-0", T0 + 700, T0 + 110)
        assert not store.release_instance(r.owner, r.instance_arn, None, T0 + 700, T0 + 110)
        assert store.release_instance(r.owner, r.instance_arn, "tok-1", T0 + 700, T0 + 110)
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None and (got.state, got.lease_until) == (InstanceState.IDLE, T0 + 700)
        # idle already: a second release (a late one) changes nothing, so a newer claim is never undone
        assert not store.release_instance(r.owner, r.instance_arn, "tok-1", T0 + 800, T0 + 120)
        assert store.claim_instance(r.owner, r.instance_arn, "tok-2", T0 + 400, T0 + 130)
        assert not store.release_instance(r.owner, r.instance_arn, "tok-1", T0 + 800, T0 + 140)
        assert store.get_instance(r.owner, r.instance_arn).state is InstanceState.BUSY

    def test_release_of_a_never_claimed_row_keeps_a_longer_lease(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.BUSY, lease_until=T0 + 900)
        store.create_instance(r)
        assert store.release_instance(r.owner, r.instance_arn, None, T0 + 400, T0 + 100)
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None and (got.state, got.lease_until) == (InstanceState.IDLE, T0 + 900)

    def test_release_refuses_a_marked_row(self, store: SupervisionStore) -> None:
        r = row(state=InstanceState.BUSY, mark="down")
        store.create_instance(r)
        assert not store.release_instance(r.owner, r.instance_arn, None, T0 + 400, T0 + 100)

    def test_mark_and_host_key(self, store: SupervisionStore) -> None:
        r = row()
        store.create_instance(r)
        store.mark_instance(r.owner, r.instance_arn, "down by AIDAALICE")
        store.set_host_key(r.owner, r.instance_arn, "SHA256:abc")
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None and (got.mark, got.host_key_fingerprint) == ("down by AIDAALICE", "SHA256:abc")
        with pytest.raises(RowNotFoundError):
            store.mark_instance("AIDABOB", r.instance_arn, "x")

    def test_jobs(self, store: SupervisionStore) -> None:
        r = row()
        store.create_instance(r)
        first, second = job(job_id="j1", max_time_s=60.0), job(job_id="j2", started_at=T0 + 99)
        store.put_job(second)
        store.put_job(first)
        store.finish_job(first, T0 + 50, "exited", 0, None)
        jobs = store.get_jobs(r.owner, r.instance_arn)
        assert [j.job_id for j in jobs] == ["j1", "j2"]
        assert (jobs[0].ended_at, jobs[0].exit_code, jobs[0].state, jobs[0].max_time_s) == (T0 + 50, 0, "exited", 60)
        with pytest.raises(RowNotFoundError):
            store.finish_job(job(job_id="nope"), T0, "exited", 0, None)

    def test_the_agent_touches_only_a_running_job_row(self, store: SupervisionStore) -> None:
        r = row()
        store.create_instance(r)
        running = job(job_id="j1")
        store.put_job(running)
        assert store.touch_job(running, T0 + 30) is True
        store.finish_job(running, T0 + 50, "exited", 0, None)
        assert store.touch_job(running, T0 + 60) is False
        assert store.touch_job(job(job_id="nope"), T0 + 60) is False
        assert [j.job_id for j in store.get_jobs(r.owner, r.instance_arn)] == ["j1"]

    def test_budgets(self, store: SupervisionStore) -> None:
        store.set_budget(BudgetEntry(Scope.OWNER, "AIDAALICE", 50.0))
        store.set_budget(BudgetEntry(Scope.TEAM, "ml", 500.0))
        store.set_budget(BudgetEntry(Scope.OWNER, "AIDAALICE", 60.0))
        assert sorted((e.scope.value, e.name, e.usd_per_month) for e in store.load_budgets()) == [
            ("OWNER", "AIDAALICE", 60.0),
            ("TEAM", "ml", 500.0),
        ]

    def meter_of(self, store: SupervisionStore, instance_id: str = "i-0001") -> MeterRecord:
        meters = [MeterRecord.from_item(i) for i in store.meter_items()]
        return next(m for m in meters if m.instance_id == instance_id)

    def test_accrual_creates_the_meter_and_is_written_once(self, store: SupervisionStore) -> None:
        m = meter(price=Price(2.0, PriceSource.TABLE))
        plan = plan_accrual(m, T0 + 3600, True)
        assert plan is not None
        first = store.apply_accruals([plan], T0 + 3600)
        assert first.applied == [plan] and not first.conflicts
        retry = store.apply_accruals([plan], T0 + 3600)  # a retry of the same write
        assert retry.conflicts == [plan] and not retry.applied
        got = self.meter_of(store)
        assert got == m.replace(accrued_until=T0 + 3600, accrued_usd=pytest.approx(2.0))
        assert ledger_of(store) == pytest.approx({(Scope.OWNER, "AIDAALICE"): 2.0, (Scope.TEAM, "ml"): 2.0})

    def test_concurrent_plans_from_the_same_read_count_once(self, store: SupervisionStore) -> None:
        m = meter(price=Price(60.0, PriceSource.TABLE), accrued_until=T0)
        first = plan_accrual(meter(price=Price(60.0, PriceSource.TABLE)), T0, True)
        assert first and store.apply_accruals([first], T0).applied == [first]
        early, late = plan_accrual(m, T0 + 60, True), plan_accrual(m, T0 + 120, True)
        assert early and late
        assert store.apply_accruals([early], T0 + 60).applied == [early]
        assert store.apply_accruals([late], T0 + 120).conflicts == [late]  # read before early was written
        assert ledger_of(store)[(Scope.OWNER, "AIDAALICE")] == pytest.approx(1.0)
        fresh = self.meter_of(store)
        nxt = plan_accrual(fresh, T0 + 120, True)
        assert nxt and store.apply_accruals([nxt], T0 + 120).applied == [nxt]
        assert ledger_of(store)[(Scope.TEAM, "ml")] == pytest.approx(2.0)

    def test_conflicting_rows_do_not_block_their_batch(self, store: SupervisionStore) -> None:
        meters = [meter(f"i-{n:04d}", owner=f"AIDA{n % 3}", price=Price(1.0, PriceSource.TABLE)) for n in range(150)]
        plans = [plan_accrual(m, T0 + 3600, True) for m in meters]
        store.apply_accruals([plans[7], plans[120]], T0 + 3600)  # someone else charged two of them
        outcome = store.apply_accruals([p for p in plans if p], T0 + 3600)
        assert len(outcome.applied) == 148 and {a.instance_id for a in outcome.conflicts} == {"i-0007", "i-0120"}
        assert ledger_of(store)[(Scope.TEAM, "ml")] == pytest.approx(150.0)

    def test_a_meter_is_deleted_only_as_it_was_read(self, store: SupervisionStore) -> None:
        plan = plan_accrual(meter(), T0 + 60, True)
        assert plan and store.apply_accruals([plan], T0 + 60).applied == [plan]
        stale = meter()  # read before the charge: its cursor is gone
        assert not store.delete_meter(stale)
        assert store.delete_meter(self.meter_of(store))
        assert store.meter_items() == []

    def test_live_rows(self, store: SupervisionStore) -> None:
        store.create_instance(row("i-1"))
        store.create_instance(row("i-2", state=InstanceState.CLOSED))
        store.create_instance(row("i-3", state=InstanceState.TERMINATING))
        store.put_job(job("i-1", "open", max_time_s=60.0))
        store.put_job(job("i-1", "uncapped"))  # the reaper has nothing to enforce on it: not in the index
        store.put_job(job("i-1", "done", ended_at=T0 + 1, max_time_s=60.0))
        live = store.load_live()
        assert sorted(r.instance_id for r in live.instances) == ["i-1", "i-3"]
        assert [j.job_id for j in live.jobs] == ["open"] and live.malformed == []

    def test_a_row_without_live_is_found_by_key(self, store: SupervisionStore) -> None:
        hidden = row("i-9").to_item()
        del hidden["live"]  # a member may remove it; the reaper asks for the rows of the instances EC2 lists
        self.seed(store, hidden)
        assert store.load_live().instances == []
        assert [r.instance_id for r in store.load_live([(hidden["pk"], hidden["sk"])]).instances] == ["i-9"]

    def test_closing_and_finishing_leave_the_live_index(self, store: SupervisionStore) -> None:
        r = row()
        store.create_instance(r)
        capped = job(max_time_s=60.0)
        store.put_job(capped)
        store.put_job(job(job_id="j2", max_cost_usd=1.0))
        assert len(store.live_keys()) == 3
        store.close_instance(r, "instance-gone", T0 + 10, None)
        store.finish_job(capped, T0 + 11, "exited", 0, None)
        store.close_job(job(job_id="j2", max_cost_usd=1.0), "instance-gone", T0 + 12)
        assert store.live_keys() == []

    def test_mark_terminating_and_close_are_idempotent(self, store: SupervisionStore) -> None:
        r = row()
        store.create_instance(r)
        assert store.mark_terminating(r, "lease-expired", T0 + 400)
        assert store.close_instance(r, "instance-gone", T0 + 500, int(T0) + 1000)
        assert not store.close_instance(r, "instance-gone", T0 + 600, int(T0) + 1000)
        assert not store.mark_terminating(r, "marked", T0 + 700)
        got = store.get_instance(r.owner, r.instance_arn)
        assert got is not None
        assert (got.state, got.reap_reason, got.reaped_at, got.closed_at) == (
            InstanceState.CLOSED, "lease-expired", T0 + 400, T0 + 500)  # fmt: skip
        assert got.expires_at == int(T0) + 1000
        assert not store.mark_terminating(row("i-absent"), "orphan", T0)

    def test_close_job(self, store: SupervisionStore) -> None:
        store.create_instance(row())
        j = job()
        store.put_job(j)
        assert store.close_job(j, "instance-gone", T0 + 5)
        assert not store.close_job(j, "instance-gone", T0 + 6)
        got = store.get_jobs(j.owner, j.instance_arn)[0]
        assert (got.ended_at, got.stop_reason, got.state) == (T0 + 5, "instance-gone", "lost")

    def test_audits_and_heartbeat(self, store: SupervisionStore) -> None:
        assert store.get_heartbeat() is None
        audits = [AuditRecord(T0 + n, f"i-{n}", "terminate", "orphan", "enforce", "r") for n in range(60)]
        store.put_audits(audits)
        beat = ReaperHeartbeat("r", T0, T0 + 1, "enforce", {"seen": 60}, 0)
        store.put_heartbeat(beat)
        assert store.get_heartbeat() == beat
