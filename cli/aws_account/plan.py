"""What `wb bootstrap` would deploy: the shipped template, the reaper's code bundle and the parameters, compared
with what is deployed now. Reads only; nothing is created here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from . import parameters as p
from .events import last_operation_failure
from .fleet import check_instance_types, default_vpc
from .reaper_zip import CodeBundle, build_bundle
from .session import AwsSession, CallerIdentity
from .stack import STACK_NAME, StackInfo, describe_stack
from .staging import Staging
from .states import blocking_error

TEMPLATE_BODY_MAX = 51_200  # CloudFormation's limit for an inline TemplateBody, in bytes
ADMIN_HINT = "wb bootstrap needs an account admin (see docs/bootstrap.md for the exact permissions)"


@dataclass(frozen=True)
class BootstrapRequest:
    """The admin's flags; None means: keep what the stack has (or the template default on creation)."""

    stack_name: str = STACK_NAME
    owner_budget: float | None = None
    team_budget: float | None = None
    team: str | None = None
    allowed_types: tuple[str, ...] | None = None
    admins: tuple[str, ...] = ()
    lease_minutes: float | None = None
    idle_minutes: float | None = None
    max_hours: float | None = None
    reaper_schedule: str | None = None
    reaper_mode: str | None = None
    ssh_cidr: str | None = None
    ssh_access: str | None = None  # eice | cidr; --ssh-cidr alone means cidr
    eice_id: str | None = None  # an existing Instance Connect Endpoint to use ("" : the stack makes one)
    eice_group: str | None = None  # that endpoint's security group
    eice_subnet: str | None = None  # where the stack makes its endpoint (default: one of the VPC's subnets)
    vpc_id: str | None = None
    staging_bucket: str | None = None  # None: the account's shared staging bucket (see staging.py)
    powertools_layer: int | None = None
    max_volume_gib: int | None = None
    extra_output_bucket: str | None = None  # "" takes the grant away

    def flag_values(self) -> dict[str, tuple[str, str]]:
        """parameter name -> (value, flag) for each flag given."""
        given: dict[str, tuple[str, str]] = {}

        def add(name: str, value: object, flag: str) -> None:
            if value is not None:
                text = p.format_number(value) if isinstance(value, float | int) else str(value)
                given[name] = (text, flag)

        add(p.OWNER_BUDGET, self.owner_budget, "--user-budget")
        add(p.TEAM_BUDGET, self.team_budget, "--team-budget")
        add(p.TEAM_NAME, self.team, "--team")
        add(p.ALLOWED_TYPES, None if self.allowed_types is None else ",".join(self.allowed_types), "--allowed-types")
        add(p.ADMINS, ",".join(self.admins) if self.admins else None, "--admin")
        add(p.LEASE_MINUTES, self.lease_minutes, "--lease-minutes")
        add(p.IDLE_MINUTES, self.idle_minutes, "--idle-minutes")
        add(p.MAX_HOURS, self.max_hours, "--max-hours")
        add(p.REAPER_SCHEDULE, self.reaper_schedule, "--reaper-period")
        add(p.REAPER_MODE, self.reaper_mode, "--reaper-mode")
        add(p.SSH_CIDR, self.ssh_cidr, "--ssh-cidr")
        access = self.ssh_access or ("cidr" if self.ssh_cidr is not None else None)
        add(p.SSH_ACCESS, access, "--ssh-access" if self.ssh_access else "--ssh-cidr")
        add(p.EICE_ID, self.eice_id, "--eice-id")
        add(p.EICE_GROUP, self.eice_group, "--eice-security-group")
        add(p.EICE_SUBNET, self.eice_subnet, "--eice-subnet")
        add(p.VPC_ID, self.vpc_id, "--vpc-id")
        add(p.POWERTOOLS_LAYER, self.powertools_layer, "--powertools-layer")
        add(p.MAX_VOLUME_GIB, self.max_volume_gib, "--max-volume-gib")
        add(p.EXTRA_BUCKET, self.extra_output_bucket, "--extra-output-bucket")
        return given


