"""The EC2 tags that make an instance wb's, and who it belongs to.

`wb:managed=true` is the reaper's whole world: it describes only instances with that tag, re-checks it
before terminating, and IAM lets it terminate nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MANAGED = "wb:managed"
MANAGED_VALUE = "true"
OWNER = "wb:owner"  # the caller's aws:userid
TEAM = "wb:team"
PROJECT = "wb:project"  # the project folder name
NAME = "Name"

# DescribeInstances filter selecting exactly wb's instances.
MANAGED_FILTER = {"Name": "tag:" + MANAGED, "Values": [MANAGED_VALUE]}


def wb_tags(owner: str, team: str, project: str, name: str | None = None) -> dict[str, str]:
    """The tags every wb instance launches with (member IAM requires them on RunInstances)."""
    if not owner:
        raise ValueError("owner tag must not be empty")
    tags = {MANAGED: MANAGED_VALUE, OWNER: owner, TEAM: team, PROJECT: project}
    if name:
        tags[NAME] = name
    return tags


def tag_specifications(
    tags: Mapping[str, str], resource_types: Iterable[str] = ("instance", "volume")
) -> list[dict[str, object]]:
    """`TagSpecifications` for RunInstances, tagging the instance and its volumes alike."""
    pairs = [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
    return [{"ResourceType": kind, "Tags": list(pairs)} for kind in resource_types]


def tags_from_aws(pairs: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """[{"Key": k, "Value": v}, ...] as returned by EC2, as a plain mapping."""
    return {pair["Key"]: pair.get("Value", "") for pair in pairs or ()}


def is_managed(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED) == MANAGED_VALUE
