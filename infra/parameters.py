"""Stack parameters: everything an admin tunes at `wb bootstrap` time, so the shipped template never needs a re-synth.

The parameter names are a contract with `wb bootstrap` (cli) and `docs/iam.md`; rename only with both.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from constructs import Construct
from weatherballoon.infra.extra_bucket import PARAMETER as EXTRA_BUCKET_PARAMETER
from weatherballoon.infra.extra_bucket import S3_BUCKET_NAME
from weatherballoon.lambdas import limits

DEFAULT_ALLOWED_INSTANCE_TYPES = (
    "g4dn.xlarge",
    "g4dn.2xlarge",
    "g5.xlarge",
    "g5.2xlarge",
    "g6.xlarge",
    "g6.2xlarge",
    "g6e.xlarge",
    "t3.micro",
    "t3.small",
    "t3.medium",
    "t3.large",
    "m5.large",
    "m5.xlarge",
    "c5.large",
    "c5.xlarge",
)

# SSH stays closed until the admin names the range the team connects from (office, VPN, or deliberately
# 0.0.0.0/0). A closed default fails loudly at the first `wb ssh`; an open one fails silently forever.
CLOSED_SSH_CIDR = "127.0.0.1/32"
CIDR_PATTERN = r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"

REAPER_MODES = ("enforce", "dry-run")

# How SSH reaches wb instances. `eice`: only from the stack's EC2 Instance Connect Endpoint (its security group
# is the one source port 22 admits; no CIDR, no public IP needed). `cidr`: from SshIngressCidr, an explicit
# opt-in for clients that connect to a public or private IP (provisioner.connect public-ip / private-ip).
SSH_ACCESS_MODES = ("eice", "cidr")
# Ids as EC2 writes them: a prefix and 8 or 17 hex digits; empty means "none given".
EICE_ID_OR_EMPTY = r"^(eice-[0-9a-f]{8,17})?$"
SG_ID_OR_EMPTY = r"^(sg-[0-9a-f]{8,17})?$"
SUBNET_ID_OR_EMPTY = r"^(subnet-[0-9a-f]{8,17})?$"

# A volume's size is a cost no budget sees (the reaper meters instance hours); members may launch volumes up to
# this size, gp3/gp2 only, at the IOPS and throughput gp3 includes for free. wb's own root volume is 100 GiB.
DEFAULT_MAX_VOLUME_GIB = 500
LAUNCH_VOLUME_TYPES = ("gp3", "gp2")
GP3_BASELINE_IOPS = 3000
GP3_BASELINE_THROUGHPUT_MIBPS = 125

# Layer versions are numbered alike for every Python version and architecture; 27 is Powertools v3 as of
# 2026 (docs.powertools.aws.dev, "Lambda Layer").
POWERTOOLS_LAYER_VERSION = 27


@dataclass(frozen=True)
class StackParameters:
    owner_budget_usd: cdk.CfnParameter
    team_budget_usd: cdk.CfnParameter
    team_name: cdk.CfnParameter
    lease_minutes: cdk.CfnParameter
    idle_minutes: cdk.CfnParameter
    max_hours: cdk.CfnParameter
    allowed_instance_types: cdk.CfnParameter
    admin_principal_arns: cdk.CfnParameter
    reaper_schedule: cdk.CfnParameter
    reaper_mode: cdk.CfnParameter
    reaper_code_bucket: cdk.CfnParameter
    reaper_code_key: cdk.CfnParameter
    powertools_layer_version: cdk.CfnParameter
    orphan_grace_seconds: cdk.CfnParameter
    audit_ttl_days: cdk.CfnParameter
    outputs_expiration_days: cdk.CfnParameter
    ssh_ingress_cidr: cdk.CfnParameter
    ssh_access: cdk.CfnParameter
    endpoint_id: cdk.CfnParameter
    endpoint_security_group_id: cdk.CfnParameter
    endpoint_subnet_id: cdk.CfnParameter
    vpc_id: cdk.CfnParameter
    max_volume_gib: cdk.CfnParameter
    extra_output_bucket: cdk.CfnParameter


def declare_parameters(scope: Construct) -> StackParameters:
    # Every number has both bounds, so CloudFormation itself refuses nan, inf and absurd values (the ranges
    # of lambdas/limits.py, which wb bootstrap and the client check as well).
    def number(name: str, default: float, description: str, min_value: float, max_value: float) -> cdk.CfnParameter:
        return cdk.CfnParameter(
            scope,
            name,
            type="Number",
            default=default,
            min_value=min_value,
            max_value=max_value,
            description=description,
        )

    def text(name: str, description: str, **options: object) -> cdk.CfnParameter:
        return cdk.CfnParameter(scope, name, type="String", description=description, **options)  # type: ignore[arg-type]

    return StackParameters(
        owner_budget_usd=number(
            "OwnerBudgetUsd",
            100,
            "Monthly budget per owner in USD, unless a BUDGET row overrides it.",
            0,
            limits.BUDGET_USD.high,
        ),
        team_budget_usd=number(
            "TeamBudgetUsd", 1000, "Monthly budget for the whole team in USD.", 0, limits.BUDGET_USD.high
        ),
        team_name=text(
            "TeamName",
            "Team name; launches must carry it as the wb:team tag.",
            default="default",
            allowed_pattern=r"^[A-Za-z0-9._-]{1,64}$",
        ),
        lease_minutes=number(
            "LeaseMinutes", 5, "Default lease renewal horizon in minutes.", 0.1, limits.LEASE_MINUTES.high
        ),
        idle_minutes=number(
            "IdleMinutes", 10, "Default keep-warm time after the last job, in minutes.", 0, limits.IDLE_MINUTES.high
        ),
        max_hours=number("MaxHours", 24, "Lifetime cap of any wb instance, in hours.", 0.1, limits.MAX_HOURS.high),
        allowed_instance_types=cdk.CfnParameter(
            scope,
            "AllowedInstanceTypes",
            type="CommaDelimitedList",
            default=",".join(DEFAULT_ALLOWED_INSTANCE_TYPES),
            description="Instance types members may launch; IAM StringLike patterns such as g5.* work.",
        ),
        admin_principal_arns=cdk.CfnParameter(
            scope,
            "AdminPrincipalArns",
            type="CommaDelimitedList",
            default="",
            description="IAM user or role ARNs (ArnLike patterns) for which the admin policy takes effect.",
        ),
        reaper_schedule=text(
            "ReaperSchedule", "EventBridge schedule expression of the reaper.", default="rate(1 minute)"
        ),
        reaper_mode=text(
            "ReaperMode",
            "enforce terminates; dry-run only logs and audits what it would do.",
            default="enforce",
            allowed_values=list(REAPER_MODES),
        ),
        reaper_code_bucket=text("ReaperCodeBucket", "S3 bucket holding the staged reaper zip."),
        reaper_code_key=text("ReaperCodeKey", "S3 key of the staged reaper zip (content-addressed)."),
        # A digits-only String, not a Number: the condition compares it with "0", and moto turns Number
        # parameters into ints (0 != "0") where CloudFormation hands every parameter over as a string.
        powertools_layer_version=text(
            "PowertoolsLayerVersion",
            "Version of the public Powertools layer for the reaper; 0: no layer (the zip vendors Powertools).",
            default=str(POWERTOOLS_LAYER_VERSION),
            allowed_pattern=r"^[0-9]+$",
        ),
        orphan_grace_seconds=number(
            "OrphanGraceSeconds", 600, "How long a tagged instance may exist without a row.", 60, 86400
        ),
        audit_ttl_days=number("AuditTtlDays", 90, "Days an audit row lives before DynamoDB TTL removes it.", 1, 3650),
        outputs_expiration_days=number(
            "OutputsExpirationDays", 90, "Days job outputs stay in the outputs bucket.", 1, 3650
        ),
        ssh_ingress_cidr=text(
            "SshIngressCidr",
            "IPv4 CIDR allowed to reach port 22 of wb instances when SshAccess is cidr. The default admits nobody.",
            default=CLOSED_SSH_CIDR,
            allowed_pattern=CIDR_PATTERN,
        ),
        ssh_access=text(
            "SshAccess",
            "eice: port 22 only from the EC2 Instance Connect Endpoint. cidr: port 22 from SshIngressCidr.",
            default="eice",
            allowed_values=list(SSH_ACCESS_MODES),
        ),
        endpoint_id=text(
            "InstanceConnectEndpointId",
            "An existing EC2 Instance Connect Endpoint in the VPC to use; empty: the stack creates one.",
            default="",
            allowed_pattern=EICE_ID_OR_EMPTY,
        ),
        endpoint_security_group_id=text(
            "InstanceConnectEndpointSecurityGroupId",
            "The security group of the existing endpoint named by InstanceConnectEndpointId.",
            default="",
            allowed_pattern=SG_ID_OR_EMPTY,
        ),
        endpoint_subnet_id=text(
            "InstanceConnectSubnetId",
            "Subnet of the VPC where the stack creates its endpoint (wb bootstrap picks one when not given).",
            default="",
            allowed_pattern=SUBNET_ID_OR_EMPTY,
        ),
        vpc_id=cdk.CfnParameter(scope, "VpcId", type="AWS::EC2::VPC::Id", description="VPC of the wb security group."),
        # A digits-only String, not a Number: it lands in an IAM condition value, which must be a string, and
        # moto turns Number parameters into ints where CloudFormation hands every parameter over as a string.
        max_volume_gib=text(
            "MaxVolumeGiB",
            "Largest EBS volume (GiB) a member may launch; volumes must be gp3 or gp2 at baseline IOPS and throughput.",
            default=str(DEFAULT_MAX_VOLUME_GIB),
            allowed_pattern=r"^([89]|[1-9][0-9]{1,4})$",
        ),
        extra_output_bucket=text(
            EXTRA_BUCKET_PARAMETER,
            "A bucket of the team's own that agents may also push outputs to (sync.dirStorage); empty: none.",
            default="",
            allowed_pattern=S3_BUCKET_NAME,
        ),
    )
