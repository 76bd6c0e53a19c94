"""The reaper's run: read EC2 and the table, accrue, decide, terminate, close, record. No Powertools here.

Order within a run, and why:
1. Describe wb's instances and read the live rows, budgets and ledger. Without EC2 facts or rows nothing
   is decided (an unreadable table must not make every instance look like an orphan).
2. Accrue cost up to `now` (conditional transactions, see `accrual`), so budgets are judged on spend that
   includes this minute.
3. Decide every instance (`decision.decide`), terminate in batches, then mark the rows `terminating`.
4. Close rows whose instance is gone, and their unfinished jobs.
5. Write one audit row per terminate/close decision, and the heartbeat. KEEP decisions are counted.
Each step records its failures and the run goes on; the caller raises if any were recorded.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .accrual import Accrual, pack, plan_accrual
from .budgets import Budgets, Ledger, budget_state
from .clock import SECONDS_PER_DAY, month_of, system_clock
from .config import ReaperSettings
from .decision import Action, Decision, DecisionConfig, InstanceFacts, Reason, decide, decide_missing
from .fleet import Fleet
from .prices import PriceTable, billed_price, load_prices
from .recording import audit_record, parallel, put_audits, put_heartbeat
from .records import InstanceRecord, JobRecord
from .report import DecisionRecord, RunReport
from .schema import Scope
from .store import SupervisionStore

if TYPE_CHECKING:
    from .clock import Clock

T = TypeVar("T")

FUTURE_SKEW_S = 300.0  # an accrued_until further ahead than this was not written by a reaper


@dataclass(frozen=True)
class Verdict:
    """One instance's decision, with what it was made from."""

    facts: InstanceFacts
    row: InstanceRecord | None
    decision: Decision
    owner: str
    team: str


