"""The spending meter: EC2's one-minute minimum, billing until a machine is seen ending, and the cap."""

from __future__ import annotations

import pytest
from weatherballoon.cli.aws_account.first_contact.meter import Machine, SpendingCapReached, check_cap, spent_usd
from weatherballoon.cli.aws_account.first_contact.plan import SERVICES_USD, Rate

RATE = Rate("t3.micro", 36.0, 8, public_ipv4=False)  # a price that makes a second cost a cent


def test_a_machine_is_billed_at_least_a_minute_and_until_it_was_seen_ending() -> None:
    short = Machine("i-1", "t3.micro", launched_at=1000.0, state="terminated", ended_at=1010.0)
    long = Machine("i-2", "t3.micro", launched_at=1000.0, state="shutting-down", ended_at=1100.0)
    live = Machine("i-3", "t3.micro", launched_at=1000.0, state="running")
    assert short.billed_s(now=5000) == 60
    assert long.billed_s(now=5000) == 100
    assert live.billed_s(now=1300) == 300
    assert spent_usd([short, long], RATE, now=5000) == pytest.approx(RATE.cost(160) + SERVICES_USD)


def test_the_cap_counts_what_ending_the_live_machines_still_costs() -> None:
    ended = Machine("i-1", "t3.micro", launched_at=0.0, state="terminated", ended_at=60.0)
    live = Machine("i-2", "t3.micro", launched_at=0.0, state="running")
    cost_now = RATE.cost(60) + RATE.cost(60) + SERVICES_USD
    check_cap([ended, live], RATE, now=60.0, cap=cost_now + RATE.cost(60), end_s=60.0)  # exactly enough
    with pytest.raises(SpendingCapReached) as stopped:
        check_cap([ended, live], RATE, now=60.0, cap=cost_now + RATE.cost(59), end_s=60.0)
    assert stopped.value.reserve == pytest.approx(RATE.cost(60))
    assert "cap" in stopped.value.message
    check_cap([ended], RATE, now=1e6, cap=RATE.cost(60) + SERVICES_USD, end_s=60.0)  # nothing live: no reserve
