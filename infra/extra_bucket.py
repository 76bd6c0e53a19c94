"""A second outputs bucket the admin names (`ExtraOutputBucket`), granted with the same layout as the stack's.

`sync.dirStorage` may name a bucket of the team's own: the stack cannot know it when it is synthesized, so it
is a parameter, and every grant on it is conditional (`HasExtraOutputBucket`): with the default (empty) the
template grants nothing more. The stack's own bucket keeps what only it has (TLS-only policy, access logs,
expiry, blocked public access); the extra bucket's own settings are its owner's.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from constructs import Construct

PARAMETER = "ExtraOutputBucket"
CONDITION = "HasExtraOutputBucket"
S3_BUCKET_NAME = r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"  # empty (none), or an S3 bucket name


class ExtraOutputBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, name: cdk.CfnParameter) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.condition = cdk.CfnCondition(
            self, "Has", expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(name.value_as_string, ""))
        )
        self.condition.override_logical_id(CONDITION)

    def _arn(self, suffix: str) -> str:
        # ${!...} keeps an IAM policy variable such as ${ec2:SourceInstanceARN} for IAM, not Fn::Sub.
        escaped = suffix.replace("${", "${!")
        arn = cdk.Fn.sub(f"arn:${{AWS::Partition}}:s3:::${{{self.name.logical_id}}}{escaped}")
        return cdk.Fn.condition_if(self.condition.logical_id, arn, cdk.Aws.NO_VALUE).to_string()

    def bucket_arn(self) -> str:
        """The bucket's ARN, or nothing when no extra bucket is named."""
        return self._arn("")

    def objects(self, key_pattern: str) -> str:
        """The ARN of the keys `key_pattern` matches, or nothing when no extra bucket is named."""
        return self._arn("/" + key_pattern)

    def nag_finding(self, key_pattern: str) -> str:
        """cdk-nag's name for a wildcard finding on `objects(key_pattern)` (the conditional ARN as JSON)."""
        escaped = ("/" + key_pattern).replace("${", "${!")
        arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{{PARAMETER}}}{escaped}"}
        resolved = {"Fn::If": [CONDITION, arn, {"Ref": "AWS::NoValue"}]}
        return "Resource::" + json.dumps(resolved, separators=(",", ":"))