class Reaper:
    """One reaper, reusable across runs (a warm Lambda keeps it). Safe to run beside another reaper."""

    def __init__(
        self,
        settings: ReaperSettings,
        store: SupervisionStore,
        fleet: Fleet,
        *,
        prices: PriceTable | None = None,
        clock: Clock = system_clock,
        logger: Any | None = None,
    ) -> None:
        import logging

        self.settings = settings
        self.store = store
        self.fleet = fleet
        self.prices = prices or load_prices()
        self.clock = clock
        self.log = logger or logging.getLogger(__name__)
        max_lifetime_s = None if settings.max_hours is None else settings.max_hours * 3600.0
        self.config = DecisionConfig(
            settings.orphan_grace_s, settings.job_cap_grace_s, settings.team_name, max_lifetime_s
        )

    def run(self, now: float | None = None) -> RunReport:
        """One pass over everything; `now` defaults to the clock. Failures are in the report, not raised."""
        began = self.clock()
        now = began if now is None else now
        report = RunReport(uuid.uuid4().hex[:12], self.settings.mode.value, started_at=now)
        try:
            self._run(report, now)
        finally:
            report.finished_at = now + (self.clock() - began)
            put_heartbeat(self.store, report)
        return report

    # --- steps ---------------------------------------------------------------------------------------

    def _run(self, report: RunReport, now: float) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:  # EC2 and the table are read side by side
            described = pool.submit(report.timed, "describe", self.fleet.describe_managed)
            loaded = pool.submit(report.timed, "load", self.store.load_live)
        try:
            instances = described.result()
        except Exception as exc:
            report.fail("describe", "run", exc)
            return
        try:
            live = loaded.result()
        except Exception as exc:
            report.fail("load", "run", exc)
            return
        report.seen, report.rows = len(instances), len(live.instances)
        for problem in live.malformed:
            report.fail("load", "item", problem)
        budgets, ledger = report.timed("budgets", self._budgets, report, now)
        # A row counts only under the owner EC2's wb:owner tag names: members may write any row under their
        # own owner prefix, so a row for someone else's instance must not mark or keep it.
        rows = {(row.owner, row.instance_id): row for row in live.instances}
        jobs: dict[str, list[JobRecord]] = defaultdict(list)
        for job in live.jobs:
            jobs[job.pk].append(job)
        prices = report.timed("accrue", self._accrue, report, instances, rows, ledger, now)
        decided: list[Verdict] = []
        for facts in instances:
            row = rows.get((facts.owner, facts.instance_id))
            owner = facts.owner
            team = self._team(row, facts)
            budget = budget_state(budgets, ledger, owner, team)
            decision = decide(
                facts, row, jobs[row.pk] if row else [], budget, now, self.config, prices.get(facts.instance_id)
            )
            decided.append(Verdict(facts, row, decision, owner, team))
        report.timed("terminate", self._terminate, report, decided, now)
        present = {(facts.owner, facts.instance_id) for facts in instances}
        missing = [r for r in live.instances if (r.owner, r.instance_id) not in present]
        report.timed("close", self._close, report, missing, jobs, now)

    def _team(self, row: InstanceRecord | None, facts: InstanceFacts | None) -> str:
        if row is not None and row.team:
            return row.team
        return facts.team(self.settings.team_name) if facts is not None else self.settings.team_name

    def _budgets(self, report: RunReport, now: float) -> tuple[Budgets, Ledger]:
        month = month_of(now)
        try:
            entries = self.store.load_budgets()
            ledger = Ledger.from_entries(month, self.store.load_ledger(month))
        except Exception as exc:
            report.fail("budgets", month, exc)
            return Budgets(), Ledger(month)  # no budget terminations on a run that cannot read budgets
        defaults = (self.settings.default_owner_budget_usd, self.settings.team_budget_usd)
        return Budgets.from_entries(entries, *defaults), ledger

    def _accrue(
        self,
        report: RunReport,
        instances: Sequence[InstanceFacts],
        rows: dict[tuple[str, str], InstanceRecord],
        ledger: Ledger,
        now: float,
    ) -> dict[str, float]:
        """Charge every matched row up to `now`; returns instance id -> hourly price for the decisions."""
        prices: dict[str, float] = {}
        plans: list[Accrual] = []
        for facts in instances:
            row = rows.get((facts.owner, facts.instance_id))
            if row is None:
                continue
            if row.accrued_until is not None and row.accrued_until > now + FUTURE_SKEW_S:
                report.fail("accrue", facts.instance_id, f"accrued_until {row.accrued_until} is in the future")
            try:
                kind = facts.instance_type or row.instance_type
                price = billed_price(row.price_usd_hour, facts.region, kind, facts.spot, self.prices)
            except Exception as exc:
                report.fail("price", facts.instance_id, exc)
                continue
            prices[facts.instance_id] = price
            plan = plan_accrual(row, now, price, facts.billed, self._team(row, facts))
            if plan is not None:
                plans.append(plan)
        if self.settings.dry_run:
            applied = plans  # counted toward budgets, written nowhere
        else:
            applied = []
            for batch in pack(plans):  # sequential: batches share ledger rows, parallel would conflict
                try:
                    outcome = self.store.apply_accruals(batch, now)
                except Exception as exc:
                    report.fail("accrue", f"{len(batch)} rows", exc)
                    continue
                applied.extend(outcome.applied)
                report.accrual_conflicts += len(outcome.conflicts)
                for accrual, message in outcome.failed:
                    report.fail("accrue", accrual.instance_id, message)
        for accrual in applied:
            for month, usd in accrual.by_month:
                if month == ledger.month:
                    ledger.add(Scope.OWNER, accrual.owner, usd)
                    ledger.add(Scope.TEAM, accrual.team, usd)
        report.accrued_rows = len(applied)
        report.accrued_usd = sum(a.usd for a in applied)
        return prices

    def _terminate(self, report: RunReport, decided: list[Verdict], now: float) -> None:
        doomed = [v for v in decided if v.decision.terminate]
        acknowledged: set[str] = set()
        if doomed and not self.settings.dry_run:
            outcome = self.fleet.terminate([v.facts for v in doomed], self.settings.terminate_batch_size)
            report.terminate_calls = outcome.calls
            acknowledged = set(outcome.terminated)
            for instance_id, message in sorted(outcome.failed.items()):
                report.fail("terminate", instance_id, message)
            for instance_id in outcome.refused:
                report.fail("terminate", instance_id, "refused: not tagged wb:managed")
        audits = []
        for v in decided:
            instance_id, decision = v.facts.instance_id, v.decision
            applied = instance_id in acknowledged
            report.decisions.append(
                DecisionRecord(instance_id, v.owner, v.team, decision.action, decision.reason, decision.detail, applied)
            )
            if decision.terminate:
                self.log.info(
                    "terminate" if applied else "would terminate" if self.settings.dry_run else "terminate failed",
                    extra={
                        "instance_id": instance_id,
                        "reason": decision.reason.value,
                        "owner": v.owner,
                        "detail": decision.detail,
                        "mode": self.settings.mode.value,
                    },
                )
                audits.append(
                    audit_record(
                        self.settings, report, now, instance_id, decision, v.owner, v.team, v.facts, v.row, applied
                    )
                )
        marked = [v for v in doomed if v.row is not None and v.facts.instance_id in acknowledged]
        self._parallel(
            report,
            "row",
            marked,
            lambda v: self.store.mark_terminating(v.row, v.decision.reason.value, now) if v.row else False,
            lambda v: v.facts.instance_id,
        )
        put_audits(self.store, report, audits, self.settings.write_concurrency)

    def _close(
        self, report: RunReport, missing: list[InstanceRecord], jobs: dict[str, list[JobRecord]], now: float
    ) -> None:
        to_close = [(row, decide_missing(row, now, self.config)) for row in missing]
        to_close = [(row, d) for row, d in to_close if d.action is Action.CLOSE]
        expires = int(now + self.settings.closed_row_ttl_days * SECONDS_PER_DAY)
        closed: set[str] = set()
        if not self.settings.dry_run:
            results = self._parallel(
                report,
                "close",
                to_close,
                lambda item: self.store.close_instance(item[0], Reason.INSTANCE_GONE.value, now, expires),
                lambda item: item[0].instance_id,
            )
            closed = {row.instance_id for (row, _), ok in zip(to_close, results) if ok}  # noqa: B905
            open_jobs = [job for row, _ in to_close for job in jobs.get(row.pk, [])]
            done = self._parallel(
                report,
                "close",
                open_jobs,
                lambda job: self.store.close_job(job, Reason.INSTANCE_GONE.value, now),
                lambda job: f"{job.instance_id}/{job.job_id}",
            )
            report.jobs_closed = sum(1 for ok in done if ok)
        audits = []
        for row, decision in to_close:
            is_closed = row.instance_id in closed
            record = DecisionRecord(
                row.instance_id, row.owner, row.team, decision.action, decision.reason, decision.detail, is_closed
            )
            report.decisions.append(record)
            args = (row.instance_id, decision, row.owner, row.team, None, row, is_closed)
            audits.append(audit_record(self.settings, report, now, *args))
        put_audits(self.store, report, audits, self.settings.write_concurrency)

    def _parallel(
        self, report: RunReport, stage: str, items: Sequence[T], work: Callable[[T], bool], name: Callable[[T], str]
    ) -> list[bool]:
        return parallel(report, stage, items, work, name, self.settings.write_concurrency)
