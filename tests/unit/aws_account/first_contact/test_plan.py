"""The worst case is computed from the steps' deadlines before anything starts, and the cheapest machine
from the price table, the stack's allowed types and the region's offer."""

from __future__ import annotations

import pytest
from weatherballoon.cli.aws_account.first_contact.plan import (
    SERVICES_USD,
    Rate,
    Timing,
    cheapest_type,
    make_plan,
    refuse_over_cap,
)
from weatherballoon.cli.aws_account.first_contact.preflight import priced_types, template_allowed_types
from weatherballoon.cli.aws_account.template import shipped_template
from weatherballoon.cli.errors import UsageError

T3_MICRO = Rate("t3.micro", 0.0104, 8, public_ipv4=True)


def test_the_cheapest_type_is_priced_allowed_and_offered() -> None:
    priced = [("t3.nano", 0.0052), ("t3.micro", 0.0104), ("g5.xlarge", 1.006), ("m5.large", 0.096)]
    assert cheapest_type(priced, ["t3.micro", "g5.*"], {"t3.nano", "t3.micro", "g5.xlarge"}, "r") == (
        "t3.micro",
        0.0104,
    )
    # not offered in the region: the next cheapest allowed one
    assert cheapest_type(priced, ["t3.micro", "g5.*"], {"g5.xlarge"}, "r") == ("g5.xlarge", 1.006)
    # no allowed list: any priced type the region offers
    assert cheapest_type(priced, [], {"t3.nano", "m5.large"}, "r") == ("t3.nano", 0.0052)


def test_no_candidate_is_refused_naming_the_region() -> None:
    with pytest.raises(UsageError, match="offered in eu-west-9"):
        cheapest_type([("t3.micro", 0.01)], ["g5.*"], {"t3.micro"}, "eu-west-9")


def test_with_the_shipped_stack_and_prices_it_is_a_t3_micro() -> None:
    allowed = template_allowed_types(shipped_template())
    offered = {name for name, _ in priced_types("us-east-1")}
    assert cheapest_type(priced_types("us-east-1"), allowed, offered, "us-east-1") == ("t3.micro", 0.0104)


def test_the_worst_case_counts_every_deadline_every_possible_launch_and_the_services() -> None:
    timing = Timing(lease_s=60, idle_s=60)  # reaper every 60 s, boot 600 s, run 120 s, end 60 s
    plan = make_plan(timing, T3_MICRO, cap_usd=0.10)
    # first run 720 s x 1; reuse 120 s x 2; client killed (120 + 60 + 60 + 120 + 60) s x 2;
    # budget (600 + 120 + 180) s x 1
    assert [s.machine_s for s in plan.steps] == [720, 240, 840, 900]
    assert plan.launches == 4
    assert plan.worst_machine_s == 2700 + 4 * 60
    assert plan.worst_usd == pytest.approx(T3_MICRO.cost(2940) + SERVICES_USD)
    assert T3_MICRO.usd_hour == pytest.approx(0.0104 + 8 * 0.16 / 730 + 0.005)


def test_a_cap_below_the_worst_case_is_refused_showing_the_plan() -> None:
    gpu = Rate("g4dn.xlarge", 0.526, 75, public_ipv4=True)
    plan = make_plan(Timing(lease_s=60, idle_s=60), gpu, cap_usd=0.10)
    with pytest.raises(UsageError) as refused:
        refuse_over_cap(plan)
    text = refused.value.message
    assert f"${plan.worst_usd:.4f}" in text and "--spend-up-to $0.1" in text and "first run" in text
    refuse_over_cap(make_plan(Timing(lease_s=60, idle_s=60), T3_MICRO, cap_usd=0.10))  # within the cap: no error


def test_compressed_leases_shorten_the_waits_but_not_the_boot() -> None:
    timing = Timing(lease_s=6, idle_s=30)
    assert timing.job_cap_s == 6 and timing.target_s == 66 and timing.poll_s == 0.3
    assert make_plan(timing, T3_MICRO, 0.1).step("first run").deadline_s == 720