@dataclass(frozen=True)
class Deployment:
    request: BootstrapRequest
    identity: CallerIdentity
    region: str
    template: dict[str, Any]
    body: str
    bundle: CodeBundle
    staging: Staging
    existing: StackInfo | None  # None: there is none, or only an empty one left by an earlier dry run
    leftover: StackInfo | None  # a REVIEW_IN_PROGRESS stack to delete before creating
    template_changed: bool
    plan: p.ParameterPlan
    notes: list[str] = field(default_factory=list)

    @property
    def no_changes(self) -> bool:
        return self.existing is not None and not self.template_changed and not self.plan.changes

    @property
    def needs_template_url(self) -> bool:
        return len(self.body.encode()) > TEMPLATE_BODY_MAX


def compact(template: dict[str, Any]) -> str:
    return json.dumps(template, separators=(",", ":"), sort_keys=True)


def deployed_template(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    from .errors import translated

    with translated(denied_hint=ADMIN_HINT):
        body = cfn.get_template(StackName=stack_name, TemplateStage="Original").get("TemplateBody")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return None  # YAML: someone deployed by hand; treat as changed
    return body if isinstance(body, dict) else None


def reaper_schedule(period: str) -> str:
    """`--reaper-period`: an EventBridge expression as is, or a duration in whole minutes (EventBridge's unit)."""
    from ..durations import parse_duration

    if period.startswith(("rate(", "cron(")):
        return period
    try:
        seconds = parse_duration(period)
    except ValueError as exc:
        raise UsageError(f"--reaper-period: {exc}") from None
    minutes = seconds / 60
    if minutes < 1 or not minutes.is_integer():
        raise UsageError(f"--reaper-period: {period} is not a whole number of minutes (EventBridge's smallest unit)")
    return "rate(1 minute)" if minutes == 1 else f"rate({int(minutes)} minutes)"


def check_region_is_priced(region: str) -> None:
    """The reaper charges every machine from the shipped price table: a region the table cannot price would
    be charged a fallback, so bootstrap refuses it up front."""
    from weatherballoon.lambdas.prices import load_prices

    table = load_prices()
    if region not in table.known_regions:
        raise UsageError(
            f"wb's price table (of {table.as_of}) has no prices for {region}, so the reaper could not meter "
            "machines there",
            hint="rebuild it with: python -m weatherballoon.lambdas.prices_refresh --regions "
            f"{region} --output lambdas/prices.json (docs/supervision.md, Prices), or choose a priced region",
        )


def reaper_bundle(template: dict[str, Any], region: str, layer_version: str) -> CodeBundle:
    """The reaper's zip for `PowertoolsLayerVersion=layer_version`: 0 vendors Powertools into it; any other
    version needs the public layer, which exists in every commercial region and in the regions the
    template maps for China and GovCloud."""
    from weatherballoon.lambdas.schema import partition_of

    from .reaper_zip import MissingVendoredPackages

    if str(layer_version) == "0":
        try:
            return build_bundle(vendor=True)
        except MissingVendoredPackages as exc:
            raise UsageError(
                f"--powertools-layer 0 puts Powertools into the reaper's zip, but {', '.join(exc.names)} "
                "is not installed here",
                hint="pip install 'weatherballoon[lambda]', then run wb bootstrap again",
            ) from None
    mapped = template.get("Mappings", {}).get("PowertoolsLayerAccounts", {})
    if partition_of(region) != "aws" and region not in mapped:
        raise UsageError(
            f"Powertools publishes no public Lambda layer in {region} (partition {partition_of(region)}; "
            f"layers exist there only in {', '.join(sorted(mapped))})",
            hint="bootstrap with --powertools-layer 0: the reaper's zip then carries Powertools itself",
        )
    return build_bundle()


def prepare(aws: AwsSession, request: BootstrapRequest, *, template: dict[str, Any] | None = None) -> Deployment:
    from .template import shipped_template

    identity = aws.identity()
    cfn, ec2 = aws.client("cloudformation"), aws.client("ec2")
    region = aws.region
    found = describe_stack(cfn, request.stack_name)
    failure = None
    if found is not None and found.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "REVIEW_IN_PROGRESS"):
        failure = last_operation_failure(cfn, found.stack_id)
    error = blocking_error(found, failure)
    if error is not None:
        raise error
    leftover = found if found is not None and found.status == "REVIEW_IN_PROGRESS" else None
    existing = None if leftover is not None else found

    check_region_is_priced(region)
    template = template if template is not None else shipped_template()
    specs = p.template_specs(template)
    missing = [name for name in p.SET_BY_BOOTSTRAP if name not in specs]
    if missing:
        raise UsageError(
            f"the shipped template lacks the parameters {', '.join(missing)}",
            hint="this wb and its template disagree: reinstall weatherballoon",
        )
    requested = {name: specs[name].check(value, flag=flag) for name, (value, flag) in request.flag_values().items()}
    layer = requested.get(p.POWERTOOLS_LAYER) or (existing.parameters if existing else {}).get(p.POWERTOOLS_LAYER)
    bundle = reaper_bundle(template, region, layer or specs[p.POWERTOOLS_LAYER].default or "0")
    staging = Staging(aws.client("s3"), account=identity.account, region=region, bucket=request.staging_bucket)
    requested[p.CODE_BUCKET] = staging.bucket
    requested[p.CODE_KEY] = bundle.key
    notes: list[str] = []
    if p.VPC_ID not in requested and (existing is None or p.VPC_ID not in existing.parameters):
        requested[p.VPC_ID] = default_vpc(ec2, region)
        notes.append(f"security group in the default VPC {requested[p.VPC_ID]} (choose another with --vpc-id)")
    _endpoint_settings(ec2, request, requested, existing.parameters if existing else {}, notes)
    if request.allowed_types is not None:
        check_instance_types(ec2, request.allowed_types, region)
    plan = p.plan_parameters(specs, requested, None if existing is None else existing.parameters)
    changed = existing is None or deployed_template(cfn, existing.stack_id) != template
    return Deployment(
        request,
        identity,
        region,
        template,
        compact(template),
        bundle,
        staging,
        existing,
        leftover,
        changed,
        plan,
        notes,
    )


