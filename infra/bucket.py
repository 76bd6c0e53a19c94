"""The outputs bucket, where agents push declared job outputs, and the bucket that receives its access logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

ACCESS_LOG_RETENTION = cdk.Duration.days(365)
ABANDONED_UPLOAD_WINDOW = cdk.Duration.days(1)


class OutputsBucket(Construct):
    """Encrypted, TLS-only, private; objects expire after `expiration_days`; every access is logged."""

    def __init__(self, scope: Construct, construct_id: str, *, expiration_days: cdk.CfnParameter) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_RETENTION)],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.access_logs.node.default_child.override_logical_id("AccessLogsBucket")  # type: ignore[union-attr]
        cdk.Validations.of(self.access_logs).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions-S1",
                reason="This is the access-log target of the outputs bucket; logging it into itself would "
                "loop, and a third bucket would only move the finding.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Outputs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="outputs/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(expiration_days.value_as_number),
                    abort_incomplete_multipart_upload_after=ABANDONED_UPLOAD_WINDOW,
                )
            ],
            # Job outputs are user data: deleting the stack must never delete them.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.bucket.node.default_child.override_logical_id("OutputsBucket")  # type: ignore[union-attr]
