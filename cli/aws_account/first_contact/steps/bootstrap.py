"""Deploy the run's own stack with `wb bootstrap`'s code, then see its table, its reaper function, and the
reaper's first run (its REAPER/LAST_RUN row): EventBridge fires it, Lambda runs it, it reaches the table.

The stack's settings keep the run cheap and bounded: short leases, the reaper every minute, a lifetime cap
just above the run's own deadlines, and owner and team budgets equal to the spending cap, so that even if
this computer dies mid-run the reaper ends the machines before they cost more than the cap.
"""

from __future__ import annotations

from ...deploy import apply
from ...doctor import check_reaper, check_table
from ...plan import BootstrapRequest, prepare
from ..context import RunContext, StepFailed

SCHEDULE = "rate(1 minute)"  # EventBridge's shortest; `Timing.period_s` counts with it
FIRST_RUN_SLACK_S = 60.0  # Lambda's cold start and the first schedule tick


def request(ctx: RunContext) -> BootstrapRequest:
    pre, names = ctx.preflight, ctx.names
    return BootstrapRequest(
        stack_name=names.stack,
        staging_bucket=names.staging_bucket,
        team=names.team,
        owner_budget=pre.plan.cap_usd,
        team_budget=pre.plan.cap_usd,
        lease_minutes=pre.clients.lease_minutes,
        idle_minutes=pre.clients.idle_minutes,
        max_hours=pre.clients.max_hours,
        reaper_schedule=SCHEDULE,
        reaper_mode="enforce",
        ssh_cidr=pre.ssh_cidr,
        vpc_id=pre.vpc_id,
    )


def run(ctx: RunContext) -> str:
    ctx.say(f"deploying stack {ctx.names.stack} ...")
    deployment = prepare(ctx.aws, request(ctx))
    outcome = apply(deployment, ctx.aws, ctx.sink, ctx.say)
    if outcome.stack is None:
        raise StepFailed(f"stack {ctx.names.stack} was not deployed ({outcome.action})")
    ctx.stack = outcome.stack
    for check in (check_table(ctx.aws, outcome.stack), check_reaper(ctx.aws, outcome.stack)):
        if not check.ok:
            raise StepFailed(f"{check.name}: {check.detail}")
    timing = ctx.plan.timing
    ctx.say("waiting for the reaper's first run ...")
    ctx.wait_until(ctx.observe_reaper, 2 * timing.period_s + FIRST_RUN_SLACK_S, "the reaper's first run")
    return f"stack {outcome.stack.name} {outcome.action}; the reaper ran (took {ctx.reaper_run_s:.1f} s)"
