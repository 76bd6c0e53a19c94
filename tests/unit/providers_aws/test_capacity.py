"""Which attempts, in which order, and what each kind of error does (pure; errors are botocore's own)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.aws.capacity import Attempt, plan_attempts, search
from weatherballoon.lambdas.records import Market

ZONES = ["us-west-2c", "us-west-2a", "us-west-2b"]


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"}}, "RunInstances")


def test_spot_zones_cheapest_first_then_on_demand_by_name() -> None:
    plan = plan_attempts(True, ZONES, {"us-west-2b": 0.3, "us-west-2c": 0.2})
    assert [str(a) for a in plan] == [
        "spot in us-west-2c",
        "spot in us-west-2b",
        "spot in us-west-2a",
        "on-demand in us-west-2a",
        "on-demand in us-west-2b",
        "on-demand in us-west-2c",
    ]
    assert [a.market for a in plan_attempts(False, ZONES, {})] == [Market.ON_DEMAND] * 3


def run(plan: list[Attempt], answers: dict[str, str | None]) -> tuple[Attempt, list[str], list[str]]:
    said: list[str] = []
    tried: list[str] = []

    def launch(attempt: Attempt) -> str:
        tried.append(str(attempt))
        code = answers.get(str(attempt))
        if code:
            raise error(code)
        return "ok"

    chosen, result, _ = search(plan, launch, say=said.append, what="g5.xlarge in us-west-2")
    assert result == "ok"
    return chosen, tried, said


def test_capacity_moves_to_the_next_zone_and_spot_quota_to_on_demand() -> None:
    plan = plan_attempts(True, ["a", "b"], {})
    chosen, tried, said = run(plan, {"spot in a": "InsufficientInstanceCapacity", "spot in b": "SpotMaxPriceTooLow"})
    assert str(chosen) == "on-demand in a" and tried == ["spot in a", "spot in b", "on-demand in a"]
    assert said == ["spot capacity unavailable in a, b; falling back to on-demand"]
    chosen, tried, said = run(plan, {"spot in a": "MaxSpotInstanceCountExceeded"})
    assert tried == ["spot in a", "on-demand in a"]
    assert said == ["spot capacity unavailable in a; falling back to on-demand"]


def test_any_other_error_stops_the_search_with_what_aws_said() -> None:
    with pytest.raises(ProvisionError, match=r"cannot launch g5.xlarge in us-west-2 \(on-demand in a\): .*InvalidPar"):
        run(plan_attempts(False, ["a", "b"], {}), {"on-demand in a": "InvalidParameterValue"})


def test_nothing_left_names_every_attempt_and_what_to_do() -> None:
    said: list[str] = []

    def launch(attempt: Attempt) -> None:
        raise error("VcpuLimitExceeded" if attempt.market is Market.ON_DEMAND else "InsufficientInstanceCapacity")

    with pytest.raises(ProvisionError) as caught:
        search(
            plan_attempts(True, ["a", "b"], {}), launch, say=said.append, what="g5.xlarge", alternatives=["g6.xlarge"]
        )
    text = caught.value.render()
    assert (
        "tried spot in a: InsufficientInstanceCapacity; spot in b: InsufficientInstanceCapacity; on-demand in a: Vcpu"
        in text
    )
    assert "on-demand in b" not in text  # a regional quota: the other zone would say the same
    assert "raise the quota (VcpuLimitExceeded) at https://console.aws.amazon.com/servicequotas/" in text
    assert "-t g6.xlarge" in text and caught.value.exit_code == 255


def test_no_zone_at_all_is_an_error_too() -> None:
    with pytest.raises(ProvisionError, match="no availability zone to try"):
        search([], lambda attempt: None, say=print, what="g5.xlarge")


def test_a_missing_spot_service_linked_role_closes_spot_and_says_so_once() -> None:
    plan = plan_attempts(True, ZONES, {})
    missing = "AuthFailure.ServiceLinkedRoleCreationNotPermitted"
    chosen, tried, said = run(plan, {f"spot in {z}": missing for z in ZONES})
    assert str(chosen) == "on-demand in us-west-2a"
    assert tried == ["spot in us-west-2a", "on-demand in us-west-2a"]  # the role is account-wide: no other zone
    assert len(said) == 1 and "AWSServiceRoleForEC2Spot" in said[0] and "--create-spot-role" in said[0]


def test_the_same_refusal_for_on_demand_is_a_real_error() -> None:
    missing = "AuthFailure.ServiceLinkedRoleCreationNotPermitted"
    with pytest.raises(ProvisionError, match=r"cannot launch .*on-demand in us-west-2a"):
        run(plan_attempts(False, ZONES, {}), {"on-demand in us-west-2a": missing})
