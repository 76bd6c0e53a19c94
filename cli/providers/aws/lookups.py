"""What EC2 and the supervision table say about machines, as one command looked them up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ...errors import UsageError
from ..records import Instance
from . import keys, warm_cache

if TYPE_CHECKING:
    from weatherballoon.lambdas.meter import MeterRecord
    from weatherballoon.lambdas.records import InstanceRecord

    from ...config.model import WbConfig
    from .instances import Ec2Instance
    from .plane import ControlPlane

JOB_QUERY_THREADS = 8


class Lookups:
    def __init__(self, plane: Callable[[], ControlPlane], config: WbConfig, now: Callable[[], float]) -> None:
        self._plane = plane  # built on first use: a run on a remembered machine never looks anything up
        self._config = config
        self._now = now
        self._seen: dict[str, tuple[Ec2Instance, InstanceRecord | None]] = {}

    def instances(self, *, everyone: bool = False) -> list[Instance]:
        from concurrent.futures import ThreadPoolExecutor

        from . import rows
        from .instances import describe

        plane = self._plane()
        found = describe(plane.ec2, owner=None if everyone else plane.me.user_id)
        wanted = [(item.owner, self.arn(item)) for item in found if item.owner]
        table = rows.get_rows(plane.store, wanted)
        meters = rows.get_meters(plane.store, [arn for _, arn in wanted])
        live = [item for item in found if not item.gone and self.arn(item) in table]
        with ThreadPoolExecutor(max_workers=JOB_QUERY_THREADS) as pool:
            found_jobs = pool.map(lambda i: rows.running_jobs(plane.store, i.owner, self.arn(i)), live)
            jobs = dict(zip([item.instance_id for item in live], found_jobs, strict=True))
        mine = {item.instance_id for item in found if item.owner == plane.me.user_id}
        for item in found:
            if item.gone and item.instance_id in mine:
                keys.forget(item.instance_id)
                warm_cache.forget(item.instance_id)
        return [
            self._seen_as(item, table.get(self.arn(item)), jobs.get(item.instance_id, ()), meters.get(self.arn(item)))
            for item in found
        ]

    def resolve(self, instance_id: str) -> Instance:
        from . import rows
        from .instances import describe

        plane = self._plane()
        found = describe(plane.ec2, ids=[instance_id]) if instance_id.startswith("i-") else []
        if not found:
            raise UsageError(f"no wb instance {instance_id!r} in {plane.region}", hint="list them with: wb status")
        item = found[0]
        row = None
        if item.owner:
            row = rows.get_rows(plane.store, [(item.owner, self.arn(item))]).get(self.arn(item))
        return self._seen_as(item, row)

    def own_row(self, instance: Instance) -> InstanceRecord | None:
        """The row of one of my instances, as looked up (looking it up now if it was not); None otherwise."""
        if instance.id not in self._seen:
            self.resolve(instance.id)
        item, row = self._seen[instance.id]
        return row if item.owner == self._plane().me.user_id else None

    def terminate(self, instances: Sequence[Instance]) -> list[str]:
        """Mark my machines' rows (so their agents and the reaper end them too), then terminate them all."""
        from ...aws_account.errors import translated
        from . import rows

        plane = self._plane()
        me = plane.me.user_id
        ids = [instance.id for instance in instances]
        for instance in instances:
            if instance.owner == me and (row := self.own_row(instance)) is not None and not row.closed:
                with rows.table_errors("mark the instance row"):
                    plane.store.mark_instance(row.owner, row.instance_arn, f"down by {me}")
        if ids:
            with translated(denied_hint="members may terminate only their own wb instances (admins: any)"):
                plane.ec2.terminate_instances(InstanceIds=ids)
        for instance_id in ids:
            keys.forget(instance_id)
            warm_cache.forget(instance_id)
        return ids

    def arn(self, item: Ec2Instance) -> str:
        plane = self._plane()
        return item.arn(plane.region, plane.me.account)

    def to_instance(
        self,
        item: Ec2Instance,
        row: InstanceRecord | None,
        jobs: tuple[str, ...] = (),
        meter: MeterRecord | None = None,
    ) -> Instance:
        from . import listing

        provisioner = self._config.provisioner
        return listing.to_instance(
            item,
            row,
            connect=self._plane().connect,
            username=provisioner.os.username,
            now=self._now(),
            running_jobs=jobs,
            meter=meter,
        )

    def _seen_as(
        self,
        item: Ec2Instance,
        row: InstanceRecord | None,
        jobs: tuple[str, ...] = (),
        meter: MeterRecord | None = None,
    ) -> Instance:
        self._seen[item.instance_id] = (item, row)
        return self.to_instance(item, row, jobs, meter)
