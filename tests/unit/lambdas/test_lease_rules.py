"""Lease rules shared by client, agent and reaper."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import lease
from weatherballoon.lambdas.lease import PowerOff, power_off_reason
from weatherballoon.lambdas.records import InstanceState

from .builders import T0, row


def test_renew_is_now_plus_lease() -> None:
    assert lease.renew(T0, 5) == T0 + 300
    assert lease.renew(T0, 0.5) == T0 + 30  # fractions allowed (sandbox compresses leases)


def test_renew_never_shortens_and_never_passes_max() -> None:
    assert lease.renew(T0, 5, current=T0 + 600) == T0 + 600
    assert lease.renew(T0, 5, max_until=T0 + 100) == T0 + 100
    assert lease.renew(T0, 5, current=T0 + 600, max_until=T0 + 400) == T0 + 400


def test_idle_lease_is_the_warm_window() -> None:
    assert lease.idle_lease(T0, 10) == T0 + 600
    assert lease.idle_lease(T0, 10, max_until=T0 + 60) == T0 + 60


def test_first_lease_and_lifetime() -> None:
    assert lease.first_lease(T0, 5, 24) == (T0 + 300, T0 + 86400)
    with pytest.raises(ValueError):
        lease.lifetime_end(T0, 0)
    with pytest.raises(ValueError):
        lease.renew(T0, -1)


def test_expiry_is_inclusive() -> None:
    assert not lease.is_expired(T0 + 299.999, T0 + 300)
    assert lease.is_expired(T0 + 300, T0 + 300)
    assert lease.seconds_left(T0 + 400, T0 + 300) == 0


def test_the_dead_man_deadline_is_the_lease_left_plus_a_minute_rounded_up() -> None:
    assert lease.deadman_seconds(T0, T0 + 300) == 360
    assert lease.deadman_seconds(T0, T0 + 300.2) == 361
    assert lease.deadman_seconds(T0 + 1000, T0) == 60  # a lapsed lease: the slack alone


@pytest.mark.parametrize(
    "now, record, last_contact, expected",
    [
        (T0 + 10, row(), T0 + 5, None),
        (T0 + 10, row(), T0 + 10 - 300, PowerOff.CONTROL_PLANE_LOST),
        (T0 + 10, None, T0 + 10, PowerOff.ROW_MISSING),
        (T0 + 10, row(mark="wb down"), T0 + 10, PowerOff.MARKED),
        (T0 + 10, row(state=InstanceState.TERMINATING), T0 + 10, PowerOff.TERMINATING),
        (T0 + 10, row(state=InstanceState.CLOSED), T0 + 10, PowerOff.CLOSED),
        (T0 + 86400, row(lease_until=T0 + 90000), T0 + 86400, PowerOff.MAX_LIFETIME),
        (T0 + 300, row(), T0 + 300, PowerOff.LEASE_EXPIRED),
    ],
)
def test_agent_power_off_rule(now: float, record: object, last_contact: float, expected: PowerOff | None) -> None:
    assert power_off_reason(now, record, last_contact, lease_minutes=5) == expected
