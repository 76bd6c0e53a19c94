"""The IAM the aws provider needs from a team member, declared beside the code that uses it.

The member policy (`infra/team_policies.py`, `MemberPolicy`) must grant every action here; a test checks
that against the shipped template, and another runs the provider against moto with a call counter and
checks that every API it used is listed. `sts:GetCallerIdentity` needs no permission.
"""

from __future__ import annotations

# API operation (as botocore names it) -> the IAM action that authorizes it.
OPERATION_ACTIONS = {
    # who I am and where the stack is
    "GetCallerIdentity": None,
    "DescribeStacks": "cloudformation:DescribeStacks",
    # launch: check, place, start (RunInstances also needs iam:PassRole for the profile's role and
    # ec2:CreateTags for the tags it applies; IAM evaluates those on the same call)
    "DescribeInstanceTypes": "ec2:DescribeInstanceTypes",
    "DescribeInstanceTypeOfferings": "ec2:DescribeInstanceTypeOfferings",
    "DescribeAvailabilityZones": "ec2:DescribeAvailabilityZones",
    "DescribeImages": "ec2:DescribeImages",
    "DescribeSecurityGroups": "ec2:DescribeSecurityGroups",
    "DescribeSubnets": "ec2:DescribeSubnets",
    "DescribeRouteTables": "ec2:DescribeRouteTables",  # a subnet's way out (routes.py)
    "DescribeVpcs": "ec2:DescribeVpcs",  # the VPC's ranges, for the SSH reachability check
    "DescribeSpotPriceHistory": "ec2:DescribeSpotPriceHistory",
    "RunInstances": "ec2:RunInstances",
    # a gang (`--nodes N`): its own security group and cluster placement group (infra/gang_policies.py)
    "CreateSecurityGroup": "ec2:CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress": "ec2:AuthorizeSecurityGroupIngress",
    "DeleteSecurityGroup": "ec2:DeleteSecurityGroup",
    "CreatePlacementGroup": "ec2:CreatePlacementGroup",
    "DescribePlacementGroups": "ec2:DescribePlacementGroups",
    "DeletePlacementGroup": "ec2:DeletePlacementGroup",
    # find, watch and end instances
    "DescribeInstances": "ec2:DescribeInstances",
    "TerminateInstances": "ec2:TerminateInstances",
    # reach them: a key for one connection, a tunnel through the stack's Instance Connect Endpoint
    "SendSSHPublicKey": "ec2-instance-connect:SendSSHPublicKey",
    "DescribeInstanceConnectEndpoints": "ec2:DescribeInstanceConnectEndpoints",
    # rows: read any (status --all), write only OWNER#<me>#...
    "GetItem": "dynamodb:GetItem",
    "BatchGetItem": "dynamodb:BatchGetItem",
    "Query": "dynamodb:Query",
    "PutItem": "dynamodb:PutItem",
    "UpdateItem": "dynamodb:UpdateItem",
    # outputs of gone instances, under <bucket>/<me>/
    "ListObjectsV2": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
}
# Authorized on RunInstances beside ec2:RunInstances itself.
LAUNCH_SIDE_ACTIONS = frozenset({"iam:PassRole", "ec2:CreateTags"})

MEMBER_ACTIONS = frozenset(action for action in OPERATION_ACTIONS.values() if action) | LAUNCH_SIDE_ACTIONS
