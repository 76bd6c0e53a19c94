"""A gang's own network (`wb run --nodes N`): a security group whose one ingress rule names the group itself,
and a cluster placement group where the instance type supports one.

Why a group per gang: its members reach one another on every port and protocol, and nothing else does. A
self-reference on the stack's shared group would let every wb machine, any member's, reach every other. The
member policy lets a member create, change and delete only gang groups tagged as theirs, and launch into
another member's gang group never (infra/gang_policies.py). The group allows all traffic out, as the stack's
group does; it admits nothing from outside the gang, so nothing is opened to the internet.

Cluster placement (one rack's low-latency network) is used when DescribeInstanceTypes lists `cluster` among
the type's supported strategies (PlacementGroupInfo); other types get the gang group only.

A group and a placement group can be deleted only once no machine uses them. `delete` is best effort at the
end of a failed launch; `sweep`, run before each gang launch, deletes the caller's gang groups and placement
groups that nothing uses any more and that are older than `SWEEP_AFTER_S` (a gang id begins with its creation
time): a younger one may belong to a gang another command of the same owner is launching right now, whose
machines do not use it yet. Neither costs money while it waits (a region holds at most 500 placement groups
and a VPC 2,500 security groups by default).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from weatherballoon.lambdas import gang, tags

from ...aws_account.errors import error_code, translated

CLUSTER = "cluster"
# EC2: group names and descriptions take up to 255 of a-zA-Z0-9, space and ._-:/()#,@[]+=&;{}!$*; a group name
# may not start with `sg-`. Placement group names: up to 255 ASCII characters, unique in the region.
NAME_PREFIX = "wb-gang-"
GROUP_DESCRIPTION = "Weatherballoon gang {gang_id}: its machines reach one another on any port"
RULE_DESCRIPTION = "Members of gang {gang_id}, any protocol and port"
# Errors that mean "already gone": nothing to do (any other, e.g. still in use, waits for the next sweep).
ALREADY_GONE = frozenset({"InvalidGroup.NotFound", "InvalidPlacementGroup.Unknown"})
# Older than any gang launch can take (the boot deadline is 600 s), with a wide margin.
SWEEP_AFTER_S = 3600.0
STAMP_DIGITS = 8  # a gang id's first characters: its creation time, epoch seconds in hex


def new_gang_id(now: float) -> str:
    """`<creation time, 8 hex digits><6 random hex digits>`: unique, and its age is readable by `sweep`."""
    return f"{int(now):0{STAMP_DIGITS}x}{secrets.token_hex(3)}"


def created_at(gang_id: str) -> float | None:
    try:
        return float(int(gang_id[:STAMP_DIGITS], 16)) if len(gang_id) > STAMP_DIGITS else None
    except ValueError:
        return None


@dataclass(frozen=True)
class GangNetwork:
    gang_id: str
    group_id: str
    placement_group: str | None  # None: the type has no cluster placement


def resource_name(gang_id: str) -> str:
    return f"{NAME_PREFIX}{gang_id}"


def gang_resource_tags(labels: Mapping[str, str], gang_id: str) -> dict[str, str]:
    """The tags the member policy requires on a gang's group and placement group (and admits no others)."""
    keep = (tags.MANAGED, tags.OWNER, tags.TEAM, tags.NAME)
    return {**{k: v for k, v in labels.items() if k in keep}, gang.GANG: gang_id}


def supports_cluster(ec2: Any, instance_type: str) -> bool:
    with translated(denied_hint="you need ec2:DescribeInstanceTypes"):
        found = ec2.describe_instance_types(InstanceTypes=[instance_type]).get("InstanceTypes", [])
    strategies = found[0].get("PlacementGroupInfo", {}).get("SupportedStrategies", []) if found else []
    return CLUSTER in strategies


