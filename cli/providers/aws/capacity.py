"""Finding capacity: spot in each zone (cheapest first), then on-demand in each zone, then a clear failure.

A capacity error (no such machines in that zone right now) moves on to the next zone. A quota error is
regional, so it ends that market at once: spot quota moves on to on-demand, on-demand quota fails. So does a
spot launch refused for the account's missing EC2 Spot service-linked role, with a notice saying why and how
an admin fixes it. Any other error is a real problem (permissions, a bad parameter) and stops the search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weatherballoon.lambdas.records import Market

from ...aws_account.errors import aws_error, error_code, error_message
from ...errors import ProvisionError

CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientFreeAddressesInSubnet",
        "SpotMaxPriceTooLow",
        "Unsupported",  # the type is not offered in that zone after all
        "InternalError",
        "Unavailable",
        "ServiceUnavailable",
    }
)
QUOTA_CODES = frozenset(
    {
        "InstanceLimitExceeded",
        "VcpuLimitExceeded",
        "MaxSpotInstanceCountExceeded",
        "SpotInstanceCountExceeded",
        "InsufficientVcpuLimit",
    }
)
QUOTA_URL = "https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas"
# A spot launch in an account without the EC2 Spot service-linked role, by a caller who may not create it.
SPOT_ROLE_MISSING = "AuthFailure.ServiceLinkedRoleCreationNotPermitted"
SPOT_ROLE_NOTICE = (
    "spot is not available in this account yet: it has no EC2 Spot service-linked role (AWSServiceRoleForEC2Spot) "
    "and you may not create it; launching on-demand instead (an admin creates the role once with: "
    "wb bootstrap --create-spot-role)"
)


@dataclass(frozen=True)
class Attempt:
    market: Market
    zone: str

    def __str__(self) -> str:
        return f"{self.market.value} in {self.zone}"


@dataclass(frozen=True)
class Failure:
    attempt: Attempt
    code: str
    message: str

    @property
    def quota(self) -> bool:
        return self.code in QUOTA_CODES


def plan_attempts(spot: bool, zones: Sequence[str], spot_prices: Mapping[str, float]) -> list[Attempt]:
    """Spot zones by price (unknown prices last), then on-demand zones in name order."""
    attempts: list[Attempt] = []
    if spot:
        ranked = sorted(zones, key=lambda zone: (spot_prices.get(zone, float("inf")), zone))
        attempts += [Attempt(Market.SPOT, zone) for zone in ranked]
    attempts += [Attempt(Market.ON_DEMAND, zone) for zone in sorted(zones)]
    return attempts


def search(
    attempts: Sequence[Attempt],
    launch: Callable[[Attempt], Any],
    *,
    say: Callable[[str], None],
    what: str,
    alternatives: Sequence[str] = (),
) -> tuple[Attempt, Any, list[Failure]]:
    """Run `launch` for each attempt until one succeeds; returns it, its result and what failed before."""
    from botocore.exceptions import ClientError

    failures: list[Failure] = []
    closed: set[Market] = set()
    announced = False
    for attempt in attempts:
        if attempt.market in closed:
            continue
        if (
            attempt.market is Market.ON_DEMAND
            and not announced
            and any(f.attempt.market is Market.SPOT for f in failures)
        ):
            tried = ", ".join(f.attempt.zone for f in failures if f.attempt.market is Market.SPOT)
            say(f"spot capacity unavailable in {tried}; falling back to on-demand")
            announced = True
        try:
            return attempt, launch(attempt), failures
        except ClientError as exc:
            code = error_code(exc)
            if code == SPOT_ROLE_MISSING and attempt.market is Market.SPOT:
                failures.append(Failure(attempt, code, error_message(exc)))
                closed.add(Market.SPOT)
                say(SPOT_ROLE_NOTICE)
                announced = True
                continue
            if code not in CAPACITY_CODES and code not in QUOTA_CODES:
                translated = aws_error(exc)
                raise ProvisionError(
                    f"cannot launch {what} ({attempt}): {translated.message}", hint=translated.hint
                ) from None
            failure = Failure(attempt, code, error_message(exc))
            failures.append(failure)
            if failure.quota:
                closed.add(attempt.market)
    raise exhausted(what, failures, alternatives)


def exhausted(what: str, failures: Sequence[Failure], alternatives: Sequence[str]) -> ProvisionError:
    if not failures:
        return ProvisionError(f"no availability zone to try for {what}", hint="try another region or type")
    tried = "; ".join(f"{f.attempt}: {f.code}" for f in failures)
    quota = [f for f in failures if f.quota]
    steps = []
    if quota:
        steps.append(f"raise the quota ({', '.join(sorted({f.code for f in quota}))}) at {QUOTA_URL}")
    else:
        steps.append(f"try again in a few minutes, or check your quotas at {QUOTA_URL}")
    if alternatives:
        steps.append(f"try another type: {', '.join(f'-t {name}' for name in alternatives)}")
    steps.append("or another region (provisioner.region)")
    return ProvisionError(f"could not launch {what}; tried {tried}", hint="; ".join(steps))
