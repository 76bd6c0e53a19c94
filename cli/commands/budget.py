"""wb budget show | wb budget set OWNER USD [--team]"""

from __future__ import annotations

import click
from weatherballoon.lambdas.limits import BUDGET_USD

from ..app import App
from ..flag_types import LimitedFloat

ADMIN_HINT = (
    "budgets are written by admins: the AdminPolicyArn policy attached, and your ARN in the stack's "
    "admin list (`wb bootstrap --admin ARN`)"
)


@click.group()
def command() -> None:
    """Show or set monthly budgets (admin)."""


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--region", help="AWS region of the stack.")
@click.pass_obj
def show(app: App, as_json: bool, region: str | None) -> int:
    """Budgets per owner and team (rows and stack defaults), with this month's spend against each."""
    from weatherballoon.lambdas.clock import month_of, system_clock

    from ..aws_account.ledger import month_report, open_store
    from ..aws_account.session import session_for, stack_name_for
    from ..aws_account.stack import require_stack
    from ..render.money import format_usd_or
    from ..render.table import print_json, print_table

    aws = session_for(app, region=region)
    stack = require_stack(aws.client("cloudformation"), aws.region, stack_name_for(app))
    report = month_report(open_store(aws, stack), stack, month_of(system_clock()))
    lines = [*report.teams, *report.owners]
    if as_json:
        print_json({"month": report.month, "budgets": [s.as_json() for s in lines]})
        return 0

    def usd(value: float | None) -> str | None:
        return format_usd_or(value, "none")

    rows = [[s.scope.value.lower(), s.name, usd(s.limit), s.limit_source, usd(s.spent), usd(s.left)] for s in lines]
    rows.append(["owner", "(anyone else)", usd(report.default_owner_limit), "stack default", "-", "-"])
    print_table(["SCOPE", "NAME", "BUDGET", "FROM", f"SPENT {report.month}", "LEFT"], rows, title="monthly budgets")
    return 0


@command.command("set")
@click.argument("owner")
@click.argument("usd", type=LimitedFloat(BUDGET_USD))
@click.option("--team", "is_team", is_flag=True, help="OWNER is a team name, not an owner.")
@click.option("--region", help="AWS region of the stack.")
@click.pass_obj
def set_budget(app: App, owner: str, usd: float, is_team: bool, region: str | None) -> int:
    """Set OWNER's monthly budget to USD. OWNER is an aws:userid (see `wb costs --all`) or a user or
    assumed-role session ARN; with --team, a team name."""
    from weatherballoon.lambdas.budgets import BudgetEntry
    from weatherballoon.lambdas.clock import system_clock
    from weatherballoon.lambdas.schema import Scope

    from ..aws_account.ledger import open_store, table_errors
    from ..aws_account.principal import owner_id
    from ..aws_account.session import session_for, stack_name_for
    from ..aws_account.stack import require_stack
    from ..errors import UsageError
    from ..render.money import format_usd

    aws = session_for(app, region=region)
    me = aws.identity()
    stack = require_stack(aws.client("cloudformation"), aws.region, stack_name_for(app))
    name = owner if is_team else owner_id(aws.client("iam"), owner)
    scope = Scope.TEAM if is_team else Scope.OWNER
    try:
        entry = BudgetEntry(scope, name, usd, updated_at=system_clock(), updated_by=me.arn)
        entry.to_item()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with table_errors(denied_hint=ADMIN_HINT):
        open_store(aws, stack).set_budget(entry)
    amount = format_usd(usd)
    app.say(f"budget of {scope.value.lower()} {name}: {amount} per month (takes effect at the reaper's next run)")
    return 0