def create(
    ec2: Any, *, gang_id: str, vpc_id: str, instance_type: str, labels: Mapping[str, str], say: Callable[[str], None]
) -> GangNetwork:
    """The gang's group with its self-reference, and its cluster placement group where supported. On any
    failure what was made is deleted again before the error goes on."""
    name = resource_name(gang_id)
    resource_tags = [{"Key": k, "Value": v} for k, v in sorted(gang_resource_tags(labels, gang_id).items())]
    made = GangNetwork(gang_id, "", None)
    try:
        with translated(denied_hint="you need ec2:CreateSecurityGroup on groups tagged as yours (member policy)"):
            group_id = ec2.create_security_group(
                GroupName=name,
                Description=GROUP_DESCRIPTION.format(gang_id=gang_id),
                VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": resource_tags}],
            )["GroupId"]
        made = GangNetwork(gang_id, group_id, None)
        with translated(denied_hint="you need ec2:AuthorizeSecurityGroupIngress on your gang groups"):
            ec2.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "-1",
                        "UserIdGroupPairs": [
                            {"GroupId": group_id, "Description": RULE_DESCRIPTION.format(gang_id=gang_id)}
                        ],
                    }
                ],
            )
        if supports_cluster(ec2, instance_type):
            with translated(denied_hint="you need ec2:CreatePlacementGroup on groups tagged as yours"):
                ec2.create_placement_group(
                    GroupName=name,
                    Strategy=CLUSTER,
                    TagSpecifications=[{"ResourceType": "placement-group", "Tags": resource_tags}],
                )
            made = GangNetwork(gang_id, group_id, name)
        else:
            say(f"{instance_type} has no cluster placement; the gang's machines are placed as EC2 chooses")
    except BaseException:
        delete(ec2, made)
        raise
    return made


def delete(ec2: Any, made: GangNetwork) -> list[str]:
    """Delete the gang's placement group and group, best effort; returns what is left for a later sweep."""
    from botocore.exceptions import BotoCoreError, ClientError

    left = []
    calls: list[tuple[str, Callable[[], object]]] = []
    if made.placement_group:
        calls.append((made.placement_group, lambda: ec2.delete_placement_group(GroupName=made.placement_group)))
    if made.group_id:
        calls.append((made.group_id, lambda: ec2.delete_security_group(GroupId=made.group_id)))
    for what, call in calls:
        try:
            call()
        except ClientError as exc:
            if error_code(exc) not in ALREADY_GONE:
                left.append(what)
        except BotoCoreError:
            left.append(what)
    return left


def sweep(ec2: Any, owner: str, now: float, min_age_s: float = SWEEP_AFTER_S) -> int:
    """Delete the caller's gang groups and placement groups older than `min_age_s` that no machine uses any
    more; EC2 refuses those still in use (DependencyViolation, InvalidPlacementGroup.InUse), which are left
    alone, and so are those whose gang id shows no age. Returns how many went. Best effort: a failure here
    never stops a launch."""
    from botocore.exceptions import BotoCoreError, ClientError

    mine = [
        {"Name": f"tag:{tags.OWNER}", "Values": [owner]},
        {"Name": f"tag:{tags.MANAGED}", "Values": [tags.MANAGED_VALUE]},
        {"Name": "tag-key", "Values": [gang.GANG]},
    ]
    try:
        groups = ec2.describe_security_groups(Filters=mine).get("SecurityGroups", [])
        placements = ec2.describe_placement_groups(Filters=mine).get("PlacementGroups", [])
    except (ClientError, BotoCoreError):
        return 0

    def old(resource: Mapping[str, Any]) -> bool:
        born = created_at(tags.tags_from_aws(resource.get("Tags")).get(gang.GANG, ""))
        return born is not None and now - born >= min_age_s

    gone = 0
    for placement in filter(old, placements):
        gone += _deleted(ec2.delete_placement_group, GroupName=placement["GroupName"])
    for group in filter(old, groups):
        gone += _deleted(ec2.delete_security_group, GroupId=group["GroupId"])
    return gone


def _deleted(delete: Callable[..., object], **name: str) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        delete(**name)
    except (ClientError, BotoCoreError):
        return 0
    return 1
