"""Gangs: the machines of one `wb run --nodes N` end together.

A gang is the managed instances that carry the same `wb:gang` tag under the same `wb:owner` (the owner is
part of the key: a member may tag their own launches with any gang id, so a gang id alone must never let
one member's machine end another's). `wb:gang-size` says how many machines the gang was launched with.

`gang_ends(verdicts, now, launch_grace_s)` is the reaper's second pass, after every instance was decided
on its own. A member that is KEEP is terminated with `gang-member-ended` when, in the same gang:

- another member is being terminated in this run (its own reason: lease, budget, cap, mark, ...);
- another member is on its way out or stopped (EC2 reclaimed it, the agent powered it off, a user ended it);
- a member's row is live but EC2 no longer lists its machine (terminated machines drop out of
  DescribeInstances within minutes, often before the reaper's next run sees them `shutting-down`), when the
  reaper has metered that machine before or the row is older than `launch_grace_s` (a machine just launched
  may not be listed yet: DescribeInstances is eventually consistent);
- fewer members than `wb:gang-size` are described, `launch_grace_s` after the gang's first start (a client
  that died mid-launch left a partial gang).

So no member outlives the first one to end by more than one reaper period. Runs on python3 >= 3.8, stdlib
only (the agent imports the tag names).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

GANG = "wb:gang"  # the gang id the client chose at launch
GANG_SIZE = "wb:gang-size"  # how many machines it launched, as decimal text
# No rank tag: a gang starts in one RunInstances call, whose tags are the same for every machine; a member's
# rank is its AmiLaunchIndex, kept in its row.
GANG_TAG_KEYS = (GANG, GANG_SIZE)
MAX_GANG_SIZE = 64  # the most machines one gang may have (`wb run --nodes`)
# The row's own record of its gang (attributes the client writes beside the row's others: `extra`).
ROW_GANG = "gang"
ROW_RANK = "gang_rank"
ROW_SIZE = "gang_size"
ENDING_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})


def gang_tags(gang_id: str, size: int) -> dict[str, str]:
    """The tags every member launches with, next to `lambdas.tags.wb_tags`."""
    if not 1 <= size <= MAX_GANG_SIZE:
        raise ValueError(f"a gang of {size}: a gang has 1 to {MAX_GANG_SIZE} machines")
    if not gang_id:
        raise ValueError("a gang needs an id")
    return {GANG: gang_id, GANG_SIZE: str(size)}


def gang_key(owner: str, tags: Mapping[str, str]) -> tuple[str, str] | None:
    gang = tags.get(GANG)
    return (owner, gang) if gang else None


def declared_size(tags: Mapping[str, str]) -> int | None:
    try:
        size = int(tags.get(GANG_SIZE, ""))
    except ValueError:
        return None
    return size if 1 <= size <= MAX_GANG_SIZE else None


class Member:
    """One described member: what the gang pass needs of an instance and of its own decision."""

    __slots__ = ("ending", "instance_id", "started_at", "tags", "terminating")

    def __init__(
        self, instance_id: str, tags: Mapping[str, str], state: str, started_at: float, terminating: bool
    ) -> None:
        self.instance_id = instance_id
        self.tags = tags
        self.started_at = started_at
        self.terminating = terminating  # this run decided to terminate it on its own
        self.ending = state in ENDING_STATES


class GangEnd:
    """Why the rest of a gang ends: the member that ended first (or the count that went missing)."""

    __slots__ = ("detail", "gang_id")

    def __init__(self, gang_id: str, detail: str) -> None:
        self.gang_id = gang_id
        self.detail = detail


def group(members: Iterable[tuple[str, Member]]) -> dict[tuple[str, str], list[Member]]:
    """Members by (owner, gang id); machines without a gang tag are in no group."""
    gangs: dict[tuple[str, str], list[Member]] = defaultdict(list)
    for owner, member in members:
        key = gang_key(owner, member.tags)
        if key is not None:
            gangs[key].append(member)
    return gangs


def why_gang_ends(gang_id: str, members: Sequence[Member], now: float, launch_grace_s: float) -> GangEnd | None:
    """The reason a gang must end now, or None while it is whole."""
    for member in sorted(members, key=lambda m: m.instance_id):
        if member.terminating:
            return GangEnd(gang_id, f"gang {gang_id}: member {member.instance_id} is being terminated")
        if member.ending:
            return GangEnd(gang_id, f"gang {gang_id}: member {member.instance_id} has ended")
    sizes = {declared_size(m.tags) for m in members}
    size = max((s for s in sizes if s is not None), default=len(members))
    first_start = min(m.started_at for m in members)
    if len(members) < size and now - first_start >= launch_grace_s:
        return GangEnd(gang_id, f"gang {gang_id}: {len(members)} of {size} members left")
    return None


def gang_ends(
    members: Iterable[tuple[str, Member]],
    now: float,
    launch_grace_s: float,
    departed: Iterable[tuple[str, str, str]] = (),
) -> dict[str, GangEnd]:
    """instance id -> why it ends with its gang, for every member that is neither terminating nor ending
    on its own but whose gang is no longer whole. `departed`: (owner, gang id, instance id) of members whose
    machine EC2 no longer lists (see the module doc for when one counts)."""
    gone = {(owner, gang_id): instance_id for owner, gang_id, instance_id in departed}
    ends: dict[str, GangEnd] = {}
    for key, gang in group(members).items():
        gang_id = key[1]
        reason = why_gang_ends(gang_id, gang, now, launch_grace_s)
        if reason is None and key in gone:
            reason = GangEnd(gang_id, f"gang {gang_id}: member {gone[key]} is gone")
        if reason is None:
            continue
        for member in gang:
            if not member.terminating and not member.ending:
                ends[member.instance_id] = reason
    return ends
