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
from . import keys, reuse, warm_cache
from .leases import LeaseKeeper, release_to_idle, row_renewer

# acquire, listing, rows, userdata, instances, plane and ready are imported where they are used: a run on
# the machine this project remembers (warm_cache) needs none of them, nor the table records they import.
if TYPE_CHECKING:
    from weatherballoon.lambdas.meter import MeterRecord
    from weatherballoon.lambdas.records import InstanceRecord

    from ...config.loader import LoadedConfig
    from ...config.model import WbConfig
    from ...jobs.index import JobRecord
    from ...session.agent import RemoteAgent
    from ...session.connection import ConnectOptions, SshSession
    from ...session.prefetch import Prefetch
    from ...sync.records import PullSummary
    from . import acquire
    from .instances import Ec2Instance
    from .plane import ControlPlane
    from .ready import Clock

JOB_QUERY_THREADS = 8
# How long a run waits for the early connection to the machine it remembers before it looks the machine up
# instead: a machine that is gone does not answer at all (its address drops the SYN) until the connect timeout.
REMEMBERED_CONNECT_WAIT_S = 3.0


class AwsProvider(Provider):
    name = "aws"
    # The agent's commands need only the stdlib; its daemon needs boto3: None is the boot venv's python.
    agent_python: ClassVar[str] = "python3"
    daemon_python: ClassVar[str | None] = None
    enforces_max_cost: ClassVar[bool] = True  # the daemon knows the instance's price
    stores_outputs: ClassVar[bool] = True

    def __init__(
        self,
        config: WbConfig,
        loaded: LoadedConfig,
        *,
        plane: ControlPlane | None = None,
        boot_source: Callable[[], str] | None = None,
        boot_timeout_s: float | None = None,
        clock: Clock | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(config, loaded, say=say)
        self._plane = plane
        self._boot_source = boot_source
        self._boot_timeout_s = boot_timeout_s
        self._now = clock.now if clock is not None else time.time
        self._given_clock = clock
        self._say = self.say
        self._seen: dict[str, tuple[Ec2Instance, InstanceRecord | None]] = {}
        self._daemons: set[str] = set()
        self._claimed: set[str] = set()  # taken by this command (state busy)
        self._started: set[str] = set()  # a job was started there: its agent sets idle when it ends
        self._ended: set[str] = set()  # ...and that job ended while attached: release it on detach if idle
        self._remembered: dict[str, tuple[warm_cache.WarmEntry, InstanceSpec]] = {}  # chosen from warm_cache
        self._claims: dict[str, str] = {}  # instance id -> the claim this command holds it under
        self._spec_of: dict[str, InstanceSpec] = {}
        self.leases: dict[str, LeaseKeeper] = {}

    @cached_property
    def plane(self) -> ControlPlane:
        from .plane import ControlPlane

        return self._plane or ControlPlane(self.config, self.loaded)

    @cached_property
    def context(self) -> acquire.Context:
        from . import acquire, userdata
        from .ready import Clock

        return acquire.Context(
            plane=self.plane,
            boot_source=self._boot_source or userdata.boot_program,
            clock=self._given_clock or Clock(now=time.time, sleep=time.sleep),
            say=self._say,
            boot_timeout_s=self._boot_timeout_s or acquire.BOOT_TIMEOUT_S,
        )

    # --- finding machines ----------------------------------------------------------------------------

    def acquire(self, spec: InstanceSpec) -> Instance:
        remembered = None if spec.fresh else self._remembered_machine(spec)
        if remembered is not None:
            self._remembered[remembered.instance_id] = (remembered, spec)
            return remembered.instance()
        return self._acquire_by_lookup(spec)

    def _acquire_by_lookup(self, spec: InstanceSpec) -> Instance:
        from . import acquire

        found, row = acquire.acquire(self.context, spec)
        self._claimed.add(found.instance_id)
        self._spec_of[found.instance_id] = spec
        if row.claim:
            self._claims[found.instance_id] = row.claim
        return self._instance(found, row)

    def _warm_key(self, spec: InstanceSpec) -> str | None:
        import os

        from ...config.identity import identity_of

        identity = identity_of(self.loaded)
        if identity is None:
            return None
        return warm_cache.cache_key(identity, reuse.spec_hash(self.config, spec), os.environ)

    def _remembered_machine(self, spec: InstanceSpec) -> warm_cache.WarmEntry | None:
        """The machine this project's last run left warm, if it should still be warm and this laptop can open
        it; only a hint: `take` claims it through its daemon, or falls back to the lookup."""
        key = self._warm_key(spec)
        entry = warm_cache.lookup(key) if key else None
        if entry is None:
            return None
        # Its warm window may have been extended by runs of other projects: only its daemon knows (`take`).
        has_key = bool(self.config.provisioner.key_pair) or keys.ephemeral_path(entry.instance_id).is_file()
        if entry.max_until <= self._now() + reuse.claim_margin(entry.idle_minutes) or not has_key:
            return None
        return entry

    def take(self, instance: Instance, early: Prefetch | None = None) -> Instance:
        """A remembered machine is claimed through its daemon, over the connection the prefetch thread opened
        (no AWS call from here); when that does not work out, the full lookup chooses again."""
        remembered = self._remembered.get(instance.id)
        if remembered is None:
            return super().take(instance, early)
        entry, spec = remembered
        why: str | None
        if early is None:
            why = "no early connection was started"
        elif not self.adopt_early(instance, early, wait_s=REMEMBERED_CONNECT_WAIT_S):
            why = f"the early connection did not reach it within {REMEMBERED_CONNECT_WAIT_S:g} s"
        elif early.claimed is not None:  # the prefetch thread claimed it already, right after connecting
            self._took_claim(instance, early.claimed)
            return instance
        else:
            why = early.claim_refusal or self._claim_through_agent(instance, entry)
            if why is None:
                return instance
        del self._remembered[instance.id]
        warm_cache.forget(instance.id)
        session = self._sessions.pop(instance.id, None)
        self._agents.pop(instance.id, None)
        if session is not None:
            session.close()
        self._say(f"the last warm instance {instance.id} cannot be taken ({why}); looking again")
        return self._acquire_by_lookup(spec)

    def _claim_through_agent(self, instance: Instance, entry: warm_cache.WarmEntry) -> str | None:
        """Claim the machine's row through its daemon (when the early connection did not); None when taken,
        else why not."""
        from ...errors import WbError
        from ...session.claims import claim

        try:
            outcome = claim(self._agents[instance.id], reuse.claim_margin(entry.idle_minutes))
        except WbError as exc:
            return str(exc)
        if outcome.token is None:
            return outcome.refusal
        self._took_claim(instance, outcome.token)
        return None

    def _took_claim(self, instance: Instance, token: str) -> None:
        from ...trace import mark

        self._claims[instance.id] = token
        self._claimed.add(instance.id)
        self._daemons.add(instance.id)  # it answered the claim: its daemon runs
        mark("claimed through the agent")
        self._say(f"reusing warm instance {instance.id}")

    def early_claim_margin(self, instance: Instance) -> float | None:
        """The next run of this project claims this machine as soon as it has connected (see `take`)."""
        remembered = self._remembered.get(instance.id)
        idle_minutes = remembered[0].idle_minutes if remembered else self.plane.supervision.idle_minutes
        return reuse.claim_margin(idle_minutes)

    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        from concurrent.futures import ThreadPoolExecutor

        from . import rows
        from .instances import describe

        plane = self.plane
        found = describe(plane.ec2, owner=None if everyone else plane.me.user_id)
        wanted = [(item.owner, self._arn(item)) for item in found if item.owner]
        table = rows.get_rows(plane.store, wanted)
        meters = rows.get_meters(plane.store, [arn for _, arn in wanted])
        live = [item for item in found if not item.gone and self._arn(item) in table]
        with ThreadPoolExecutor(max_workers=JOB_QUERY_THREADS) as pool:
            found_jobs = pool.map(lambda i: rows.running_jobs(plane.store, i.owner, self._arn(i)), live)
            jobs = dict(zip([item.instance_id for item in live], found_jobs, strict=True))
        mine = {item.instance_id for item in found if item.owner == plane.me.user_id}
        for item in found:
            if item.gone and item.instance_id in mine:
                keys.forget(item.instance_id)
                warm_cache.forget(item.instance_id)
        return [
            self._instance(
                item, table.get(self._arn(item)), jobs.get(item.instance_id, ()), meters.get(self._arn(item))
            )
            for item in found
        ]

    def resolve(self, instance_id: str) -> Instance:
        from . import rows
        from .instances import describe

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
            from .userdata import VENV_PYTHON

            agent.ensure_installed()
            # The daemon alone needs boto3: it runs on the boot venv's python (and restarts itself with it).
            daemon = f'exec {self.daemon_python or VENV_PYTHON} -I "{agent.path}" daemon --ensure'
            line = f'ln -sfn "{agent.path}" "{AGENT_DIR}/current" && {daemon}'
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
        if instance.id in self._remembered:
            with self._attached_to_remembered(instance):
                yield
            return
        row = self._own_row(instance)
        if row is None:
            yield
            return
        sup = self.plane.supervision
        keeper = self._keep_lease(instance, (row.owner, row.instance_arn, row.max_until), sup.lease_minutes,
                                  sup.renew_interval_s)  # fmt: skip
        ended = False
        try:
            yield
        except ConnectError as exc:
            if self._never_reached(instance, exc):
                keeper.stop()
                self._end_unreachable(instance, row, exc)
                ended = True
            raise
        finally:
            keeper.stop()
            # Back to the warm pool now, not at the agent's next pass, so a run right after this one reuses the
            # machine: taken but no job started (wb ssh, a run that failed before its job), or our job ended and
            # no other job runs there. The agent's daemon, woken by the job's end, does the same under the same
            # claim: whichever comes second changes nothing. A machine ended above is not released.
            unused = instance.id in self._claimed and instance.id not in self._started
            finished = instance.id in self._ended and not self._jobs_running(instance)
            if not ended and keeper.refused is None and (unused or finished):
                released = release_to_idle(self.plane.store, row, sup.idle_minutes, self._now)
                if released or finished:
                    self._remember(instance, row.owner, row.instance_arn, row.max_until)

    def _never_reached(self, instance: Instance, exc: ConnectError) -> bool:
        """This command took the machine (launched or claimed it) and no SSH login to it ever succeeded."""
        from ...errors import ConnectionLost

        reached = instance.id in self._sessions or isinstance(exc, ConnectionLost)
        return instance.id in self._claimed and not reached

    def _end_unreachable(self, instance: Instance, row: InstanceRecord, exc: ConnectError) -> None:
        """A machine that does not accept our SSH login is of no use to anyone, and would only be taken again by
        the next run: it is ended (row marked, instance terminated), never handed back to the warm pool."""
        from .acquire import abandon

        abandon(self.plane, row, f"unreachable: {exc.message[:200]}")
        warm_cache.forget(instance.id)
        self._say(f"terminated {instance.id}: it did not accept the SSH login ({exc.message})")

    @contextlib.contextmanager
    def _attached_to_remembered(self, instance: Instance) -> Iterator[None]:
        """As `attached`, without a table client unless the command outlives one renewal interval; the
        daemon, woken by the job's end, releases the machine."""
        entry, _ = self._remembered[instance.id]
        keeper = self._keep_lease(instance, (entry.owner, entry.instance_arn, entry.max_until), entry.lease_minutes,
                                  entry.renew_interval_s)  # fmt: skip
        try:
            yield
        finally:
            keeper.stop()
            token = self._claims.get(instance.id)
            if keeper.refused is not None:
                warm_cache.forget(instance.id)
            elif instance.id not in self._started and token is not None:
                from ...session.claims import release

                release(self.agent(instance), token)
                self._remember(instance, entry.owner, entry.instance_arn, entry.max_until)
            elif instance.id in self._ended:
                self._remember(instance, entry.owner, entry.instance_arn, entry.max_until)

    def _keep_lease(
        self, instance: Instance, row: tuple[str, str, float], lease_minutes: float, interval_s: float
    ) -> LeaseKeeper:
        def refused(reason: str) -> None:
            self._say(f"supervision is ending {instance.id}: {reason}")

        keeper = LeaseKeeper(
            row_renewer(lambda: self.plane.store, row, lease_minutes, self._now),
            interval_s,
            on_refused=refused,
            name=f"wb-lease-{instance.id}",
        ).start()
        self.leases[instance.id] = keeper
        return keeper

    def _remember(self, instance: Instance, owner: str, instance_arn: str, max_until: float) -> None:
        """Leave a note for the next run of this project: this machine is (about to be) warm."""
        remembered = self._remembered.get(instance.id)
        spec = remembered[1] if remembered is not None else self._spec_of.get(instance.id)
        key = self._warm_key(spec) if spec is not None else None
        if key is None or not instance.target.host_key_fingerprint:
            return
        if remembered is not None:
            lease_minutes, idle_minutes = remembered[0].lease_minutes, remembered[0].idle_minutes
            interval_s = remembered[0].renew_interval_s
        else:
            sup = self.plane.supervision
            lease_minutes, idle_minutes, interval_s = sup.lease_minutes, sup.idle_minutes, sup.renew_interval_s
        entry = warm_cache.WarmEntry(
            instance_id=instance.id,
            target=instance.target,
            owner=owner,
            instance_arn=instance_arn,
            instance_type=instance.instance_type,
            max_until=max_until,
            idle_until=min(max_until, self._now() + idle_minutes * 60.0),
            lease_minutes=lease_minutes,
            idle_minutes=idle_minutes,
            renew_interval_s=interval_s,
        )
        warm_cache.remember(key, entry)

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

        from . import rows

        if instance.id in self._remembered:  # the daemon writes the row (with the caps) when the job wakes it
            self._started.add(instance.id)
            return
        row = self._own_row(instance)
        if row is None:
            return
        job = JobRow(
            owner=row.owner,
            instance_arn=row.instance_arn,
            job_id=record.id,
            command=tuple(record.command),
            started_at=self._now(),
            max_time_s=spec.max_time_s,
            max_cost_usd=spec.max_cost_usd,
        )
        rows.put_job(self.plane.store, job, record.outputs)
        self._started.add(instance.id)

    def job_options(self, instance: Instance, spec: InstanceSpec) -> list[str]:
        """The claim the job runs under (the daemon releases the machine after it only while the row is still
        under it) and its cost cap (recorded beside it, for the daemon and the job's row)."""
        options = []
        if instance.id in self._claims:
            options += ["--claim", self._claims[instance.id]]
        if spec.max_cost_usd is not None:
            options += ["--max-cost", f"{spec.max_cost_usd:g}"]
        return options

    def job_stopped_reason(self, instance: Instance) -> str | None:
        try:
            current = self.resolve(instance.id)
        except UsageError:
            return "the instance is gone"
        return current.reap_reason

    def terminate(self, instances: Sequence[Instance]) -> list[str]:
        from ...aws_account.errors import translated
        from . import rows

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
            warm_cache.forget(instance_id)
        return ids

    def pull_from_storage(self, record: JobRecord, globs: list[str], destination: Path) -> PullSummary | None:
        from weatherballoon.lambdas.schema import instance_arn

        from . import storage

        plane = self.plane
        arn = instance_arn(plane.region, plane.me.account, record.instance_id)
        prefix = storage.job_prefix(plane.me.user_id, arn, record.id)
        return storage.pull(plane.s3, plane.bucket, prefix, globs, destination)

    def stored_upload_failure(self, record: JobRecord) -> str | None:
        from weatherballoon.lambdas.schema import instance_arn

        from ...errors import WbError
        from . import rows, storage

        plane = self.plane
        try:
            arn = instance_arn(plane.region, plane.me.account, record.instance_id)
            with rows.table_errors("read job rows"):
                jobs = plane.store.get_jobs(plane.me.user_id, arn)
            row = next((job for job in jobs if job.job_id == record.id), None)
            if row is None or row.push_error is None:
                return None
            where = f"s3://{plane.bucket}/{storage.job_prefix(plane.me.user_id, arn, record.id)}"
        except (WbError, ValueError):
            return None
        return f"not uploaded to {where}: {row.push_error}"

    # --- helpers ---------------------------------------------------------------------------------------

    def _arn(self, item: Ec2Instance) -> str:
        return item.arn(self.plane.region, self.plane.me.account)

    def _instance(
        self,
        item: Ec2Instance,
        row: InstanceRecord | None,
        jobs: tuple[str, ...] = (),
        meter: MeterRecord | None = None,
    ) -> Instance:
        from . import listing

        self._seen[item.instance_id] = (item, row)
        provisioner = self.config.provisioner
        return listing.to_instance(
            item,
            row,
            connect=provisioner.connect,
            username=provisioner.os.username,
            now=self._now(),
            running_jobs=jobs,
            meter=meter,
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