def _endpoint_settings(
    ec2: Any, request: BootstrapRequest, requested: dict[str, str], before: Mapping[str, str], notes: list[str]
) -> None:
    """In eice mode: an existing endpoint comes with its group; a new one needs a subnet of the VPC (the
    first, by id, unless --eice-subnet names one)."""

    def value(name: str, default: str = "") -> str:
        return requested.get(name, before.get(name, default))

    if value(p.SSH_ACCESS, "eice") != "eice":
        return
    if value(p.EICE_ID):
        if not value(p.EICE_GROUP):
            raise UsageError(
                "--eice-id needs the endpoint's security group: --eice-security-group sg-...",
                hint="aws ec2 describe-instance-connect-endpoints shows it (SecurityGroupIds)",
            )
        return
    if value(p.EICE_SUBNET):
        return
    vpc = value(p.VPC_ID)
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    if not subnets:
        raise UsageError(
            f"the VPC {vpc} has no subnet for the EC2 Instance Connect Endpoint",
            hint="create one, name one with --eice-subnet, or use --ssh-cidr for SSH from a range instead",
        )
    requested[p.EICE_SUBNET] = sorted(str(s["SubnetId"]) for s in subnets)[0]
    notes.append(f"EC2 Instance Connect Endpoint in subnet {requested[p.EICE_SUBNET]} (choose with --eice-subnet)")
