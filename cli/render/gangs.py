"""`wb status`: a gang (`wb run --nodes N`) is one line, its machines beneath it with `--expand`.

The gang's line sums what its machines cost, shows the shortest lease left (the gang ends when its first
member does) and the longest uptime, and lists states as they are (`busy` when all agree, else each state
with its count). A member that is missing from the listing (terminated and gone) shows as `i of N`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..providers.records import Instance


@dataclass(frozen=True)
class Line:
    """One line of `wb status`: a machine alone, a gang, or (expanded) one of a gang's machines."""

    instance: Instance | None  # a machine's line; None for a gang's own line
    members: tuple[Instance, ...] = ()  # a gang's line: its machines, by rank
    member_of: str | None = None  # an expanded gang's machine: the gang's id

    @property
    def is_gang(self) -> bool:
        return self.instance is None


def lines(instances: Sequence[Instance], *, expand: bool = False) -> list[Line]:
    """Machines in listing order, each gang at the place of its first machine."""
    gangs: dict[tuple[str | None, str], list[Instance]] = {}
    order: list[Instance | tuple[str | None, str]] = []
    for item in instances:
        if item.gang is None:
            order.append(item)
            continue
        key = (item.owner, item.gang)
        if key not in gangs:
            gangs[key] = []
            order.append(key)
        gangs[key].append(item)
    found: list[Line] = []
    for entry in order:
        if isinstance(entry, Instance):
            found.append(Line(entry))
            continue
        members = tuple(sorted(gangs[entry], key=lambda m: (m.gang_rank is None, m.gang_rank or 0, m.id)))
        found.append(Line(None, members))
        if expand:
            found.extend(Line(member, member_of=entry[1]) for member in members)
    return found


def gang_state(members: Sequence[Instance]) -> str:
    counts: dict[str, int] = {}
    for member in members:
        counts[member.state] = counts.get(member.state, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{state} x{count}" for state, count in sorted(counts.items()))


def gang_label(members: Sequence[Instance]) -> str:
    first = members[0]
    size = max((m.gang_size or 0 for m in members), default=0) or len(members)
    seen = f"{len(members)} of {size}" if len(members) < size else f"x{size}"
    return f"gang {first.gang} ({seen})"


def total_cost(members: Sequence[Instance]) -> float | None:
    costs = [m.est_cost_usd for m in members if m.est_cost_usd is not None]
    return sum(costs) if costs else None


def shortest_lease(members: Sequence[Instance]) -> float | None:
    leases = [m.lease_until for m in members if m.lease_until is not None]
    return min(leases) if leases else None


def first_start(members: Sequence[Instance]) -> float | None:
    starts = [m.launched_at for m in members if m.launched_at is not None]
    return min(starts) if starts else None


def first_reason(members: Sequence[Instance]) -> str | None:
    return next((f"{m.id}: {m.reap_reason}" for m in members if m.reap_reason), None)
