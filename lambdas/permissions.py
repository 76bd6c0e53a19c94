"""The IAM the reaper needs, declared beside the code that uses it; the CDK stack grants exactly this.

A test runs the reaper against moto with a call counter and checks that every API it used is listed here.
"""

from __future__ import annotations

from . import tags

# DescribeInstances supports no resource-level restriction (resource "*"). TerminateInstances is granted
# only on instances tagged wb:managed=true: the reaper's own re-check of the tag is the second fence.
REAPER_EC2_DESCRIBE = frozenset({"ec2:DescribeInstances"})
REAPER_EC2_TERMINATE = frozenset({"ec2:TerminateInstances"})
REAPER_EC2_TERMINATE_CONDITION = {"StringEquals": {"aws:ResourceTag/" + tags.MANAGED: tags.MANAGED_VALUE}}

# On the supervision table only. TransactWriteItems has no IAM action of its own: each Update inside it
# needs dynamodb:UpdateItem.
REAPER_TABLE_ACTIONS = frozenset(
    {
        "dynamodb:Scan",  # live instance and job rows
        "dynamodb:Query",  # budget and ledger partitions
        "dynamodb:UpdateItem",  # accrual transactions, marking terminating, closing rows and jobs
        "dynamodb:PutItem",  # the heartbeat
        "dynamodb:BatchWriteItem",  # audit rows
    }
)

REAPER_ACTIONS = REAPER_EC2_DESCRIBE | REAPER_EC2_TERMINATE | REAPER_TABLE_ACTIONS

# API operation (as botocore names it) -> the IAM action that authorizes it.
OPERATION_ACTIONS = {
    "DescribeInstances": "ec2:DescribeInstances",
    "TerminateInstances": "ec2:TerminateInstances",
    "Scan": "dynamodb:Scan",
    "Query": "dynamodb:Query",
    "UpdateItem": "dynamodb:UpdateItem",
    "TransactWriteItems": "dynamodb:UpdateItem",
    "PutItem": "dynamodb:PutItem",
    "BatchWriteItem": "dynamodb:BatchWriteItem",
    "GetItem": "dynamodb:GetItem",
}
