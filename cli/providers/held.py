"""`Held`: one machine a command holds, as `Provider.acquire` returns it and the run updates it.

Everything a command knows about a machine it took lives here, in one record: how it came by it, the claim
it holds it under, the spec it was chosen for, and what happened there (a job started, ended). Providers
with more to keep (aws: the row, the lease keeper) subclass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .records import Instance, InstanceSpec


class Obtained(Enum):
    """How a command came to hold a machine."""

    LAUNCHED = "launched"  # started for this command
    FOUND = "found"  # found warm by a lookup, and claimed
    # this project's last machine, chosen from a local note without looking; the session layer claims it
    # through its daemon (cli/session/warm_start.py), and gives it back to the provider (`let_go`) if it cannot
    REMEMBERED = "remembered"
    CONFIGURED = "configured"  # a host of the user's (ssh provider): nothing to claim
    NAMED = "named"  # named by the user (`wb ssh ID`, `wb logs -f JOB`): attached to, never claimed


@dataclass(eq=False)
class Held:
    instance: Instance
    how: Obtained
    spec: InstanceSpec | None = None
    # The token the machine is held under, once it is claimed (aws); None while unclaimed, or never claimed.
    claim: str | None = None
    # A later run of this project may claim this machine through its daemon as soon as it connects, wanting
    # this much lease left (seconds); None when machines of this provider need no claim.
    claim_margin_s: float | None = None
    job_started: bool = False  # a job was started there by this command
    job_ended: bool = False  # ...and ended while this command was attached to it
    let_go: bool = False  # this command will not use it after all (`Provider.let_go`)

    @property
    def id(self) -> str:
        return self.instance.id

    @property
    def taken(self) -> bool:
        """Launched or claimed by this command: it is this command's to give back."""
        return self.how is Obtained.LAUNCHED or self.claim is not None
