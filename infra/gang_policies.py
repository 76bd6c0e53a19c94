"""IAM for gangs (`wb run --nodes N` on aws): a member's own per-gang security group and placement group.

The ranks of a gang reach one another on any port through a security group made for that gang alone, whose
only ingress rule names the group itself; the stack's instance group stays as it is (SSH from the endpoint or
the admin's range). Why per gang and not one self-referencing rule on the stack's group: that rule would let
every wb machine, any member's, reach every other on every port.

What the statements below prove (tests/unit/infra/test_gang_privileges.py):
- a member creates a gang group or placement group only tagged as theirs (wb:managed, wb:owner = aws:userid,
  wb:team, a wb:gang id), and tags it only in the creating call;
- a member changes rules of, or deletes, only their own gang groups; never the stack's group, another
  member's, or an untagged one;
- a member launches into a gang group or a placement group only when it is their own: no machine of anyone
  else can join a gang's group and so reach its ranks;
- placement groups are `cluster` only.

IAM cannot see which source a new ingress rule names (AuthorizeSecurityGroupIngress has no condition key for
it), so a member could open their own gang group wider. That reaches only their own machines, which they
control completely anyway (DESIGN.md, trust boundary); wb itself only ever adds the self-reference
(cli/providers/aws/gang_network.py), and the reaper's view is unchanged: every machine is still tagged,
metered and ended.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct
from weatherballoon.lambdas import gang, tags

CALLER = "${aws:userid}"
GANG_GROUP_RULE_ACTIONS = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
GANG_CREATE_ACTIONS = ["ec2:CreateSecurityGroup", "ec2:CreatePlacementGroup"]
# ec2:CreateAction holds the API operation's name without the service prefix (as `RunInstances` for instances).
GANG_CREATE_OPERATIONS = [action.removeprefix("ec2:") for action in GANG_CREATE_ACTIONS]
GANG_DELETE_ACTIONS = ["ec2:DeleteSecurityGroup", "ec2:DeletePlacementGroup"]
CLUSTER = "cluster"
# The keys a gang group or placement group may carry when created (case-sensitive, as for instances).
GANG_RESOURCE_TAG_KEYS = [tags.MANAGED, tags.OWNER, tags.TEAM, gang.GANG, tags.NAME]


def _arns(scope: Construct, kind: str) -> str:
    return cdk.Stack.of(scope).format_arn(service="ec2", resource=kind, resource_name="*")


def _own(prefix: str) -> dict[str, dict[str, object]]:
    """The resource is wb's, the caller's, and a gang's."""
    return {
        "StringEquals": {f"{prefix}/{tags.MANAGED}": tags.MANAGED_VALUE, f"{prefix}/{tags.OWNER}": CALLER},
        "Null": {f"{prefix}/{gang.GANG}": "false"},
    }


def gang_statements(scope: Construct, *, team_name: str) -> list[iam.PolicyStatement]:
    """The member policy's gang statements (appended to `MemberPolicy`). Few and merged: the member policy
    must stay under IAM's 6,144 characters (template_rules `iam-managed-policy-size`)."""
    group, placement, vpc = _arns(scope, "security-group"), _arns(scope, "placement-group"), _arns(scope, "vpc")
    created = _own("aws:RequestTag")
    created["StringEquals"][f"aws:RequestTag/{tags.TEAM}"] = team_name
    created["ForAllValues:StringEquals"] = {"aws:TagKeys": GANG_RESOURCE_TAG_KEYS}
    # Only CreatePlacementGroup carries the strategy key; a security group's creation has none.
    created["StringEqualsIfExists"] = {"ec2:PlacementGroupStrategy": CLUSTER}
    return [
        iam.PolicyStatement(
            sid="CreateGangResources", actions=GANG_CREATE_ACTIONS, resources=[group, placement], conditions=created
        ),
        iam.PolicyStatement(sid="CreateGangGroupInVpc", actions=["ec2:CreateSecurityGroup"], resources=[vpc]),
        iam.PolicyStatement(
            sid="TagGangResourcesAtCreate",
            actions=["ec2:CreateTags"],
            resources=[group, placement],
            conditions={"StringEquals": {"ec2:CreateAction": GANG_CREATE_OPERATIONS}},
        ),
        iam.PolicyStatement(
            sid="UseOwnGangResources",
            actions=[*GANG_GROUP_RULE_ACTIONS, *GANG_DELETE_ACTIONS, "ec2:RunInstances"],
            resources=[group, placement],
            conditions=_own("ec2:ResourceTag"),
        ),
    ]


def deny_joining_others_gangs(scope: Construct) -> iam.PolicyStatement:
    """A launch may name a security group tagged as a gang's only when that gang is the caller's: an explicit
    Deny, so no other Allow (the stack's `LaunchReferences` on security-group/*) can reopen it."""
    return iam.PolicyStatement(
        sid="NoLaunchIntoOthersGangGroups",
        effect=iam.Effect.DENY,
        actions=["ec2:RunInstances"],
        resources=[_arns(scope, "security-group")],
        conditions={
            "Null": {f"ec2:ResourceTag/{gang.GANG}": "false"},
            "StringNotEquals": {f"ec2:ResourceTag/{tags.OWNER}": CALLER},
        },
    )


NAG_REASONS = {
    "security-group": "Gang groups: create only tagged wb:owner = aws:userid with a wb:gang id; rules and delete "
    "only on groups so tagged; launching into another owner's gang group is explicitly denied.",
    "placement-group": "Create only cluster groups tagged wb:owner = aws:userid; launch into and delete only groups "
    "so tagged.",
    "vpc": "CreateSecurityGroup names the VPC the group is made in; the group resource carries every condition.",
}
