"""IAM for the people: the managed policy every team member gets, and the one admins get on top of it.

Both are customer-managed policies that the admin attaches to the team's users, groups or roles; the stack
cannot attach them itself without knowing those principals' names.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from weatherballoon.infra.extra_bucket import ExtraOutputBucket
from weatherballoon.infra.gang_policies import NAG_REASONS, deny_joining_others_gangs, gang_statements
from weatherballoon.infra.iam import MANAGED_TAG_IS_TRUE, instance_arns, leading_keys_only
from weatherballoon.infra.parameters import GP3_BASELINE_IOPS, GP3_BASELINE_THROUGHPUT_MIBPS, LAUNCH_VOLUME_TYPES
from weatherballoon.lambdas import gang, schema, tags

# The owner of a wb instance and of rows is the caller's aws:userid (lambdas.tags.OWNER).
CALLER = "${aws:userid}"
ROWS_OF_CALLER = f"{schema.OWNER_PREFIX}{CALLER}{schema.SEP}*"
BUDGET_PARTITION = schema.BUDGET_PK
# Condition-key names are case-insensitive in IAM, so aws:RequestTag/wb:managed also matches a WB:MANAGED tag,
# which EC2 (case-sensitive tags) and the reaper's tag filter would never see. A case-sensitive allowlist of
# tag keys closes that: the wb tags can only arrive spelled exactly so.
# A gang's machines (`wb run --nodes`) also carry the gang's id, size and their rank (lambdas.gang).
LAUNCH_TAG_KEYS = [tags.MANAGED, tags.OWNER, tags.TEAM, tags.PROJECT, tags.NAME, *gang.GANG_TAG_KEYS]

TABLE_READ_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
]
# Members put and update their own rows; nothing in wb deletes one, so nobody may (a deleted row would only
# hide a machine from a check). Admins' budget rows keep delete (`BUDGET_WRITE_ACTIONS`).
MEMBER_WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
BUDGET_WRITE_ACTIONS = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
]
# wb never stops or starts a machine: a start would reset EC2's LaunchTime, and a stopped machine bills its
# volumes. Ending one's own machine and pushing a key to it is all a member does.
OWN_INSTANCE_ACTIONS = ["ec2:TerminateInstances", "ec2-instance-connect:SendSSHPublicKey"]
# Exactly the describe calls wb makes (cli/providers/aws/permissions.py), among them route tables and VPCs
# for the subnet and reachability checks before a launch. Not ec2:Describe*: that includes
# DescribeInstanceAttribute, which returns any instance's user-data.
EC2_DESCRIBE_ACTIONS = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceConnectEndpoints",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]
OWN_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
# Resources a launch creates next to the instance. They need no conditions of their own: RunInstances must
# also be allowed on the instance, and that statement carries every condition. Volumes are the exception: their
# size, type, IOPS and throughput cost money no budget meters, so `LaunchVolumes` bounds them.
LAUNCH_CREATED_RESOURCES = ("network-interface", "spot-instances-request")
TAGGED_AT_LAUNCH = ("volume", *LAUNCH_CREATED_RESOURCES)
# Existing resources a launch only references.
LAUNCH_REFERENCED_RESOURCES = ("subnet", "security-group", "key-pair")
# A tunnel through the stack's Instance Connect Endpoint: to port 22 only, for at most the endpoint's longest
# tunnel. Which machines it reaches is the endpoint's group's to say: it may send only to port 22 of wb
# instances (infra/network.py), so no tunnel reaches another machine.
TUNNEL_PORT = "22"
MAX_TUNNEL_DURATION_S = "3600"
TUNNEL_CONDITIONS = {
    "NumericEquals": {"ec2-instance-connect:remotePort": TUNNEL_PORT},
    "NumericLessThanEquals": {"ec2-instance-connect:maxTunnelDuration": MAX_TUNNEL_DURATION_S},
}
DESCRIBE_REASON = "The listed EC2 describe actions support no resource-level permissions; AWS accepts only '*'."


def _ec2_arns(scope: Construct, resource_types: tuple[str, ...]) -> list[str]:
    stack = cdk.Stack.of(scope)
    return [stack.format_arn(service="ec2", resource=kind, resource_name="*") for kind in resource_types]


def _describe_ec2() -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="DescribeEc2", actions=EC2_DESCRIBE_ACTIONS, resources=["*"])


def _read_table(table: dynamodb.ITable) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="ReadTable", actions=TABLE_READ_ACTIONS, resources=[table.table_arn])


def _stack_arn(scope: Construct) -> str:
    # AWS::StackName, not the synth-time name, so the policy holds under whatever name the stack is given.
    return cdk.Stack.of(scope).format_arn(
        service="cloudformation", resource="stack", resource_name=f"{cdk.Aws.STACK_NAME}/*"
    )


NAG_EC2_ARN = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>"
STACK_ARN_REASON = "The stack's own ARN; the last segment is the stack id CloudFormation assigns at creation."


def _acknowledge_wildcard(policy: iam.ManagedPolicy, reasons: dict[str, str]) -> None:
    cdk.Validations.of(policy).acknowledge(
        *(cdk.Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=why) for finding, why in reasons.items())
    )


class MemberPolicy(Construct):
    """What every team member may do: launch tagged as themselves, operate only their own instances."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        instance_role: iam.IRole,
        allowed_instance_types: list[str],
        team_name: str,
        max_volume_gib: cdk.CfnParameter,
        extra_bucket: ExtraOutputBucket,
        tunnel_endpoint_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        image_arns = stack.format_arn(service="ec2", account="", resource="image", resource_name="*")
        statements = [
            iam.PolicyStatement(
                sid="LaunchTaggedAsCaller",
                actions=["ec2:RunInstances"],
                resources=[instance_arns(self)],
                conditions={
                    "StringEquals": {
                        f"aws:RequestTag/{tags.MANAGED}": tags.MANAGED_VALUE,
                        f"aws:RequestTag/{tags.OWNER}": CALLER,
                        f"aws:RequestTag/{tags.TEAM}": team_name,
                    },
                    "Null": {f"aws:RequestTag/{tags.PROJECT}": "false"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": LAUNCH_TAG_KEYS},
                    "StringLike": {"ec2:InstanceType": allowed_instance_types},
                },
            ),
            iam.PolicyStatement(
                sid="LaunchCreates",
                actions=["ec2:RunInstances"],
                resources=_ec2_arns(self, LAUNCH_CREATED_RESOURCES),
            ),
            iam.PolicyStatement(
                sid="LaunchVolumes",
                actions=["ec2:RunInstances"],
                resources=_ec2_arns(self, ("volume",)),
                conditions={
                    "NumericLessThanEquals": {"ec2:VolumeSize": max_volume_gib.value_as_string},
                    "StringEquals": {"ec2:VolumeType": list(LAUNCH_VOLUME_TYPES)},
                    "NumericLessThanEqualsIfExists": {
                        "ec2:VolumeIops": str(GP3_BASELINE_IOPS),
                        "ec2:VolumeThroughput": str(GP3_BASELINE_THROUGHPUT_MIBPS),
                    },
                },
            ),
            iam.PolicyStatement(
                sid="LaunchReferences",
                actions=["ec2:RunInstances"],
                resources=[image_arns, *_ec2_arns(self, LAUNCH_REFERENCED_RESOURCES)],
            ),
            iam.PolicyStatement(
                sid="PassInstanceRole",
                actions=["iam:PassRole"],
                resources=[instance_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="TagOnlyAtLaunch",
                actions=["ec2:CreateTags"],
                resources=[instance_arns(self), *_ec2_arns(self, TAGGED_AT_LAUNCH)],
                conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            ),
            iam.PolicyStatement(
                sid="OperateOwnInstances",
                actions=OWN_INSTANCE_ACTIONS,
                resources=[instance_arns(self)],
                conditions={"StringEquals": {f"ec2:ResourceTag/{tags.OWNER}": CALLER, **MANAGED_TAG_IS_TRUE}},
            ),
            iam.PolicyStatement(
                sid="TunnelToSsh",
                actions=["ec2-instance-connect:OpenTunnel"],
                resources=[tunnel_endpoint_arn],
                conditions=TUNNEL_CONDITIONS,
            ),
            _describe_ec2(),
            _read_table(table),
            iam.PolicyStatement(
                sid="WriteOwnRows",
                actions=MEMBER_WRITE_ACTIONS,
                resources=[table.table_arn],
                conditions=leading_keys_only(ROWS_OF_CALLER),
            ),
            iam.PolicyStatement(
                sid="OwnOutputs",
                actions=OWN_OBJECT_ACTIONS,
                resources=[bucket.arn_for_objects(f"{CALLER}/*"), extra_bucket.objects(f"{CALLER}/*")],
            ),
            iam.PolicyStatement(
                sid="ListOwnOutputs",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn, extra_bucket.bucket_arn()],
                conditions={"StringLike": {"s3:prefix": [f"{CALLER}/*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadStack", actions=["cloudformation:DescribeStacks"], resources=[_stack_arn(self)]
            ),
            *gang_statements(self, team_name=team_name),
            deny_joining_others_gangs(self),
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Weatherballoon team member: launch and operate own wb instances, write own rows.",
            statements=statements,
        )
        self.policy.node.default_child.override_logical_id("MemberPolicy")  # type: ignore[union-attr]
        created = (
            "Created by the same RunInstances call, which must also be allowed on the instance, where every "
            "condition sits; tags on them only at launch (ec2:CreateAction)."
        )
        referenced = "Only referenced by a launch; AMI, subnet, group and key pair are the user's configuration."
        _acknowledge_wildcard(
            self.policy,
            {
                "Resource::*": DESCRIBE_REASON,
                f"Resource::{NAG_EC2_ARN}:instance/*": "Launch requires the wb tags with wb:owner = aws:userid, "
                "wb:team = TeamName and an allowed type; every other instance action requires "
                "ec2:ResourceTag/wb:owner = aws:userid, or ec2:CreateAction = RunInstances for tags.",
                **{f"Resource::{NAG_EC2_ARN}:{kind}/*": created for kind in TAGGED_AT_LAUNCH},
                **{f"Resource::{NAG_EC2_ARN}:{kind}/*": referenced for kind in LAUNCH_REFERENCED_RESOURCES},
                f"Resource::{NAG_EC2_ARN}:security-group/*": f"{referenced} {NAG_REASONS['security-group']}",
                f"Resource::{NAG_EC2_ARN}:placement-group/*": NAG_REASONS["placement-group"],
                f"Resource::{NAG_EC2_ARN}:vpc/*": NAG_REASONS["vpc"],
                "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*": referenced,
                "Resource::<OutputsBucket.Arn>/<aws:userid>/*": "Only keys under the caller's own prefix: the "
                "first path segment is the caller's aws:userid, which never contains '/'.",
                extra_bucket.nag_finding(f"{CALLER}/*"): "The same prefix in the admin-named ExtraOutputBucket "
                "(granted only when it is named).",
                "Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/"
                "<AWS::StackName>/*": STACK_ARN_REASON,
            },
        )


class AdminPolicy(Construct):
    """What a team admin may do beyond a member: set budgets, end any wb instance, read the reaper's logs.

    Every statement also requires aws:PrincipalArn to match the AdminPrincipalArns parameter, so attaching
    this policy to anyone else grants nothing.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        reaper_log_group: logs.ILogGroup,
        admin_principal_arns: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        only_admins = {"ArnLike": {"aws:PrincipalArn": admin_principal_arns}}
        statements = [
            iam.PolicyStatement(
                sid="WriteBudgets",
                actions=BUDGET_WRITE_ACTIONS,
                resources=[table.table_arn],
                conditions={**leading_keys_only(BUDGET_PARTITION), **only_admins},
            ),
            iam.PolicyStatement(
                sid="EndAnyManagedInstance",
                actions=["ec2:TerminateInstances"],
                resources=[instance_arns(self)],
                conditions={"StringEquals": MANAGED_TAG_IS_TRUE, **only_admins},
            ),
            iam.PolicyStatement(
                sid="ReachAnyManagedInstance",
                actions=["ec2-instance-connect:SendSSHPublicKey"],
                resources=[instance_arns(self)],
                conditions={"StringEquals": MANAGED_TAG_IS_TRUE, **only_admins},
            ),
            iam.PolicyStatement(
                sid="ReadReaperLogs",
                actions=["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"],
                resources=[reaper_log_group.log_group_arn],
                conditions=only_admins,
            ),
            iam.PolicyStatement(
                sid="InspectStack",
                actions=[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:GetTemplate",
                ],
                resources=[_stack_arn(self)],
                conditions=only_admins,
            ),
        ]
        for statement in (_describe_ec2(), _read_table(table)):
            statement.add_conditions(only_admins)
            statements.append(statement)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Weatherballoon admin: budgets, any wb instance, reaper logs. Needs AdminPrincipalArns.",
            statements=statements,
        )
        self.policy.node.default_child.override_logical_id("AdminPolicy")  # type: ignore[union-attr]
        _acknowledge_wildcard(
            self.policy,
            {
                "Resource::*": DESCRIBE_REASON,
                f"Resource::{NAG_EC2_ARN}:instance/*": "Only instances tagged wb:managed=true, and only for "
                "principals in AdminPrincipalArns.",
                "Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/"
                "<AWS::StackName>/*": STACK_ARN_REASON,
            },
        )
