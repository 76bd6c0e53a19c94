"""wb doctor [--region R] | wb doctor --live --spend-up-to USD [--region R] [--vpc-id VPC] [--ssh-cidr CIDR] ..."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from ..app import App

LIVE_ONLY = ("--vpc-id", "--ssh-cidr", "--lease-minutes", "--idle-minutes")


@click.command()
@click.option("--region", help="AWS region of the stack (default: provisioner.region, then the AWS chain).")
@click.option("--live", is_flag=True, help="Run a capped first-contact lifecycle in the account (see docs/aws.md).")
@click.option("--spend-up-to", type=click.FloatRange(min=0, min_open=True), metavar="USD",
              help="--live: the hard cap on the run's cost; it will not start if its worst case is more.")  # fmt: skip
@click.option("--vpc-id", envvar="WB_VPC_ID", metavar="VPC",
              help="--live: VPC of its stack (default: the default VPC).")  # fmt: skip
@click.option("--ssh-cidr", metavar="CIDR",
              help="--live: who may reach its machines on port 22 (default: this computer's public IP, or the VPC's "
              "range with connect private-ip).")  # fmt: skip
@click.option("--lease-minutes", type=click.FloatRange(min=0.1), metavar="M",
              help="--live: its stack's lease (default 1; shorter makes it faster).")  # fmt: skip
@click.option("--idle-minutes", type=click.FloatRange(min=0.1), metavar="M",
              help="--live: its stack's warm window (default 1; the reuse check runs within it).")  # fmt: skip
@click.pass_obj
def command(
    app: App,
    region: str | None,
    live: bool,
    spend_up_to: float | None,
    vpc_id: str | None,
    ssh_cidr: str | None,
    lease_minutes: float | None,
    idle_minutes: float | None,
) -> int:
    """Check credentials, the stack and its version, the table, the reaper and its last run, and that I
    have the member policy. Exit 0 when every check passes, 1 otherwise.

    With --live --spend-up-to USD: deploy a throwaway stack, run a job on the cheapest allowed type, check
    reuse, kill a client, trip a budget, remove it all, and report each step, the measured overspend and the
    estimated cost. Exit 0 only when every step passed.
    """
    from ..errors import UsageError

    if live:
        if spend_up_to is None:
            raise UsageError("--live needs a spending cap: --spend-up-to USD (for example --spend-up-to 0.10)")
        return _live(app, region, spend_up_to, vpc_id, ssh_cidr, lease_minutes or 1.0, idle_minutes or 1.0)
    source = click.get_current_context().get_parameter_source
    given = [flag for flag, name in zip(LIVE_ONLY, ("vpc_id", "ssh_cidr", "lease_minutes", "idle_minutes"), strict=True)
             if source(name) is click.core.ParameterSource.COMMANDLINE]  # fmt: skip
    if spend_up_to is not None:
        given.insert(0, "--spend-up-to")
    if given:
        raise UsageError(f"{', '.join(given)}: only with --live", hint="wb doctor --live --spend-up-to USD ...")
    return _checks(app, region)


def _live(
    app: App, region: str | None, cap: float, vpc_id: str | None, ssh_cidr: str | None, lease: float, idle: float
) -> int:
    import os
    import sys
    import time
    from pathlib import Path

    from ..aws_account.first_contact.preflight import Options
    from ..aws_account.first_contact.run import first_contact, plan_run
    from ..aws_account.progress import StackProgress
    from ..aws_account.session import session_for
    from ..config.loader import find_config_file
    from ..paths import private_dir

    aws = session_for(app, region=region)
    in_reach = find_config_file(app.cwd or Path.cwd(), os.environ) is not None or os.environ.get("WB_KIND")
    user = app.config().config if in_reach else None  # how this user reaches machines: connect, login, AMI
    options = Options(cap_usd=cap, lease_minutes=lease, idle_minutes=idle, vpc_id=vpc_id, ssh_cidr=ssh_cidr)

    def say(text: str) -> None:
        app.say(f"doctor: {text}")

    began = time.monotonic()
    preflight = plan_run(aws, options, user, say)
    progress = StackProgress(quiet=app.quiet)
    try:
        with _stopped_like_ctrl_c():
            report = first_contact(aws, preflight, private_dir("doctor"), say, progress, time.monotonic() - began)
    finally:
        progress.close()
    sys.stdout.write("\n".join(report.lines()) + "\n")
    return 0 if report.passed else 1


@contextlib.contextmanager
def _stopped_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (and SIGHUP: the terminal closed) stop the run as Ctrl-C does, so its teardown still runs."""
    import signal

    def interrupt(_signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, interrupt) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _checks(app: App, region: str | None) -> int:
    import time
    from importlib.metadata import version

    from ..aws_account.doctor import Check, run_checks
    from ..aws_account.session import session_for

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
