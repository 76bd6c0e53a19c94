"""The `aws` provider: EC2 instances under the weatherballoon stack's supervision (docs/aws.md)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ...errors import ConnectError, UsageError
from ..base import Provider
from ..records import Instance, InstanceSpec
from . import acquire, keys, listing, rows, userdata
from .instances import Ec2Instance, describe
from .leases import LeaseKeeper, release_to_idle, row_renewer
from .plane import ControlPlane
from .ready import Clock

if TYPE_CHECKING:
    from weatherballoon.lambdas.records import InstanceRecord

    from ...config.loader import LoadedConfig
    from ...config.model import WbConfig
    from ...jobs.index import JobRecord
    from ...session.agent import RemoteAgent
    from ...session.connection import ConnectOptions, SshSession
    from ...sync.records import PullSummary

JOB_QUERY_THREADS = 8


class AwsProvider(Provider):
    name = "aws"
    agent_python: ClassVar[str] = userdata.VENV_PYTHON  # the agent's daemon needs boto3 from the boot venv

    def __init__(
        self,
        config: WbConfig,
        loaded: LoadedConfig,
        *,
        plane: ControlPlane | None = None,
        boot_source: Callable[[], str] = userdata.boot_program,
        boot_timeout_s: float = acquire.BOOT_TIMEOUT_S,
        clock: Clock | None = None,
        say: Callable[[str], None] = acquire.say_on_stderr,
    ) -> None:
        super().__init__(config, loaded)
        self._plane = plane
        self._boot_source = boot_source
        self._boot_timeout_s = boot_timeout_s
        self._clock = clock or Clock(now=time.time, sleep=time.sleep)
        self._say = say
        self._seen: dict[str, tuple[Ec2Instance, InstanceRecord | None]] = {}
        self._daemons: set[str] = set()
        self._claimed: set[str] = set()  # taken by this command (state busy)
        self._started: set[str] = set()  # a job was started there: its agent sets idle when it ends
        self._ended: set[str] = set()  # ...and that job ended while attached: release it on detach if idle
        self.leases: dict[str, LeaseKeeper] = {}

    @cached_property
    def plane(self) -> ControlPlane:
        return self._plane or ControlPlane(self.config, self.loaded)

    @cached_property
    def context(self) -> acquire.Context:
        return acquire.Context(
            plane=self.plane,
            boot_source=self._boot_source,
            clock=self._clock,
            say=self._say,
            boot_timeout_s=self._boot_timeout_s,
        )

    # --- finding machines ----------------------------------------------------------------------------

    def acquire(self, spec: InstanceSpec) -> Instance:
        found, row = acquire.acquire(self.context, spec)
        self._claimed.add(found.instance_id)
        return self._instance(found, row)

    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        from concurrent.futures import ThreadPoolExecutor

        plane = self.plane
        found = describe(plane.ec2, owner=None if everyone else plane.me.user_id)
        wanted = [(item.owner, self._arn(item)) for item in found if item.owner]
        table = rows.get_rows(plane.store, wanted)
        live = [item for item in found if not item.gone and self._arn(item) in table]
        with ThreadPoolExecutor(max_workers=JOB_QUERY_THREADS) as pool:
            found_jobs = pool.map(lambda i: rows.running_jobs(plane.store, i.owner, self._arn(i)), live)
            jobs = dict(zip([item.instance_id for item in live], found_jobs, strict=True))
        mine = {item.instance_id for item in found if item.owner == plane.me.user_id}
        for item in found:
            if item.gone and item.instance_id in mine:
                keys.forget(item.instance_id)
        return [self._instance(item, table.get(self._arn(item)), jobs.get(item.instance_id, ())) for item in found]

    def resolve(self, instance_id: str) -> Instance:
        found = describe(self.plane.ec2, ids=[instance_id]) if instance_id.startswith("i-") else []
        if not found:
            raise UsageError(f"no wb instance {instance_id!r} in {self.plane.region}", hint="list them with: wb status")
        item = found[0]
        row = None
        if item.owner:
            row = rows.get_rows(self.plane.store, [(item.owner, self._arn(item))]).get(self._arn(item))
        return self._instance(item, row)

    def instance_for_job(self, record: JobRecord) -> Instance:
        try:
            return self.resolve(record.instance_id)
        except UsageError:
            return Instance(id=record.instance_id, provider=self.name, target=record.target, state="terminated")

    # --- connecting ------------------------------------------------------------------------------------

    def connect_options(self, instance: Instance) -> ConnectOptions:
        from ...paths import data_dir
        from ...session.connection import ConnectOptions

        provisioner = self.config.provisioner
        config_path = str(self.loaded.path) if self.loaded.path else None
        identity = keys.identity_for(instance.id, provisioner.key_pair, provisioner.identity_file, config_path)
        # The host key is checked against the fingerprint the instance registered; known_hosts is never used.
        return ConnectOptions(known_hosts=data_dir() / "aws_known_hosts", identity_file=str(identity))

    def session(self, instance: Instance) -> SshSession:
        if instance.state in ("shutting-down", "terminated", "stopped", "stopping") or not instance.target.host:
            raise ConnectError(f"{instance.id} is {instance.state}", hint="list machines with: wb status")
        if not instance.target.host_key_fingerprint:
            raise ConnectError(
                f"{instance.id} has not registered its SSH host key (state {instance.state})",
                hint="wait for it to finish booting, then try again; or end it with: wb down " + instance.id,
            )
        return super().session(instance)

    def agent(self, instance: Instance) -> RemoteAgent:
        """The agent, installed, with `current` pointing at it and its supervision daemon running."""
        agent = super().agent(instance)
        if instance.id not in self._daemons:
            from ...session.agent import AGENT_DIR

            agent.ensure_installed()
            line = f'ln -sfn "{agent.path}" "{AGENT_DIR}/current" && ' + agent.command_line(["daemon", "--ensure"])
            status, _, err = agent.session.run(line)
            if status != 0:
                raise ConnectError(
                    f"the agent's supervision daemon did not start (exit {status}): "
                    f"{err.decode(errors='replace').strip()}",
                    host=instance.id,
                    hint="the machine keeps its lease only while a client or the daemon renews it; "
                    f"see `wb ssh {instance.id} -- cat ~/.weatherballoon/daemon.log`",
                )
            self._daemons.add(instance.id)
        return agent

    # --- supervision -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self, instance: Instance) -> Iterator[None]:
        row = self._own_row(instance)
        if row is None:
            yield
            return
        sup = self.plane.supervision

        def refused(reason: str) -> None:
            self._say(f"supervision is ending {instance.id}: {reason}")

        keeper = LeaseKeeper(
            row_renewer(self.plane.store, row, sup.lease_minutes, self._clock.now),
            sup.renew_interval_s,
            on_refused=refused,
            name=f"wb-lease-{instance.id}",
        ).start()
        self.leases[instance.id] = keeper
        try:
            yield
        finally:
            keeper.stop()
            # Back to the warm pool now, not at the agent's next pass (up to its renewal period later), so a
            # run right after this one reuses the machine: taken but no job started (wb ssh, a run that
            # failed before its job), or our job ended and no other job runs there.
            unused = instance.id in self._claimed and instance.id not in self._started
            finished = instance.id in self._ended and not self._jobs_running(instance)
            if (unused or finished) and keeper.refused is None:
                release_to_idle(self.plane.store, row, sup.idle_minutes, self._clock.now)

    def job_ended(self, instance: Instance, record: JobRecord) -> None:
        self._ended.add(instance.id)

    def _jobs_running(self, instance: Instance) -> bool:
        """Whether any job still runs on the machine; True when the agent cannot say (stay busy)."""
        import json

        from ...errors import WbError

        try:
            status, out, _ = self.agent(instance).run(["list"])
            jobs = json.loads(out or b"[]") if status == 0 else None
        except (WbError, ValueError):
            return True
        return jobs is None or any(job.get("state") == "running" for job in jobs)

    def job_started(self, instance: Instance, record: JobRecord, spec: InstanceSpec) -> None:
        from weatherballoon.lambdas.records import JobRecord as JobRow

        row = self._own_row(instance)
        if row is None:
            return
        job = JobRow(
            owner=row.owner,
            instance_arn=row.instance_arn,
            job_id=record.id,
            command=tuple(record.command),
            started_at=self._clock.now(),
            max_time_s=spec.max_time_s,
            max_cost_usd=spec.max_cost_usd,
        )
        rows.put_job(self.plane.store, job, record.outputs)
        self._started.add(instance.id)

    def job_stopped_reason(self, instance: Instance) -> str | None:
        try:
            current = self.resolve(instance.id)
        except UsageError:
            return "the instance is gone"
        return current.reap_reason

    def terminate(self, instances: Sequence[Instance]) -> list[str]:
        from ...aws.errors import translated

        plane = self.plane
        me = plane.me.user_id
        ids = [instance.id for instance in instances]
        for instance in instances:
            if instance.owner == me and (row := self._own_row(instance)) is not None and not row.closed:
                with rows.table_errors("mark the instance row"):
                    plane.store.mark_instance(row.owner, row.instance_arn, f"down by {me}")
        if ids:
            with translated(denied_hint="members may terminate only their own wb instances (admins: any)"):
                plane.ec2.terminate_instances(InstanceIds=ids)
        for instance_id in ids:
            keys.forget(instance_id)
        return ids

    def pull_from_storage(self, record: JobRecord, globs: list[str], destination: Path) -> PullSummary | None:
        from weatherballoon.lambdas.schema import instance_arn

        from . import storage

        plane = self.plane
        arn = instance_arn(plane.region, plane.me.account, record.instance_id)
        prefix = storage.job_prefix(plane.me.user_id, arn, record.id)
        return storage.pull(plane.s3, plane.bucket, prefix, globs, destination)

    # --- helpers ---------------------------------------------------------------------------------------

    def _arn(self, item: Ec2Instance) -> str:
        return item.arn(self.plane.region, self.plane.me.account)

    def _instance(self, item: Ec2Instance, row: InstanceRecord | None, jobs: tuple[str, ...] = ()) -> Instance:
        self._seen[item.instance_id] = (item, row)
        provisioner = self.config.provisioner
        return listing.to_instance(
            item,
            row,
            connect=provisioner.connect,
            username=provisioner.os.username,
            now=self._clock.now(),
            running_jobs=jobs,
        )

    def _own_row(self, instance: Instance) -> InstanceRecord | None:
        """The row of one of my instances (from this command's lookups, else the table); None otherwise."""
        seen = self._seen.get(instance.id)
        if seen is None:
            self.resolve(instance.id)
            seen = self._seen.get(instance.id)
        if seen is None or seen[0].owner != self.plane.me.user_id:
            return None
        return seen[1]
