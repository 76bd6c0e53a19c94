"""wb bootstrap [--region R] [--user-budget USD] [--team-budget USD] ... [--create-spot-role] [--dry-run]
[--destroy] [--yes]"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click
from weatherballoon.lambdas import limits

from ..app import App
from ..flag_types import LimitedFloat

if TYPE_CHECKING:
    from ..aws_account.plan import Deployment
    from ..aws_account.session import AwsSession


def _types(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise click.BadParameter("name at least one instance type", param_hint="--allowed-types")
    return names


@click.command()
@click.option("--region", help="AWS region (default: provisioner.region, then the AWS chain).")
@click.option("--user-budget", type=LimitedFloat(limits.BUDGET_USD), metavar="USD", help="Monthly budget per owner.")
@click.option("--team-budget", type=LimitedFloat(limits.BUDGET_USD), metavar="USD", help="Monthly budget of the team.")
@click.option("--team", metavar="NAME", help="Team name (the wb:team tag members launch with).")
@click.option("--allowed-types", metavar="LIST", help="Comma-separated instance types members may launch (g5.* ok).")
@click.option("--admin", "admins", multiple=True, metavar="ARN", help="Admin principal ARN (repeatable; replaces).")
@click.option("--lease-minutes", type=LimitedFloat(limits.LEASE_MINUTES), help="Default lease horizon.")
@click.option("--idle-minutes", type=LimitedFloat(limits.IDLE_MINUTES), help="Keep-warm time after the last job.")
@click.option("--max-hours", type=LimitedFloat(limits.MAX_HOURS), help="Lifetime cap of any wb instance.")
@click.option("--reaper-period", metavar="PERIOD", help="How often the reaper runs: 1m, 5m, or rate(...)/cron(...).")
@click.option("--reaper-mode", type=click.Choice(["enforce", "dry-run"]), help="dry-run only logs what it would do.")
@click.option(
    "--ssh-cidr", metavar="CIDR", help="IPv4 range allowed to reach port 22 of wb machines (means --ssh-access cidr)."
)
@click.option(
    "--ssh-access",
    type=click.Choice(["eice", "cidr"]),
    help="eice (default): SSH only through an EC2 Instance Connect Endpoint; cidr: from --ssh-cidr.",
)
@click.option("--eice-id", metavar="ID", help="Use this existing Instance Connect Endpoint of the VPC.")
@click.option("--eice-security-group", metavar="SG", help="The security group of the --eice-id endpoint.")
@click.option("--eice-subnet", metavar="SUBNET", help="Subnet for the stack's endpoint (default: one of the VPC's).")
@click.option("--vpc-id", metavar="VPC", help="VPC of wb's security group (default: the region's default VPC).")
@click.option(
    "--create-spot-role",
    is_flag=True,
    help="Also create the account's EC2 Spot service-linked role (members' --spot needs it); kept if it exists.",
)
@click.option(
    "--powertools-layer",
    type=click.IntRange(min=0),
    metavar="VERSION",
    help="Version of the public Powertools layer; 0 puts Powertools into the reaper's zip instead.",
)
@click.option("--max-volume-gib", type=click.IntRange(min=8, max=99999), help="Largest EBS volume members may launch.")
@click.option(
    "--extra-output-bucket",
    metavar="BUCKET",
    help="A bucket of the team's own that instances may also push outputs to (sync.dirStorage); '' removes it.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change (a change set), deploy nothing.")
@click.option("--destroy", is_flag=True, help="Delete the stack; refused while wb instances exist.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (--destroy).")
@click.pass_obj
def command(
    app: App,
    region: str | None,
    user_budget: float | None,
    team_budget: float | None,
    team: str | None,
    allowed_types: str | None,
    admins: tuple[str, ...],
    lease_minutes: float | None,
    idle_minutes: float | None,
    max_hours: float | None,
    reaper_period: str | None,
    reaper_mode: str | None,
    ssh_cidr: str | None,
    ssh_access: str | None,
    eice_id: str | None,
    eice_security_group: str | None,
    eice_subnet: str | None,
    vpc_id: str | None,
    create_spot_role: bool,
    powertools_layer: int | None,
    max_volume_gib: int | None,
    extra_output_bucket: str | None,
    dry_run: bool,
    destroy: bool,
    yes: bool,
) -> int:
    """Deploy (or update) the supervision stack into an AWS account and region.

    Needs only Python and admin credentials: the reaper's code is staged in a bucket wb owns, and the
    shipped CloudFormation template is deployed with stack events as progress. Re-running with no
    changes is a no-op; flags not given keep the stack's current values.
    """
    from ..aws_account.plan import BootstrapRequest, prepare, reaper_schedule
    from ..aws_account.session import session_for
    from ..errors import UsageError

    started = time.monotonic()
    if dry_run and destroy:
        raise UsageError("--dry-run and --destroy do not go together")
    aws = session_for(app, region=region)
    request = BootstrapRequest(
        owner_budget=user_budget,
        team_budget=team_budget,
        team=team,
        allowed_types=_types(allowed_types),
        admins=admins,
        lease_minutes=lease_minutes,
        idle_minutes=idle_minutes,
        max_hours=max_hours,
        reaper_schedule=None if reaper_period is None else reaper_schedule(reaper_period),
        reaper_mode=reaper_mode,
        ssh_cidr=ssh_cidr,
        ssh_access=ssh_access,
        eice_id=eice_id,
        eice_group=eice_security_group,
        eice_subnet=eice_subnet,
        vpc_id=vpc_id,
        powertools_layer=powertools_layer,
        max_volume_gib=max_volume_gib,
        extra_output_bucket=extra_output_bucket,
    )
    if destroy:
        if request != BootstrapRequest() or create_spot_role:
            raise UsageError("--destroy takes no stack settings")
        return _destroy(app, aws, yes)
    app.say(f"checking stack {request.stack_name} in {aws.region} ...")
    deployment = prepare(aws, request)
    for note in deployment.notes:
        app.say(note)
    if dry_run:
        code = _show_dry_run(app, deployment, aws)
        _spot_role(app, aws, create=False, planned=create_spot_role)
        return code
    code = _deploy(app, deployment, aws, started)
    _spot_role(app, aws, create=create_spot_role, planned=create_spot_role)
    return code


def _spot_role(app: App, aws: AwsSession, *, create: bool, planned: bool) -> None:
    """Create the EC2 Spot service-linked role when asked; otherwise say when members' spot runs will lack it."""
    from ..aws_account.spot_role import ROLE_NAME, ensure_spot_role, spot_role_exists
    from ..errors import AwsError

    iam = aws.client("iam")
    if create:
        created = ensure_spot_role(iam)
        app.say(f"{'created' if created else 'kept'} the EC2 Spot service-linked role {ROLE_NAME}")
        return
    try:
        exists = spot_role_exists(iam)
    except AwsError:  # a read this admin may not make: the note below is only advice
        return
    if exists:
        return
    if planned:
        app.say(f"dry run: would create the EC2 Spot service-linked role {ROLE_NAME}")
    else:
        app.say(
            f"note: this account has no EC2 Spot service-linked role ({ROLE_NAME}), so members' --spot runs launch "
            "on-demand; create it with: wb bootstrap --create-spot-role"
        )


