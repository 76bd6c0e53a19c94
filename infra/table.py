"""The supervision table: one DynamoDB table for instance, job, ledger, budget, audit and heartbeat rows."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from weatherballoon.lambdas.schema import LIVE_ATTRIBUTE, LIVE_INDEX, TTL_ATTRIBUTE
from weatherballoon.lambdas.schema import PK as PARTITION_KEY
from weatherballoon.lambdas.schema import SK as SORT_KEY


class SupervisionTable(Construct):
    """On-demand, point-in-time recoverable, encrypted with the AWS-managed key, rows expire by TTL."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )
        # The reaper's view of the table: only rows carrying `live` are in it, and only their keys, so a renewal
        # (which changes no key) never writes to it and closed history is never read (docs/supervision.md).
        self.table.add_global_secondary_index(
            index_name=LIVE_INDEX,
            partition_key=dynamodb.Attribute(name=LIVE_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        # Fixed logical ids: renaming one later would make CloudFormation replace the resource.
        self.table.node.default_child.override_logical_id("SupervisionTable")  # type: ignore[union-attr]
