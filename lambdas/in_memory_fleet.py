"""`Fleet` in memory, for unit tests of the reaper and for the offline sandbox.

`failing_ids` makes any TerminateInstances call that contains one of them fail, as EC2 fails a whole call
for one bad id; `protected_ids` fail the same way with EC2's OperationNotPermitted until `allow_termination`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from .decision import GONE_STATES, InstanceFacts
from .errors import FleetError
from .fleet import PROTECTED, Fleet, SpotKey


class InMemoryFleet(Fleet):
    def __init__(
        self,
        instances: Iterable[InstanceFacts] = (),
        failing_ids: Iterable[str] = (),
        *,
        protected_ids: Iterable[str] = (),
        spot_price_table: Mapping[SpotKey, float] | None = None,
    ) -> None:
        self.instances: dict[str, InstanceFacts] = {i.instance_id: i for i in instances}
        self.failing_ids = set(failing_ids)
        self.protected_ids = set(protected_ids)
        self.spot_price_table = dict(spot_price_table or {})
        self.calls: list[list[str]] = []
        self.modified: list[tuple[str, str]] = []  # (instance id, what) for every ModifyInstanceAttribute

    def add(self, facts: InstanceFacts) -> None:
        self.instances[facts.instance_id] = facts

    def describe_managed(self) -> list[InstanceFacts]:
        return [i for i in self.instances.values() if i.managed and i.state != "terminated"]

    def _terminate_batch(self, ids: list[str]) -> list[str]:
        self.calls.append(list(ids))
        bad = self.failing_ids.intersection(ids)
        if bad:
            raise FleetError(f"refused {sorted(bad)}", operation="TerminateInstances", code="UnauthorizedOperation")
        protected = sorted(self.protected_ids.intersection(ids))
        if protected:
            message = f"The instance '{protected[0]}' may not be terminated. Modify its 'disableApiTermination'"
            raise FleetError(message, operation="TerminateInstances", code=PROTECTED)
        for instance_id in ids:
            facts = self.instances.get(instance_id)
            if facts is not None and facts.state not in GONE_STATES:
                self.instances[instance_id] = dataclasses.replace(facts, state="shutting-down")
        return [i for i in ids if i in self.instances]

    def terminated_ids(self) -> set[str]:
        return {i for i, f in self.instances.items() if f.state in GONE_STATES}

    def allow_termination(self, instance_id: str) -> None:
        self.modified.append((instance_id, "disableApiTermination=false"))
        self.protected_ids.discard(instance_id)

    def delete_volumes_on_termination(self, instance_id: str, device_names: Sequence[str]) -> None:
        self.modified.append((instance_id, "deleteOnTermination=true " + ",".join(device_names)))
        facts = self.instances[instance_id]
        kept = tuple(d for d in facts.volumes_kept_on_termination if d not in device_names)
        self.instances[instance_id] = dataclasses.replace(facts, volumes_kept_on_termination=kept)

    def spot_prices(self, wanted: Iterable[SpotKey]) -> dict[SpotKey, float]:
        return {key: self.spot_price_table[key] for key in wanted if key in self.spot_price_table}
