"""wb costs [--month YYYY-MM] [--all] [--json]"""

from __future__ import annotations

import click

from ..app import App


def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    year, _, month = value.partition("-")
    if len(value) != 7 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        raise click.BadParameter(f"{value!r} is not a month; write YYYY-MM, e.g. 2026-11")
    return value


@click.command()
@click.option("--month", callback=_month, metavar="YYYY-MM", help="Calendar month, UTC (default: this one).")
@click.option("--all", "everyone", is_flag=True, help="Every owner, and the team's total.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--region", help="AWS region of the stack (default: provisioner.region, then the AWS chain).")
@click.pass_obj
def command(app: App, month: str | None, everyone: bool, as_json: bool, region: str | None) -> int:
    """The month's estimated spend from the ledger: mine (by aws:userid), or everyone's with --all."""
    from weatherballoon.lambdas.clock import month_of, system_clock

    from ..aws_account.ledger import month_report, open_store
    from ..aws_account.session import session_for, stack_name_for
    from ..aws_account.stack import require_stack
    from ..render.money import format_usd_or
    from ..render.table import print_json, print_table

    aws = session_for(app, region=region)
    me = aws.identity()
    stack = require_stack(aws.client("cloudformation"), aws.region, stack_name_for(app))
    report = month_report(open_store(aws, stack), stack, month or month_of(system_clock()))
    lines = report.owners if everyone else [report.owner(me.user_id)]
    teams = report.teams if everyone else []
    if as_json:
        print_json(
            {"month": report.month, "owners": [s.as_json() for s in lines], "teams": [s.as_json() for s in teams]}
        )
        return 0

    def usd(value: float | None) -> str | None:
        return format_usd_or(value, None)

    rows = [
        [s.name + (" (me)" if s.name == me.user_id else ""), usd(s.spent), usd(s.limit), usd(s.left)] for s in lines
    ]
    rows += [[f"team {s.name}", usd(s.spent), usd(s.limit), usd(s.left)] for s in teams]
    print_table(["OWNER", "SPENT", "BUDGET", "LEFT"], rows, title=f"estimated spend, {report.month} (UTC)")
    if everyone and not report.owners:
        app.say(f"no spend recorded in {report.month}")
    return 0
