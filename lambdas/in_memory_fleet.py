"""`Fleet` in memory, for unit tests of the reaper and for the offline sandbox.

`failing_ids` makes any TerminateInstances call that contains one of them fail, as EC2 fails a whole call
for one bad id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .decision import GONE_STATES, InstanceFacts
from .errors import FleetError
from .fleet import Fleet


class InMemoryFleet(Fleet):
    def __init__(self, instances: Iterable[InstanceFacts] = (), failing_ids: Iterable[str] = ()) -> None:
        self.instances: dict[str, InstanceFacts] = {i.instance_id: i for i in instances}
        self.failing_ids = set(failing_ids)
        self.calls: list[list[str]] = []

    def add(self, facts: InstanceFacts) -> None:
        self.instances[facts.instance_id] = facts

    def describe_managed(self) -> list[InstanceFacts]:
        return [i for i in self.instances.values() if i.managed and i.state != "terminated"]

    def _terminate_batch(self, ids: list[str]) -> list[str]:
        self.calls.append(list(ids))
        bad = self.failing_ids.intersection(ids)
        if bad:
            raise FleetError(f"refused {sorted(bad)}", operation="TerminateInstances", code="UnauthorizedOperation")
        for instance_id in ids:
            facts = self.instances.get(instance_id)
            if facts is not None and facts.state not in GONE_STATES:
                self.instances[instance_id] = dataclasses.replace(facts, state="shutting-down")
        return [i for i in ids if i in self.instances]

    def terminated_ids(self) -> set[str]:
        return {i for i, f in self.instances.items() if f.state in GONE_STATES}
