"""The client dies: a `wb run` on the warm machine is killed (SIGKILL) once its job has started. The job
outlives its client, as designed, until its `--max-time`; then the machine idles, and when its last lease
lapses the agent powers it off or the reaper terminates it. Measured: how long it was billed past that last
lease, against the bound of a lease plus a reaper period (plus the reaper's own run time and one poll)."""

from __future__ import annotations

from ..context import RunContext, StepFailed
from ..report import Fault
from .runs import WARM_MACHINE, StepOutcome, ended_by, start_job, wait_ended


def run(ctx: RunContext) -> StepOutcome:
    timing = ctx.plan.timing
    warm = str(ctx.facts[WARM_MACHINE])
    ctx.say(f"client killed: a job on {warm}, then kill -9 of its wb run ...")
    client, instance_id = start_job(ctx, "killed", timing.run_s, "--max-time", f"{timing.job_cap_s:g}s")
    killed_at = client.kill()
    if instance_id != warm:
        raise StepFailed(f"the job ran on {instance_id}, not on the warm {warm}")
    ctx.say(f"client killed; waiting for {instance_id} to end (job cap {timing.job_cap_s:g} s, then its leases) ...")
    ended_at = wait_ended(ctx, instance_id, timing.kill_wait_s, f"{instance_id} to end after its client was killed")
    row = ctx.row(instance_id)
    if row is None:
        raise StepFailed(f"{instance_id} has no row in the stack's table")
    fault = Fault(instance_id, "its last lease", row.lease_until, ended_at, ctx.bound_s(), ended_by(row), killed_at)
    detail = (
        f"{instance_id} ended {fault.after_fault_s:.1f} s after its client was killed, {fault.overspend_s:+.1f} s "
        f"past its last lease (bound {fault.bound_s:.1f} s), by {fault.ended_by}"
    )
    return StepOutcome(detail, fault, ok=fault.within_bound)
