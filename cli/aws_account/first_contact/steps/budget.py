"""A tiny budget trips: a job on a new machine, then the run's owner gets a budget equal to what it has
spent this month (a `BUDGET` row, as `wb budget set` writes). The reaper's next run ends the machine for
`owner-budget`, and `wb run` exits 124 naming the reason. Measured: time billed after the budget ran out."""

from __future__ import annotations

import math
import time

from weatherballoon.lambdas.budgets import BudgetEntry
from weatherballoon.lambdas.clock import month_of
from weatherballoon.lambdas.schema import Scope

from ...ledger import month_report, table_errors
from ..context import RunContext, StepFailed
from ..report import Fault
from .runs import StepOutcome, ended_by, finish, launched, start_job, wait_ended

REASON = "owner-budget"


def use_up_budget(ctx: RunContext) -> float:
    """Set my budget to what I have spent this month, rounded down: the next accrual passes it."""
    store, me = ctx.store(), ctx.identity
    assert ctx.stack is not None
    spent = month_report(store, ctx.stack, month_of(time.time())).owner(me.user_id).spent
    budget = math.floor(spent * 1e6) / 1e6
    with table_errors():
        store.set_budget(BudgetEntry(Scope.OWNER, me.user_id, budget, updated_at=time.time(), updated_by=me.arn))
    return budget


def run(ctx: RunContext) -> StepOutcome:
    timing = ctx.plan.timing
    ctx.say("budget: a job on a new machine, then a budget it has already spent ...")
    cap = f"{timing.trip_wait_s + timing.run_s:g}s"  # a backstop: the budget must end it well before this
    client, instance_id = start_job(ctx, "budget", timing.boot_s + timing.run_s, "--fresh", "--max-time", cap)
    if launched(client) != instance_id:
        raise StepFailed(f"`wb run --fresh` did not launch a new machine: {client.describe()}")
    budget = use_up_budget(ctx)
    set_at = time.time()
    ctx.say(f"owner budget set to ${budget:g}; waiting for the reaper to end {instance_id} ...")
    finish(ctx, client, timing.trip_wait_s)
    ended_at = wait_ended(ctx, instance_id, timing.end_s, f"{instance_id} to end for the budget")
    row = ctx.row(instance_id)
    reason = row.reap_reason if row is not None else None
    fault = Fault(instance_id, "the moment the budget ran out", set_at, ended_at, ctx.bound_s(), ended_by(row), set_at)
    problems = []
    if client.returncode != 124:
        problems.append(f"`wb run` exited {client.returncode}, not 124")
    if REASON not in client.stderr:
        problems.append(f"`wb run` did not name {REASON}: {client.describe()}")
    if reason != REASON:
        problems.append(f"the row's reason is {reason!r}, not {REASON}")
    detail = (
        f"{instance_id} ended {fault.overspend_s:+.1f} s after the budget ran out (bound {fault.bound_s:.1f} s), "
        f"by {fault.ended_by}; `wb run` exited {client.returncode} naming {REASON if REASON in client.stderr else '?'}"
    )
    if problems:
        detail += "; " + "; ".join(problems)
    return StepOutcome(detail, fault, ok=fault.within_bound and not problems)
