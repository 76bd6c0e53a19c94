"""A second `wb run` right after the first: it must take the warm machine, not launch another."""

from __future__ import annotations

from ..context import RunContext, StepFailed
from .runs import WARM_MACHINE, expect, finish, launched, reused, wait_idle


def run(ctx: RunContext) -> str:
    warm = str(ctx.facts[WARM_MACHINE])
    ctx.say(f"reuse: a second run, which should take {warm} ...")
    client = finish(ctx, ctx.workspace.start("reuse", "run", "--", "echo wb-doctor-reuse"), ctx.plan.timing.run_s)
    expect(client, 0, "wb-doctor-reuse\n")
    other = launched(client)
    if other is not None:
        raise StepFailed(f"it launched {other} instead of reusing the warm {warm}")
    if reused(client) != warm:
        raise StepFailed(f"it did not say it reused {warm}: {client.describe()}")
    live = sorted(m.instance_id for m in ctx.fleet.refresh() if m.live)
    if live != [warm]:
        raise StepFailed(f"expected only {warm} running, EC2 shows {', '.join(live) or 'none'}")
    wait_idle(ctx, warm)
    return f"reused {warm} (no second machine); warm again after it"
