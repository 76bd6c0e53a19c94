"""The first `wb run` in the new stack: it launches the cheapest allowed type, syncs the project, runs a tiny
job, streams its output byte-exact and exits with its code; the machine then goes back to the warm pool."""

from __future__ import annotations

from ..context import RunContext, StepFailed
from .runs import WARM_MACHINE, expect, finish, launched, wait_idle

JOB = "cat hello.txt; echo wb-doctor-first-run"


def run(ctx: RunContext) -> str:
    timing = ctx.plan.timing
    ctx.say(f"first run: launching a {ctx.plan.rate.instance_type} (boot can take a few minutes) ...")
    client = finish(ctx, ctx.workspace.start("first run", "run", "--", JOB), timing.boot_s + timing.run_s)
    expect(client, 0, "synced to the machine by wb doctor --live\nwb-doctor-first-run\n")
    instance_id = launched(client)
    if instance_id is None:
        raise StepFailed(f"the first run launched no machine: {client.describe()}")
    machine = next((m for m in ctx.fleet.refresh() if m.instance_id == instance_id), None)
    if machine is None or machine.instance_type != ctx.plan.rate.instance_type:
        raise StepFailed(f"{instance_id} is not a {ctx.plan.rate.instance_type} of this run's stack")
    wait_idle(ctx, instance_id)
    ctx.facts[WARM_MACHINE] = instance_id
    return f"launched {instance_id} ({machine.instance_type}); job output and exit code came back; warm after it"
