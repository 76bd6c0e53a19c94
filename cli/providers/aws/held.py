"""What the aws provider keeps of each machine a command holds: `Held`, plus its row and lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..held import Held, Obtained

if TYPE_CHECKING:
    from weatherballoon.lambdas.records import InstanceRecord

    from ...session.tunnel import TunnelEndpoint
    from .instances import Ec2Instance
    from .leases import LeaseKeeper
    from .warm_cache import WarmEntry


@dataclass(eq=False)
class AwsHeld(Held):
    item: Ec2Instance | None = None  # EC2's view, when it was looked up (not for a remembered machine)
    row: InstanceRecord | None = None  # its supervision row as this command took it (the claim included)
    warm: WarmEntry | None = None  # the note it was chosen from (`Obtained.REMEMBERED`)
    tunnel: TunnelEndpoint | None = None  # the Instance Connect Endpoint this command reached it through
    daemon_ready: bool = False  # the agent's supervision daemon is known to run on it
    lease: LeaseKeeper | None = None  # renews its lease while this command is attached
    gang_id: str | None = None  # the gang it belongs to (`acquire_gang`), whose rank `gang_rank` it is
    gang_rank: int | None = None

    @property
    def daemon_known_running(self) -> bool:
        """Started by this command, or it answered this command's claim (a remembered machine is claimed
        through its daemon)."""
        return self.daemon_ready or (self.how is Obtained.REMEMBERED and self.claim is not None)

    def row_key(self) -> tuple[str, str, float] | None:
        """(owner, instance arn, max_until) of its row, from the row or from the note; None when unknown."""
        if self.row is not None:
            return self.row.owner, self.row.instance_arn, self.row.max_until
        if self.warm is not None:
            return self.warm.owner, self.warm.instance_arn, self.warm.max_until
        return None
