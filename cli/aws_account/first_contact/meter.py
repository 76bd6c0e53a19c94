"""The spending meter: what the run's machines have cost so far, and the cap it must never pass.

A machine is billed from its EC2 launch time until it is seen shutting down (EC2 bills neither
`shutting-down` nor `terminated`), at least one minute per launch (EC2's minimum). While running, the run
stops as soon as what it has spent, plus what its live machines would cost until terminated, would pass
the cap; the teardown then ends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...errors import WbError
from .plan import SERVICES_USD, Rate

MINIMUM_BILLED_S = 60.0


@dataclass(frozen=True)
class Machine:
    """One instance of this run, as EC2 showed it. `ended_at`: when it was first seen ended (epoch s)."""

    instance_id: str
    instance_type: str
    launched_at: float
    state: str
    ended_at: float | None = None

    @property
    def live(self) -> bool:
        return self.ended_at is None

    def billed_s(self, now: float) -> float:
        end = self.ended_at if self.ended_at is not None else now
        return max(MINIMUM_BILLED_S, end - self.launched_at)


class SpendingCapReached(WbError):
    """The run stopped itself: going on would pass `--spend-up-to`."""

    def __init__(self, spent: float, reserve: float, cap: float) -> None:
        super().__init__(
            f"stopped before passing the spending cap: ${spent:.4f} spent, ${reserve:.4f} more to end the "
            f"machines still running, cap ${cap:g}",
            hint="the run was cut short, and its machines and stack are being removed",
        )
        self.spent = spent
        self.reserve = reserve
        self.cap = cap


def spent_usd(machines: Iterable[Machine], rate: Rate, now: float) -> float:
    return sum(rate.cost(m.billed_s(now)) for m in machines) + SERVICES_USD


def check_cap(machines: Iterable[Machine], rate: Rate, now: float, cap: float, end_s: float) -> None:
    """Raise SpendingCapReached when the spend so far plus ending every live machine would pass `cap`."""
    seen = list(machines)
    spent = spent_usd(seen, rate, now)
    reserve = sum(rate.cost(end_s) for m in seen if m.live)
    if spent + reserve > cap:
        raise SpendingCapReached(spent, reserve, cap)
