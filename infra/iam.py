"""IAM for the machines: the reaper's role, and the role and profile every wb instance runs with.

The people's policies (member, admin) live in `team_policies.py`. `docs/iam.md` explains every statement and
lists the properties that tests/unit/infra/test_*_privileges.py prove over the synthesized template.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from weatherballoon.infra.extra_bucket import ExtraOutputBucket
from weatherballoon.lambdas import schema, tags

# Row keys come from lambdas' schema: an instance's row and its job rows share pk
# OWNER#<owner>#INSTANCE#<instance-arn>. ec2:SourceInstanceARN is present, and usable as a policy variable,
# on requests signed with instance-profile credentials (AWS's own AWSElasticDisasterRecoveryEc2InstancePolicy
# uses it so).
SOURCE_INSTANCE = "${ec2:SourceInstanceARN}"
ROWS_OF_SOURCE_INSTANCE = f"{schema.OWNER_PREFIX}*{schema.INSTANCE_INFIX}{SOURCE_INSTANCE}"

# Outputs layout: s3://<bucket>/<owner aws:userid>/<instance-arn>/<...>. IAM cannot see the instance's
# wb:owner tag, so the owner segment is a wildcard for the instance; the Deny below keeps that wildcard to
# one path segment (aws:userid never holds '/'), so an instance can only ever touch <any owner>/<own arn>/...
INSTANCE_OUTPUTS = f"*/{SOURCE_INSTANCE}/*"
INSTANCE_OUTPUTS_DEEPER = f"*/*/{SOURCE_INSTANCE}/*"

INSTANCE_ROW_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
INSTANCE_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]

MANAGED_TAG_IS_TRUE = {f"ec2:ResourceTag/{tags.MANAGED}": tags.MANAGED_VALUE}


def leading_keys_only(*patterns: str) -> dict[str, dict[str, object]]:
    """Every partition key the request touches must match a pattern, and the request must name one.

    ForAllValues alone is true for a request without keys (a Scan): the Null test closes that hole.
    """
    return {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }


def instance_arns(scope: Construct) -> str:
    return cdk.Stack.of(scope).format_arn(service="ec2", resource="instance", resource_name="*")


class ReaperRole(Construct):
    """Assumed by the reaper Lambda. Table and log grants are wired by the stack (`grant_*`)."""

    def __init__(self, scope: Construct, construct_id: str, *, metrics_namespace: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Weatherballoon reaper: describe and terminate wb-managed instances.",
        )
        self.role.node.default_child.override_logical_id("ReaperRole")  # type: ignore[union-attr]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FindInstances",
                actions=["ec2:DescribeInstances", "ec2:DescribeSpotPriceHistory"],
                # Neither has resource-level permissions: AWS accepts only "*".
                resources=["*"],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TerminateManagedInstances",
                # ModifyInstanceAttribute lifts what a member could launch with and no IAM condition key can
                # refuse: termination protection, and volumes kept after termination (lambdas/fleet.py).
                actions=["ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"],
                resources=[instance_arns(self)],
                conditions={"StringEquals": MANAGED_TAG_IS_TRUE},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="VolumesOfManagedInstances",
                # The volume is an optional resource of ModifyInstanceAttribute; the same call must also pass
                # on the instance, where wb:managed=true is required.
                actions=["ec2:ModifyInstanceAttribute"],
                resources=[cdk.Stack.of(self).format_arn(service="ec2", resource="volume", resource_name="*")],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishMetrics",
                actions=["cloudwatch:PutMetricData"],
                # PutMetricData has no resource-level permissions; the namespace condition scopes it.
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
            )
        )
        cdk.Validations.of(self.role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ec2:DescribeInstances, cloudwatch:PutMetricData (namespace-conditioned) and the X-Ray "
                "writes that active tracing adds support no resource-level permissions; AWS requires '*'.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
                reason="Terminate is limited by the condition ec2:ResourceTag/wb:managed=true; instance ids "
                "are not known when the stack is deployed.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*]",
                reason="Only ModifyInstanceAttribute, which EC2 authorizes on the instance too, and that statement "
                "requires ec2:ResourceTag/wb:managed=true; volume ids are not known at deploy time.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::<SupervisionTable.Arn>/index/*]",
                reason="The supervision table's own indexes: the reaper queries the live-rows index instead of "
                "scanning the table; CDK grants a table's indexes together with the table.",
            ),
        )


class InstanceRole(Construct):
    """The role and instance profile of every wb instance: its own rows, its own output prefix, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        extra_bucket: ExtraOutputBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Weatherballoon instance: its own table rows and its own output prefix.",
        )
        self.profile = iam.InstanceProfile(self, "Profile", role=self.role)
        self.role.node.default_child.override_logical_id("InstanceRole")  # type: ignore[union-attr]
        self.profile.node.default_child.override_logical_id("InstanceProfile")  # type: ignore[union-attr]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OwnInstanceRows",
                actions=INSTANCE_ROW_ACTIONS,
                resources=[table.table_arn],
                conditions=leading_keys_only(ROWS_OF_SOURCE_INSTANCE),
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OwnInstanceOutputs",
                actions=INSTANCE_OBJECT_ACTIONS,
                resources=[bucket.arn_for_objects(INSTANCE_OUTPUTS), extra_bucket.objects(INSTANCE_OUTPUTS)],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadOwnTags",
                # boot.py's fallback when instance metadata has no tags. DescribeTags has no resource-level
                # permissions and no condition key but ec2:Region: this region's tags, nothing more.
                actions=["ec2:DescribeTags"],
                resources=["*"],
                conditions={"StringEquals": {"ec2:Region": cdk.Aws.REGION}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OwnerSegmentIsOneSegment",
                effect=iam.Effect.DENY,
                actions=INSTANCE_OBJECT_ACTIONS,
                resources=[
                    bucket.arn_for_objects(INSTANCE_OUTPUTS_DEEPER),
                    extra_bucket.objects(INSTANCE_OUTPUTS_DEEPER),
                ],
            )
        )
        cdk.Validations.of(self.role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ec2:DescribeTags supports no resource-level permissions (AWS requires '*'); the statement "
                "is limited to this region by ec2:Region.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::<OutputsBucket.Arn>/*/<ec2:SourceInstanceARN>/*]",
                reason="The path names the calling instance's own ARN (policy variable); the owner segment is "
                "limited to one path segment by an explicit Deny. See docs/iam.md.",
            ),
            cdk.Acknowledgment(
                id=f"AwsSolutions-IAM5[{extra_bucket.nag_finding(INSTANCE_OUTPUTS)}]",
                reason="The same layout in the admin-named ExtraOutputBucket (granted only when it is named).",
            ),
        )
