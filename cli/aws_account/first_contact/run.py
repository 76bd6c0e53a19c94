"""The first-contact run, start to end: preflight and plan (refused when its worst case passes the cap), then
each step in order with its deadline, then the teardown, which always runs, then the report.

A failed step ends the run's machines at once (so a failure costs nothing more), and the steps that needed
it are skipped. Stopping for the spending cap, or a Ctrl-C, skips the rest and goes straight to teardown
(a second Ctrl-C stops the teardown too; the report is not written then).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import WbError
from .clients import Workspace
from .context import RunContext, StepFailed
from .fleet import RunFleet
from .meter import SpendingCapReached, spent_usd
from .plan import refuse_over_cap
from .preflight import Options, Preflight, run_preflight
from .report import Report, StepResult
from .steps import bootstrap, budget, client_killed, first_run, reuse
from .steps.runs import StepOutcome
from .teardown import tear_down

if TYPE_CHECKING:
    from ...config.model import WbConfig
    from ..events import EventSink
    from ..session import AwsSession

BOOTSTRAP_DEADLINE_S = 1800.0  # CloudFormation creates the stack in a few minutes; no machine runs meanwhile

StepRun = Callable[[RunContext], "str | StepOutcome"]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepRun
    needs: tuple[str, ...] = ()


STEPS = (
    Step("bootstrap", bootstrap.run),
    Step("first run", first_run.run, ("bootstrap",)),
    Step("reuse", reuse.run, ("first run",)),
    Step("client killed", client_killed.run, ("reuse",)),
    Step("budget", budget.run, ("bootstrap",)),
)


def plan_run(aws: AwsSession, options: Options, user: WbConfig | None, say: Callable[[str], None]) -> Preflight:
    """Preflight and plan; UsageError (nothing created) when the worst case passes the cap."""
    started = time.monotonic()
    preflight = run_preflight(aws, options, user)
    for line in preflight.lines():
        say(line)
    refuse_over_cap(preflight.plan)
    say(f"preflight done in {time.monotonic() - started:.1f} s; the worst case is within the cap")
    return preflight


def run_steps(ctx: RunContext, report: Report) -> None:
    results: dict[str, str] = {}
    for step in STEPS:
        missing = [need for need in step.needs if results.get(need) != "ok"]
        if missing:
            report.steps.append(StepResult(step.name, "skip", 0.0, f"needs {', '.join(missing)}"))
            results[step.name] = "skip"
            continue
        result = run_step(ctx, step)
        report.steps.append(result)
        results[step.name] = result.status
        if not result.ok:
            ended = ctx.fleet.terminate_live()
            if ended:
                ctx.say(f"{step.name} failed: terminated {', '.join(ended)} so that it costs nothing more")


def run_step(ctx: RunContext, step: Step) -> StepResult:
    planned = next((s for s in ctx.plan.steps if s.name == step.name), None)
    budget_s = planned.deadline_s if planned is not None else BOOTSTRAP_DEADLINE_S
    began = time.monotonic()
    ctx.step_deadline_at = began + budget_s
    ctx.say(f"step {step.name} (deadline {budget_s / 60:.1f} min)")
    try:
        outcome = step.run(ctx)
    except StepFailed as exc:
        return StepResult(step.name, "FAIL", time.monotonic() - began, exc.message)
    except SpendingCapReached:
        raise
    except WbError as exc:
        return StepResult(step.name, "FAIL", time.monotonic() - began, exc.render().replace("wb: error: ", ""))
    finally:
        ctx.step_deadline_at = float("inf")
    took = time.monotonic() - began
    if isinstance(outcome, StepOutcome):
        return StepResult(step.name, "ok" if outcome.ok else "FAIL", took, outcome.detail, outcome.fault)
    return StepResult(step.name, "ok", took, outcome)


def first_contact(
    aws: AwsSession,
    preflight: Preflight,
    log_root: Path,
    say: Callable[[str], None],
    sink: EventSink,
    preflight_s: float = 0.0,
) -> Report:
    """Run the steps against the account, tear down whatever happened, and return the report."""
    names = preflight.names
    log_dir = log_root / names.stack
    report = Report(aws.region, preflight.identity.account, names.stack, log_dir, preflight.plan)
    plan = preflight.plan
    summary = f"{plan.rate.describe()}; worst case ${plan.worst_usd:.4f} of the ${plan.cap_usd:g} cap"
    report.steps.append(StepResult("preflight", "ok", preflight_s, summary))
    workspace = Workspace(log_dir, names.project, preflight.clients)
    workspace.create()
    say(f"logs and report: {log_dir}")
    ctx = RunContext(aws, preflight, RunFleet(aws.client("ec2"), names.team), workspace, say, sink)
    started_at = time.time()
    try:
        run_steps(ctx, report)
    except SpendingCapReached as exc:
        report.steps.append(StepResult("spending cap", "FAIL", 0.0, exc.message))
    except KeyboardInterrupt:
        report.steps.append(StepResult("interrupted", "FAIL", 0.0, "Ctrl-C: the run stopped; tearing down"))
    finally:
        say("destroy: removing everything this run made ...")
        began = time.monotonic()
        failed = not all(step.ok for step in report.steps)
        done = tear_down(ctx, failed=failed, started_at=started_at)
        status = "FAIL" if done.leftovers else "ok"
        report.steps.append(StepResult("destroy", status, time.monotonic() - began, done.summary()))
        report.leftovers = done.leftovers
        report.machines = sorted(ctx.fleet.machines.values(), key=lambda m: m.launched_at)
        report.cost_usd = spent_usd(report.machines, preflight.plan.rate, time.time())
        report.save()
    return report
