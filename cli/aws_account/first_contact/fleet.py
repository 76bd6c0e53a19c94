"""This run's machines, as EC2 shows them: every instance tagged `wb:managed=true` and `wb:team=<the run's
team>`, which only this run's stack grants. The watch remembers when each one was first seen ended; it is
also what the teardown terminates, so nothing outside the run is ever touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from weatherballoon.lambdas import tags

from ..errors import translated
from .meter import Machine

ENDED_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
LIVE_STATES = ("pending", "running", "stopping", "stopped")


class RunFleet:
    def __init__(self, ec2: Any, team: str, clock: Callable[[], float] = time.time) -> None:
        self.ec2 = ec2
        self.team = team
        self.clock = clock
        self.machines: dict[str, Machine] = {}

    def refresh(self) -> list[Machine]:
        """Describe the run's instances (every state) and update what is known of each."""
        filters = [tags.MANAGED_FILTER, {"Name": f"tag:{tags.TEAM}", "Values": [self.team]}]
        with translated(denied_hint="you need ec2:DescribeInstances"):
            pages = list(self.ec2.get_paginator("describe_instances").paginate(Filters=filters))
        seen_at = self.clock()
        for page in pages:
            for reservation in page.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    self._update(raw, seen_at)
        return list(self.machines.values())

    def _update(self, raw: dict[str, Any], seen_at: float) -> None:
        instance_id, state = raw["InstanceId"], raw["State"]["Name"]
        known = self.machines.get(instance_id)
        ended_at = known.ended_at if known is not None else None
        if ended_at is None and state in ENDED_STATES:
            ended_at = seen_at
        self.machines[instance_id] = Machine(
            instance_id=instance_id,
            instance_type=raw.get("InstanceType", ""),
            launched_at=raw["LaunchTime"].timestamp(),
            state=state,
            ended_at=ended_at,
        )

    def live(self) -> list[Machine]:
        return [m for m in self.machines.values() if m.live]

    def terminate_live(self) -> list[str]:
        """TerminateInstances for every machine of this run not yet seen ending; the ids it asked to end."""
        ids = sorted(m.instance_id for m in self.refresh() if m.live)
        if ids:
            with translated(denied_hint="you need ec2:TerminateInstances"):
                self.ec2.terminate_instances(InstanceIds=ids)
        return ids

    def all_terminated(self) -> bool:
        """Every machine of this run is `terminated` (its network interface released: the security group can go)."""
        return all(m.state == "terminated" for m in self.refresh())
