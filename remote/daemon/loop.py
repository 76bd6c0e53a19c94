"""The daemon's pass: observe (jobs, row, job rows), decide (`daemon.decide.decide`), act, remember.

Acting: power off (outputs pushed first, within WB_PUSH_DEADLINE_S), stop jobs over their cost cap, write
the lease, heartbeat running job rows, close the rows of ended jobs and push their outputs, re-arm the
dead-man timer when the row's lease moved, and push everything once on a spot interruption notice.
Every decision is a line in daemon.log. Runs on python3 >= 3.8 with boto3 (aws instances only).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback

from ...lambdas import lease
from ...lambdas.errors import LeaseRefusedError
from ...lambdas.records import InstanceState, JobRow
from . import local_jobs, poweroff
from .decide import Facts, Plan, decide
from .output_duty import OutputDuty
from .state import DaemonLog, DaemonState
from .table import FAILED, TableCalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ...lambdas.records import InstanceRecord
    from ...lambdas.store import SupervisionStore
    from .agent_env import AgentEnv
    from .decide import CostStop, LeaseWrite
    from .local_jobs import LocalJob
    from .protocols import Clock, Metadata, PowerSwitch
    from .s3push import OutputPusher

SIGNALS = (signal.SIGTERM, signal.SIGINT)
WAKE = signal.SIGUSR1  # a job started or ended (jobs.wake_daemon): pass now


def latest_claim(jobs: list[LocalJob]) -> str | None:
    """The claim the newest job on this machine ran under (None: a machine its client launched)."""
    newest = max(jobs, key=lambda job: job.started_at or 0.0, default=None)
    return None if newest is None else newest.meta.claim


class Daemon:
    def __init__(
        self, env: AgentEnv, store: SupervisionStore, pusher: OutputPusher | None, state_path: str, log: DaemonLog,
        *, imds: Metadata | None = None, jobs_root: str | None = None, clock: Clock = time.time,
        power_off: PowerSwitch = poweroff.power_off,
    ) -> None:  # fmt: skip
        self.env, self.store, self.pusher, self.log = env, store, pusher, log
        self.state_path, self.imds, self.clock, self.power_off = state_path, imds, clock, power_off
        self.watcher = local_jobs.JobWatcher(jobs_root)
        self.jobs_root = jobs_root
        self.state = DaemonState.load(state_path)
        self.row: InstanceRecord | None = None
        self.row_seen = False
        self.table = TableCalls(store, self.state, log, clock)
        self.outputs = OutputDuty(pusher, self.state, log, clock, env.push_deadline_s, imds, jobs_root)
        self.done = False
        self.attempted = False  # this process has tried the table at least once
        self.lock = threading.Lock()  # one pass, or one claim (daemon.claims), at a time
        self.claims_dir: str | None = None  # serve claims on <dir>/daemon.sock (daemon.claims)
        self.wake_file: str | None = None  # record where jobs.wake_daemon finds this process

    # --- the table -------------------------------------------------------------------------------

    def _read_row(self) -> None:
        self.table.contact_ok = False
        limit = self.state.last_contact + self.env.lease_minutes * 60.0
        if self.attempted and self.clock() >= limit:
            return  # silent for leaseMinutes after trying all along: another slow failing call only adds overspend
        self.attempted = True
        row = self.table.open_pass("read row", self.store.get_instance, self.env.owner, self.env.instance_arn)
        if row is not FAILED:
            self.row, self.row_seen = row, True
            if row is not None:
                self.state.row = {"lease_until": row.lease_until, "max_until": row.max_until,
                                  "state": row.state.value, "mark": row.mark}  # fmt: skip

    def _job_record(self, job: LocalJob) -> JobRow:
        meta = job.meta
        record = JobRow(
            owner=self.env.owner, instance_arn=self.env.instance_arn, job_id=job.job_id, command=meta.command,
            started_at=job.started_at or self.clock(), max_time_s=meta.max_time_s, max_cost_usd=meta.max_cost_usd,
        )  # fmt: skip
        if job.ended:
            record = record.replace(ended_at=job.ended_at or self.clock(), state=job.state, exit_code=job.exit_code,
                                    stop_reason=job.stop_reason)  # fmt: skip
        return record

    def _put_job_row(self, job: LocalJob) -> JobRow | None:
        record = self._job_record(job)
        if self.table.call("write job row", self.store.put_job, record) is FAILED:
            return None
        self.log.write("job-row", job=job.job_id, state=record.state)
        return record

    def _job_rows(self) -> dict[str, JobRow]:
        rows = self.table.call("read job rows", self.store.get_jobs, self.env.owner, self.env.instance_arn)
        return {} if rows is FAILED else {job.job_id: job for job in rows}

    # --- one pass --------------------------------------------------------------------------------

    def one_pass(self) -> float:
        """Observe, decide, act; returns when (epoch) to look again."""
        if self.state.last_contact == 0.0:
            self.state.last_contact = self.clock()  # a fresh start counts as contact: the limit runs from here
        jobs = self.watcher.jobs()
        self.outputs.collect()
        running = [job for job in jobs if job.running]
        unsettled = [job for job in jobs if job.ended and job.job_id not in self.state.finished]
        self._read_row()
        rows = self._job_rows() if self.table.contact_ok and (running or unsettled) else {}
        for job in running:  # a client that claimed through this daemon left the job's row to it
            if self.table.contact_ok and job.job_id not in rows:
                written = self._put_job_row(job)
                if written is not None:
                    rows[job.job_id] = written
        now = self.clock()
        facts = Facts(
            now=now, lease_minutes=self.env.lease_minutes, idle_minutes=self.env.idle_minutes,
            renew_seconds=self.env.renew_seconds, last_contact=self.state.last_contact, row=self.row,
            row_seen=self.row_seen, contact_ok=self.table.contact_ok, running=tuple(j.job_id for j in running),
            was_busy=self.state.busy or bool(unsettled),
            started_at={j.job_id: j.started_at for j in running if j.started_at is not None},
            job_rows={job_id: job for job_id, job in rows.items() if job.running},
            stopping=frozenset(self.state.stopped_jobs),
        )  # fmt: skip
        plan = decide(facts)
        if plan.power_off is not None:
            self.shut_down(plan.power_off.value, plan.detail, jobs)
            return self.clock() + self.env.renew_seconds  # when the power command failed: try again then
        wake_at = plan.wake_at
        for stop in plan.stops:
            self._stop(stop, now)
        if self.table.contact_ok:
            self._settle(unsettled, rows)  # job rows final before the instance shows idle
        if plan.lease is not None and not self._write_lease(plan, bool(running), now, latest_claim(jobs)):
            wake_at = now  # refused: read the row again at once, it will say why
        for job in running:
            if job.job_id in facts.job_rows:
                self.table.call("heartbeat job row", self.store.touch_job, facts.job_rows[job.job_id], now)
        self._record_pushes()
        self._rearm(now)
        self.outputs.request([job for job in jobs if job.ended and job.job_id not in self.state.pushed], now)
        notice = self.outputs.check_spot(jobs, now)
        if notice:
            self._decided(now, "spot-push", notice[:200])
        self.state.running = list(facts.running)
        self.state.last_pass_at = now
        self.state.save(self.state_path)
        return wake_at

    def _write_lease(self, plan: Plan, running: bool, now: float, claim: str | None) -> bool:
        write = plan.lease
        assert write is not None
        if write.state is InstanceState.IDLE:
            return self._release(write, now, claim)
        try:
            # The state is left alone: the claim made the row busy, and a renewal that lands after the client
            # (or this daemon) released the machine must not make it busy again.
            row = self.table.call("renew lease", self.store.renew_lease, self.env.owner, self.env.instance_arn,
                              write.until, now)  # fmt: skip
        except LeaseRefusedError as exc:
            self.log.write("renew-refused", reason=exc.args[0] if exc.args else str(exc))
            self._decided(now, "renew-refused", str(exc))
            return False
        if row is FAILED:
            return True
        self.row = row
        self.state.busy = running
        self._renewed(now, write, row.lease_until)
        return True

    def _release(self, write: LeaseWrite, now: float, claim: str | None) -> bool:
        """Back to the warm pool, only while the row is still under the last job's claim."""
        known = self.row.lease_until if self.row is not None else None
        released = self.table.call("release to idle", self.store.release_instance, self.env.owner,
                               self.env.instance_arn, claim, write.until, now, known)  # fmt: skip
        if released is FAILED:
            return True
        self.state.busy = False  # either way there is nothing more to release
        if not released:
            self.log.write("release-skipped", claim=claim or "-", why="claimed again, marked, or already idle")
            self._decided(now, "release-skipped", "the row is not busy under the last job's claim")
            return False  # read the row again at once
        self._read_row()
        self._renewed(now, write, self.row.lease_until if self.row is not None else write.until)
        return True

    def _renewed(self, now: float, write: LeaseWrite, lease_until: float) -> None:
        self.state.last_renewal = {"at": now, "lease_until": lease_until, "state": write.state.value,
                                   "why": write.why}  # fmt: skip
        self.log.write("renew", state=write.state.value, lease_until=f"{lease_until:.3f}",
                       left=f"{lease_until - now:.1f}s", why=write.why)  # fmt: skip
        self._decided(now, "renew", write.why)

    def _decided(self, now: float, action: str, detail: str) -> None:
        self.state.last_decision = {"at": now, "action": action, "detail": detail}

    def _stop(self, stop: CostStop, now: float) -> None:
        done = local_jobs.stop_job(stop.job_id, "max-cost", self.jobs_root)
        self.state.stopped_jobs[stop.job_id] = {"reason": "max-cost", "at": now, "reached_at": stop.reached_at,
                                                "cost_usd": stop.cost_usd, "cap_usd": stop.cap_usd}  # fmt: skip
        self.log.write("stop-job", job=stop.job_id, reason="max-cost", cost_usd=f"{stop.cost_usd:.6f}",
                       cap_usd=f"{stop.cap_usd:g}", late=f"{now - stop.reached_at:.2f}s", signalled=done)  # fmt: skip
        self._decided(now, "stop-job", f"{stop.job_id}: max-cost")

    def _settle(self, unsettled: list[LocalJob], rows: dict[str, JobRow]) -> None:
        """Close the rows of jobs that ended here (the reaper would otherwise judge their caps forever)."""
        for job in unsettled:
            row = rows.get(job.job_id)
            if row is None:
                if self._put_job_row(job) is None:
                    return
            elif row.running:
                ended_at = job.ended_at or self.clock()
                self.table.call("close job row", self.store.finish_job, row, ended_at, job.state, job.exit_code,
                            job.stop_reason)  # fmt: skip
                if not self.table.contact_ok:
                    return
                self.log.write("job-ended", job=job.job_id, state=job.state, exit_code=job.exit_code,
                               stop_reason=job.stop_reason)  # fmt: skip
            self.state.finished.append(job.job_id)

    def _record_pushes(self) -> None:
        """Put each push's outcome on its job's row, where the client finds it after the machine is gone."""
        for job_id, (at, error) in list(self.outputs.unrecorded.items()):
            args = (self.env.owner, self.env.instance_arn, job_id, at, error)
            if self.table.call("record push", self.store.record_push, *args) is FAILED:
                return
            if error is not None:
                self.log.write("push-failed-recorded", job=job_id)
            del self.outputs.unrecorded[job_id]

    def _rearm(self, now: float) -> None:
        row = self.row
        if row is None or not self.table.contact_ok or self.state.armed.get("lease_until") == row.lease_until:
            return
        seconds = lease.deadman_seconds(now, row.lease_until)
        result = poweroff.arm_deadman(seconds, self.env)
        self.log.write("arm-deadman", seconds=seconds, lease_until=f"{row.lease_until:.3f}",
                       result=result.describe())  # fmt: skip
        if result.ok:
            self.state.armed = {"at": now, "seconds": seconds, "lease_until": row.lease_until, "ok": True}

    # --- ending --------------------------------------------------------------------------------------

    def shut_down(self, reason: str, detail: str, jobs: list[LocalJob]) -> None:
        now = self.clock()
        self.log.write("power-off-decided", reason=reason, detail=detail)
        self._decided(now, "power-off", f"{reason}: {detail}")
        self.outputs.push_all(jobs, "before power-off")
        if self.table.contact_ok:
            self._record_pushes()
        result = self.power_off(reason, self.env)
        self.state.power_off = {"at": self.clock(), "decided_at": now, "reason": reason, "detail": detail,
                                "ok": result.ok}  # fmt: skip
        self.log.write("power-off", reason=reason, result=result.describe())
        self.state.save(self.state_path)
        self.done = result.ok

    def run(self) -> int:
        """Pass after pass until powered off or signalled (SIGTERM at system shutdown: push, then exit 0)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, (*SIGNALS, WAKE))  # before any thread starts: they inherit it
        self.outputs.start()
        if self.claims_dir is not None:
            from .claims import ClaimService

            ClaimService(self, self.claims_dir).start()
        if self.wake_file is not None:  # only now: an unblocked SIGUSR1 would end the process
            from ..jobs import wake_daemon

            wake_daemon.record(os.getpid(), self.wake_file)
        self.log.write("start", instance=self.env.instance_id, lease_minutes=self.env.lease_minutes,
                       idle_minutes=self.env.idle_minutes, renew_seconds=self.env.renew_seconds)  # fmt: skip
        while not self.done:
            try:
                with self.lock:
                    wake_at = self.one_pass()
            except Exception:  # a bug must not disarm the switch: log it, keep the control-plane limit
                self.log.write("pass-failed", error=traceback.format_exc().replace("\n", " | ")[-1500:])
                if self.clock() - self.state.last_contact >= self.env.lease_minutes * 60.0:
                    self.shut_down(lease.PowerOff.CONTROL_PLANE_LOST.value, "passes failing", [])
                wake_at = self.clock() + self.env.renew_seconds
            if self.done:
                break
            received = signal.sigtimedwait((*SIGNALS, WAKE), max(0.0, wake_at - self.clock()))
            if received is not None and received.si_signo != WAKE:
                self.log.write("signalled", signal=signal.Signals(received.si_signo).name)
                self.outputs.push_all(self.watcher.jobs(), "on shutdown")
                if self.table.contact_ok:
                    with self.lock:
                        self._record_pushes()
                self.state.save(self.state_path)
                return 0
        return 0
