"""Lease rules shared by the client, the agent and the reaper. Pure: `now` is always passed in.

A lease is the time until which an instance may run unless renewed. Attached clients and the agent (while
a job runs) renew every `RENEW_INTERVAL_S` to `now + lease_minutes`; when the last job ends the agent sets
`now + idle_minutes`, the warm window. Leases never pass `max_until` (launch + maxHours). A renewal never
shortens a lease: writers store `max(current, new)`.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import InstanceRecord

RENEW_INTERVAL_S = 30.0
DEFAULT_LEASE_MINUTES = 5.0
DEFAULT_IDLE_MINUTES = 10.0
DEFAULT_MAX_HOURS = 24.0


def _horizon(now: float, minutes: float, current: float | None, max_until: float | None) -> float:
    if minutes < 0:
        raise ValueError(f"lease minutes must be >= 0, got {minutes}")
    until = now + minutes * 60.0
    if current is not None:
        until = max(until, current)
    if max_until is not None:
        until = min(until, max_until)
    return until


def renew(now: float, lease_minutes: float, current: float | None = None, max_until: float | None = None) -> float:
    """The lease after a renewal at `now`: `now + lease_minutes`, never shorter than `current`, capped by
    `max_until`."""
    return _horizon(now, lease_minutes, current, max_until)


def idle_lease(now: float, idle_minutes: float, current: float | None = None, max_until: float | None = None) -> float:
    """The lease when the last job ends: the warm window `now + idle_minutes` (same rules as `renew`)."""
    return _horizon(now, idle_minutes, current, max_until)


def lifetime_end(launched_at: float, max_hours: float) -> float:
    """`max_until` of a row: launch time + maxHours."""
    if max_hours <= 0:
        raise ValueError(f"max hours must be > 0, got {max_hours}")
    return launched_at + max_hours * 3600.0


def first_lease(launched_at: float, lease_minutes: float, max_hours: float) -> tuple[float, float]:
    """(lease_until, max_until) for a fresh row written at launch."""
    max_until = lifetime_end(launched_at, max_hours)
    return renew(launched_at, lease_minutes, None, max_until), max_until


def is_expired(now: float, lease_until: float) -> bool:
    """A lease is over at its end instant: `now >= lease_until`."""
    return now >= lease_until


def seconds_left(now: float, lease_until: float) -> float:
    return max(0.0, lease_until - now)


DEADMAN_SLACK_S = 60.0  # the dead-man timer's margin past the lease end (the agent, then the reaper, come first)


def deadman_seconds(now: float, lease_until: float, slack_s: float = DEADMAN_SLACK_S) -> int:
    """Seconds for the dead-man timer re-armed on each good renewal (`wb-power arm SECONDS`): until the lease
    ends, plus slack, rounded up. A dead agent then still powers the machine off."""
    return max(1, math.ceil(seconds_left(now, lease_until) + slack_s))


class PowerOff(str, Enum):
    """Why the agent must power its machine off (None from `power_off_reason` means keep running)."""

    MARKED = "marked"
    TERMINATING = "terminating"
    CLOSED = "closed"
    LEASE_EXPIRED = "lease-expired"
    MAX_LIFETIME = "max-lifetime"
    CONTROL_PLANE_LOST = "control-plane-lost"
    ROW_MISSING = "row-missing"


def power_off_reason(
    now: float,
    row: InstanceRecord | None,
    last_contact: float,
    lease_minutes: float,
) -> PowerOff | None:
    """The agent's rule, checked after every renewal attempt. `row` is its last good read (None when the row
    does not exist); `last_contact` is when it last reached the table. An expired lease stops the machine
    even mid-job: the agent renews while jobs run, so a lapsed lease means the reaper will terminate it too."""
    from .records import InstanceState

    if now - last_contact >= lease_minutes * 60.0:
        return PowerOff.CONTROL_PLANE_LOST
    if row is None:
        return PowerOff.ROW_MISSING
    if row.mark:
        return PowerOff.MARKED
    if row.state is InstanceState.TERMINATING:
        return PowerOff.TERMINATING
    if row.state is InstanceState.CLOSED:
        return PowerOff.CLOSED
    if now >= row.max_until:
        return PowerOff.MAX_LIFETIME
    if is_expired(now, row.lease_until):
        return PowerOff.LEASE_EXPIRED
    return None