def _deploy(app: App, deployment: Deployment, aws: AwsSession, started: float) -> int:
    from ..aws_account.deploy import apply
    from ..aws_account.progress import StackProgress
    from ..render.table import print_table

    progress = StackProgress(quiet=app.quiet)
    try:
        outcome = apply(deployment, aws, progress, app.say)
    except KeyboardInterrupt:
        progress.close()
        app.warn("stopped watching; CloudFormation carries on by itself: `wb doctor` shows where it stands")
        raise
    finally:
        progress.close()
    stack = outcome.stack
    if outcome.action == "unchanged":
        app.say(f"no changes: stack {deployment.request.stack_name} is up to date")
        return 0
    assert stack is not None
    app.say(f"stack {stack.name} {outcome.action}: {stack.status} in {time.monotonic() - started:.1f} s")
    print_table(["OUTPUT", "VALUE"], sorted(stack.outputs.items()))
    app.say("next: attach the MemberPolicyArn policy to each member; `wb doctor` checks the setup")
    return 0


def _show_dry_run(app: App, deployment: Deployment, aws: AwsSession) -> int:
    from ..aws_account.changeset import dry_run
    from ..render.table import print_table

    result = dry_run(deployment, aws)
    if result.empty:
        app.say("no changes: the stack is up to date (dry run, nothing deployed)")
        return 0
    verb = "would create" if result.creating else "would update"
    app.say(f"dry run: {verb} stack {deployment.request.stack_name}; nothing was deployed")
    if result.resources:
        rows = [[c.action, c.logical_id, c.resource_type, c.replacement] for c in result.resources]
        print_table(["ACTION", "RESOURCE", "TYPE", "REPLACEMENT"], rows, title="resources")
    elif result.template_changed:
        app.say("the template changed, but CloudFormation lists no resource changes")
    if result.parameters:
        rows = [[c.name, "(new)" if c.old is None else c.old, c.new] for c in result.parameters]
        print_table(["PARAMETER", "CURRENT", "NEW"], rows, title="parameters")
    return 0


def _destroy(app: App, aws: AwsSession, yes: bool) -> int:
    from ..aws_account.destroy import destroy
    from ..aws_account.progress import StackProgress
    from ..aws_account.stack import STACK_NAME
    from ..errors import UsageError

    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("--destroy deletes the stack, its table (ledger and budgets) and the reaper; pass --yes")
        click.confirm(
            f"Delete the {STACK_NAME} stack in {aws.region}, with its table (ledger, budgets) and reaper?",
            abort=True,
            err=True,
        )
    progress = StackProgress(quiet=app.quiet)
    try:
        outcome = destroy(aws, progress, app.say)
    finally:
        progress.close()
    if outcome.action == "absent":
        app.say(f"no stack {STACK_NAME} in {aws.region}: nothing to destroy")
    else:
        app.say(f"stack {STACK_NAME} deleted")
    return 0
