"""The reaper's run: read EC2 and the table, meter, decide, terminate, close, record. No Powertools here.

Order within a run, and why:
1. Describe wb's instances (beside it, read the live-index keys and the meters), then fetch the rows by key:
   the row of every instance EC2 lists, every row in the live index, the budgets and this month's ledger.
   Nothing else of the table is read, so a run costs the same whatever its history. Without EC2 facts or
   rows nothing is decided (an unreadable table must not make every instance look like an orphan).
2. Meter and accrue cost up to `now` (`metering`, `accrual`), so budgets are judged on spend that includes
   this minute. Price, lifetime start and the accrual cursor come from the meters, never from a row.
3. Decide every instance (`decision.decide`), then end the rest of every gang one of whose members ends
   (`gang.gang_ends`: a second pass over the KEEPs); set kept volumes to be deleted on termination; terminate in
   batches (lifting termination protection where EC2 refuses for it); mark the rows `terminating`.
4. Close rows whose instance is gone, their unfinished jobs, and their meters.
5. Write one audit row per terminate/close decision, and the heartbeat. KEEP decisions are counted.
Each step records its failures and the run goes on; the caller raises if any were recorded.

Trust: a member writes their own rows, so a row only ever asks for less (an earlier `max_until`, a lease a
renewal set); who pays (`wb:owner`, `wb:team`), how much (the meter's price) and since when (the meter's
lifetime start) come from EC2 and the reaper's own meters.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from . import schema
from .accrual import Accrual, pack, plan_accrual
from .budgets import Budgets, Ledger, budget_state
from .clock import SECONDS_PER_DAY, month_of, system_clock
from .config import ReaperSettings
from .decision import Action, Decision, DecisionConfig, InstanceFacts, Reason, decide, decide_missing
from .errors import FleetError
from .fleet import Fleet
from .gang import ROW_GANG, Member, gang_ends
from .meter import MeterRecord
from .metering import current_meters, gone_meters
from .prices import PriceTable, load_prices
from .recording import audit_record, parallel, put_audits, put_heartbeat
from .records import InstanceRecord, JobRow
from .report import DecisionRecord, RunReport
from .schema import Scope
from .store import LiveRows, SupervisionStore

if TYPE_CHECKING:
    from .clock import Clock

T = TypeVar("T")


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
        with ThreadPoolExecutor(max_workers=3) as pool:  # EC2, the live index and the meters side by side
            described = pool.submit(report.timed, "describe", self.fleet.describe_managed)
            indexed = pool.submit(report.timed, "load", self.store.live_keys)
            metered = pool.submit(report.timed, "load", self.store.meter_items)
        try:
            instances = described.result()
        except Exception as exc:
            report.fail("describe", "run", exc)
            return
        try:
            live = report.timed("load", self._load, instances, indexed.result(), metered.result())
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
        jobs: dict[str, list[JobRow]] = defaultdict(list)
        for job in live.jobs:
            jobs[job.pk].append(job)
        known = {meter.instance_arn: meter for meter in live.meters}
        meters = current_meters(
            instances, known, now=now, table=self.prices, fleet=self.fleet, default_team=self.settings.team_name,
            report=report,
        )  # fmt: skip
        report.timed("accrue", self._accrue, report, instances, meters, ledger, now)
        decided: list[Verdict] = []
        for facts in instances:
            row = rows.get((facts.owner, facts.instance_id))
            meter = meters[facts.arn]
            team = facts.team(self.settings.team_name)
            budget = budget_state(budgets, ledger, facts.owner, team)
            decision = decide(
                facts, row, jobs[row.pk] if row else [], budget, now, self.config,
                price_usd_hour=meter.price_usd_hour, lifetime_start=meter.lifetime_start,
            )  # fmt: skip
            decided.append(Verdict(facts, row, decision, facts.owner, team))
        present = {(facts.owner, facts.instance_id) for facts in instances}
        missing = [r for r in live.instances if (r.owner, r.instance_id) not in present]
        seen_before = {meter.instance_arn for meter in live.meters}
        decided = self._end_broken_gangs(decided, meters, now, self._departed(missing, seen_before, now))
        report.timed("volumes", self._delete_volumes_on_termination, report, instances)
        report.timed("terminate", self._terminate, report, decided, now)
        gone = gone_meters(live.meters, {facts.arn for facts in instances}, now, self.settings.orphan_grace_s)
        report.timed("close", self._close, report, missing, gone, now)

    def _departed(self, missing: list[InstanceRecord], metered: set[str], now: float) -> list[tuple[str, str, str]]:
        """Gang members whose live row outlived their machine in EC2's listing: seen by the reaper before (a
        meter), or older than the launch grace (so not merely not listed yet)."""
        return [
            (row.owner, str(row.extra[ROW_GANG]), row.instance_id)
            for row in missing
            if not row.closed and row.extra.get(ROW_GANG)
            and (row.instance_arn in metered or now - row.launched_at >= self.config.orphan_grace_s)
        ]  # fmt: skip

    def _end_broken_gangs(
        self, decided: list[Verdict], meters: dict[str, MeterRecord], now: float, departed: list[tuple[str, str, str]]
    ) -> list[Verdict]:
        members = [
            (v.owner, Member(v.facts.instance_id, v.facts.tags, v.facts.state,
                             meters[v.facts.arn].lifetime_start, v.decision.terminate))
            for v in decided
            if v.facts.managed
        ]  # fmt: skip
        ends = gang_ends(members, now, self.config.orphan_grace_s, departed)
        ended = {i: Decision(Action.TERMINATE, Reason.GANG_MEMBER_ENDED, end.detail) for i, end in ends.items()}
        return [
            Verdict(v.facts, v.row, ended[v.facts.instance_id], v.owner, v.team) if v.facts.instance_id in ended else v
            for v in decided
        ]

    def _load(self, instances: Sequence[InstanceFacts], indexed: list[tuple[str, str]], meters: list[Any]) -> LiveRows:
        """Rows by key: those of the instances EC2 lists (a row that lost `live` is still found), and every
        row in the live index (rows whose instance may be gone, capped jobs); plus the meters."""
        wanted = [(schema.instance_pk(f.owner, f.arn), schema.META_SK) for f in instances if f.owner]
        live = LiveRows()
        for item in self.store.get_items(list(dict.fromkeys([*wanted, *indexed]))).values():
            live.add(item)
        for item in meters:
            live.add(item)
        return live

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
        meters: dict[str, MeterRecord],
        ledger: Ledger,
        now: float,
    ) -> None:
        """Charge every instance's meter up to `now`, and add this month's part to `ledger`."""
        plans: list[Accrual] = []
        for facts in instances:
            meter = meters[facts.arn]
            if meter.price.unpriced:
                self.log.warning(
                    "unpriced instance charged at the fallback price",
                    extra={"instance_id": facts.instance_id, "type": facts.instance_type, "region": facts.region,
                           "usd_hour": meter.price_usd_hour},
                )  # fmt: skip
            plan = plan_accrual(meter, now, facts.billed)
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

    def _delete_volumes_on_termination(self, report: RunReport, instances: Sequence[InstanceFacts]) -> None:
        """Volumes launched with DeleteOnTermination=false would outlive the machine and bill on, seen by no
        budget: the reaper sets them to go with it, whichever way it ends."""
        if self.settings.dry_run:
            return
        for facts in instances:
            if not facts.managed or not facts.volumes_kept_on_termination:
                continue
            try:
                self.fleet.delete_volumes_on_termination(facts.instance_id, facts.volumes_kept_on_termination)
                report.volumes_fixed.append(facts.instance_id)
            except FleetError as exc:
                report.fail("volumes", facts.instance_id, exc)

    def _terminate(self, report: RunReport, decided: list[Verdict], now: float) -> None:
        doomed = [v for v in decided if v.decision.terminate]
        acknowledged: set[str] = set()
        if doomed and not self.settings.dry_run:
            outcome = self.fleet.terminate([v.facts for v in doomed], self.settings.terminate_batch_size)
            report.terminate_calls = outcome.calls
            report.unprotected.extend(outcome.unprotected)
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

    def _close(self, report: RunReport, missing: list[InstanceRecord], gone: list[MeterRecord], now: float) -> None:
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
            open_jobs = self._open_jobs(report, [row for row, _ in to_close])
            done = self._parallel(
                report,
                "close",
                open_jobs,
                lambda job: self.store.close_job(job, Reason.INSTANCE_GONE.value, now),
                lambda job: f"{job.instance_id}/{job.job_id}",
            )
            report.jobs_closed = sum(1 for ok in done if ok)
            removed = self._parallel(report, "close", gone, self.store.delete_meter, lambda m: m.instance_id)
            report.meters_closed = sum(1 for ok in removed if ok)
        audits = []
        for row, decision in to_close:
            is_closed = row.instance_id in closed
            record = DecisionRecord(
                row.instance_id, row.owner, row.team, decision.action, decision.reason, decision.detail, is_closed
            )
            report.decisions.append(record)
            args = (row.instance_id, decision, row.owner, row.team, None, row, is_closed)
            audits.append(audit_record(self.settings, report, now, *args))
        for meter in gone:
            self.log.info(
                "meter closed",
                extra={"instance_id": meter.instance_id, "owner": meter.owner, "accrued_usd": meter.accrued_usd,
                       "usd_hour": meter.price_usd_hour, "price_source": meter.price_source},
            )  # fmt: skip
        put_audits(self.store, report, audits, self.settings.write_concurrency)

    def _open_jobs(self, report: RunReport, rows: list[InstanceRecord]) -> list[JobRow]:
        """The unfinished jobs of rows being closed (the live index holds only the capped ones)."""
        jobs: list[JobRow] = []
        for row in rows:
            try:
                jobs.extend(job for job in self.store.get_jobs(row.owner, row.instance_arn) if job.running)
            except Exception as exc:
                report.fail("close", row.instance_id, exc)
        return jobs

    def _parallel(
        self, report: RunReport, stage: str, items: Sequence[T], work: Callable[[T], bool], name: Callable[[T], str]
    ) -> list[bool]:
        return parallel(report, stage, items, work, name, self.settings.write_concurrency)
