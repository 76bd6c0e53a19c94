"""The IAM the reaper needs, declared beside the code that uses it; the CDK stack grants exactly this.

A test runs the reaper against moto with a call counter and checks that every API it used is listed here.
"""

from __future__ import annotations

# DescribeInstances supports no resource-level restriction (resource "*"). TerminateInstances is granted
# only on instances tagged wb:managed=true: the reaper's own re-check of the tag is the second fence.
REAPER_EC2_DESCRIBE = frozenset({"ec2:DescribeInstances", "ec2:DescribeSpotPriceHistory"})
# Terminate, and lift what would stop a termination or outlive it (termination protection, volumes kept
# after termination): only on instances tagged wb:managed=true.
REAPER_EC2_TERMINATE = frozenset({"ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"})

# On the supervision table only. TransactWriteItems has no IAM action of its own: each Update inside it
# needs dynamodb:UpdateItem.
REAPER_TABLE_ACTIONS = frozenset(
    {
        "dynamodb:Query",  # the live index, meter shards, budget and ledger partitions, a closed row's jobs
        "dynamodb:BatchGetItem",  # the rows of the instances EC2 lists and of the live index
        "dynamodb:UpdateItem",  # accrual transactions, marking terminating, closing rows and jobs
        "dynamodb:PutItem",  # the heartbeat
        "dynamodb:DeleteItem",  # a meter whose instance is gone
        "dynamodb:BatchWriteItem",  # audit rows
    }
)

REAPER_ACTIONS = REAPER_EC2_DESCRIBE | REAPER_EC2_TERMINATE | REAPER_TABLE_ACTIONS

# API operation (as botocore names it) -> the IAM action that authorizes it.
OPERATION_ACTIONS = {
    "DescribeInstances": "ec2:DescribeInstances",
    "DescribeSpotPriceHistory": "ec2:DescribeSpotPriceHistory",
    "TerminateInstances": "ec2:TerminateInstances",
    "ModifyInstanceAttribute": "ec2:ModifyInstanceAttribute",
    "BatchGetItem": "dynamodb:BatchGetItem",
    "DeleteItem": "dynamodb:DeleteItem",
    "Query": "dynamodb:Query",
    "UpdateItem": "dynamodb:UpdateItem",
    "TransactWriteItems": "dynamodb:UpdateItem",
    "PutItem": "dynamodb:PutItem",
    "BatchWriteItem": "dynamodb:BatchWriteItem",
    "GetItem": "dynamodb:GetItem",
}
