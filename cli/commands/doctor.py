"""wb doctor"""

from __future__ import annotations

import click

from ..app import App


@click.command()
@click.option("--region", help="AWS region of the stack (default: provisioner.region, then the AWS chain).")
@click.pass_obj
def command(app: App, region: str | None) -> int:
    """Check credentials, the stack and its version, the table, the reaper and its last run, and that I
    have the member policy. Exit 0 when every check passes, 1 otherwise."""
    import time
    from importlib.metadata import version

    from ..aws.doctor import Check, run_checks
    from ..aws.session import session_for

    colors = {"ok": "green", "FAIL": "red", "warn": "yellow", "skip": "bright_black"}

    def report(check: Check) -> None:
        label = click.style(f"{check.label:<5}", fg=colors[check.label], bold=True)
        click.echo(f"{label} {check.name:<14} {check.detail}")
        if check.fix and check.ok is not True and not check.skipped:
            click.echo(f"      {'':<14} fix: {check.fix}")

    aws = session_for(app, region=region)
    results = run_checks(aws, client_version=version("weatherballoon"), now=time.time(), report=report)
    failed = [c.name for c in results if c.failed]
    if failed:
        app.warn(f"{len(failed)} check(s) failed: {', '.join(failed)}")  # the verdict, even with --quiet
        return 1
    return 0
