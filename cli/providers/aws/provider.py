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
from ..held import Held, Obtained
from ..records import Instance, InstanceSpec, RecordedJob
from . import keys, remembered, reuse, warm_cache
from .held import AwsHeld
from .leases import LeaseKeeper, keep_lease, release_to_idle
from .lookups import Lookups

# acquire, listing, rows, userdata, instances, plane and ready are imported where they are used: a run on
# the machine this project remembers (warm_cache) needs none of them, nor the table records they import.
if TYPE_CHECKING:
    from weatherballoon.lambdas.records import InstanceRecord

    from ...config.loader import LoadedConfig
    from ...config.model import WbConfig
    from ...jobs.index import LocalJob
    from ...session.agent import RemoteAgent
    from ...session.connection import ConnectOptions
    from ...session.instance_connect import InstanceConnect
    from ...session.process import Session
    from ...session.streams import Stream
    from ...session.tunnel import TunnelEndpoint
    from ...sync.records import PullSummary
    from . import acquire
    from .plane import ControlPlane
    from .ready import Clock


class AwsProvider(Provider):
    name = "aws"
    # The agent's commands need only the stdlib; its daemon needs boto3: None is the boot venv's python.
    agent_python: ClassVar[str] = "python3"
    daemon_python: ClassVar[str | None] = None
    enforces_max_cost: ClassVar[bool] = True  # the daemon knows the instance's price
    stores_outputs: ClassVar[bool] = True
    launches_machines: ClassVar[bool] = True
    records_jobs: ClassVar[bool] = True

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
        self._held: dict[str, AwsHeld] = {}  # the machines this command works with, one record each
        self.lookups = Lookups(lambda: self.plane, config, self._now)

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
            say=self.say,
            boot_timeout_s=self._boot_timeout_s or acquire.BOOT_TIMEOUT_S,
        )

    # --- finding machines ----------------------------------------------------------------------------

    def acquire(self, spec: InstanceSpec) -> AwsHeld:
        """The project's remembered machine (not claimed yet: see Provider.acquire), else a warm one found by
        a lookup and claimed, else a new one."""
        if not spec.fresh:
            passed = {instance_id for instance_id, held in self._held.items() if held.let_go}
            entry = remembered.choose(self.loaded, spec, self._now(), passed)
            if entry is not None:
                margin = reuse.claim_margin(entry.idle_minutes)
                return self._hold(
                    AwsHeld(entry.instance(), Obtained.REMEMBERED, spec, claim_margin_s=margin, warm=entry)
                )
        from . import acquire

        found = acquire.acquire(self.context, spec)
        return self._hold(
            AwsHeld(
                self.lookups.to_instance(found.ec2, found.row),
                Obtained.LAUNCHED if found.launched else Obtained.FOUND,
                spec,
                claim=found.row.claim,
                claim_margin_s=reuse.claim_margin(self.plane.supervision.idle_minutes),
                item=found.ec2,
                row=found.row,
            )
        )

    def acquire_gang(self, spec: InstanceSpec, nodes: int) -> list[Held]:
        """N machines of one type in one zone (a cluster placement group where the type has one), by rank
        (the list's index is NODE_RANK): a warm gang claimed whole, else a new one launched all or nothing
        (gang_launch.py). Each record is an `AwsHeld` with `gang_id` and `gang_rank`; its spec carries the
        rank's share of the cost cap (providers/gang.py). `nodes` 1 is `acquire`."""
        from ..gang import rank_spec

        if nodes == 1:
            return [self.acquire(spec)]
        from .gang_launch import GANG_ID, acquire_gang, rank_of

        members = acquire_gang(self.context, spec, nodes)
        share = rank_spec(spec, nodes)
        margin = reuse.claim_margin(self.plane.supervision.idle_minutes)
        return [
            self._hold(
                AwsHeld(
                    self.lookups.to_instance(found.ec2, found.row),
                    Obtained.LAUNCHED if found.launched else Obtained.FOUND,
                    share,
                    claim=found.row.claim,
                    claim_margin_s=margin,
                    item=found.ec2,
                    row=found.row,
                    gang_id=str(found.row.extra.get(GANG_ID)),
                    gang_rank=rank_of(found.row),
                )
            )
            for found in members
        ]

    def let_go(self, held: Held) -> None:
        super().let_go(held)
        warm_cache.forget(held.id)

    def peer_address(self, instance: Instance) -> str:
        """The private address: a gang's own security group admits traffic between its members inside the VPC
        only, whatever address this laptop connects to."""
        held = self._held.get(instance.id)
        if held is not None and held.item is not None and held.item.private_ip:
            return held.item.private_ip
        return instance.target.host

    def _hold(self, held: AwsHeld) -> AwsHeld:
        self._held[held.id] = held
        return held

    def _holding(self, instance: Instance) -> AwsHeld:
        """The record of a machine this command works with; one it did not acquire is `Obtained.NAMED`."""
        held = self._held.get(instance.id)
        if held is None or held.let_go:
            held = self._hold(AwsHeld(instance, Obtained.NAMED))
        return held

    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        return self.lookups.instances(everyone=everyone)

    def resolve(self, instance_id: str) -> Instance:
        return self.lookups.resolve(instance_id)

    def instance_for_job(self, record: LocalJob) -> Instance:
        try:
            return self.resolve(record.instance_id)
        except UsageError:
            return Instance(id=record.instance_id, provider=self.name, target=record.target, state="terminated")

    # --- connecting ------------------------------------------------------------------------------------

    def connect_options(self, instance: Instance) -> ConnectOptions:
        from ...paths import data_dir
        from ...session.connection import ConnectOptions

        provisioner = self.config.provisioner
        known_hosts = data_dir() / "aws_known_hosts"  # never used: the row's fingerprint decides (below)
        # With connect unset, a machine this laptop launched with a launch key (public-ip or private-ip mode) is
        # reached with that key, with no AWS call first (a warm run's promise); any other asks the stack.
        launched_with_key = not provisioner.connect and keys.ephemeral_path(instance.id).is_file()
        # A remembered machine reached through the endpoint before: its endpoint as noted (no DescribeStacks, no
        # DescribeInstanceConnectEndpoints), so a warm keeper for it is found with no AWS call at all.
        noted = remembered.noted_tunnel(self._held.get(instance.id))
        if not launched_with_key and (noted is not None or self.plane.connect == "eice"):
            # A key pushed for this connection alone (or the seed's keyPair), through the stack's endpoint.
            identity = None
            if provisioner.key_pair:
                config_path = str(self.loaded.path) if self.loaded.path else None
                identity = str(keys.seed_key_path(provisioner.key_pair, provisioner.identity_file, config_path))
            return ConnectOptions(
                known_hosts=known_hosts,
                identity_file=identity,
                instance_connect=self._instance_connect(instance, noted),
            )
        config_path = str(self.loaded.path) if self.loaded.path else None
        identity_path = keys.identity_for(instance.id, provisioner.key_pair, provisioner.identity_file, config_path)
        # The host key is checked against the fingerprint the instance registered; known_hosts is never used.
        return ConnectOptions(known_hosts=known_hosts, identity_file=str(identity_path))

    def _instance_connect(self, instance: Instance, tunnel: TunnelEndpoint | None = None) -> InstanceConnect:
        from ...session.instance_connect import InstanceConnect

        plane = self.plane
        tunnel = tunnel or plane.tunnel_endpoint
        if (held := self._held.get(instance.id)) is not None:
            held.tunnel = tunnel  # noted with the machine, for the next run (remembered.py)
        return InstanceConnect(
            instance_id=instance.id,
            os_user=instance.target.username,
            private_ip=instance.target.host,
            tunnel=tunnel,
            push_key=not self.config.provisioner.key_pair,
            client=lambda: plane.aws.client("ec2-instance-connect"),
            credentials=lambda: plane.aws.boto.get_credentials().get_frozen_credentials(),
        )

    def verify_options(self, instance: Instance) -> ConnectOptions:
        from ...paths import data_dir
        from ...session.connection import ConnectOptions

        return ConnectOptions(known_hosts=data_dir() / "aws_known_hosts")  # the row's fingerprint decides

    def open_stream(self, instance: Instance) -> Stream:
        """The Instance Connect Endpoint's tunnel in eice mode, else direct TCP to the address
        `provisioner.connect` picks."""
        from ...session.connection import open_stream

        self._check_reachable(instance)
        return open_stream(instance.target, self.connect_options(instance))

    def session(self, instance: Instance, *, shared: bool = True) -> Session:
        self._check_reachable(instance)
        return super().session(instance, shared=shared)

    def _check_reachable(self, instance: Instance) -> None:
        if instance.state in ("shutting-down", "terminated", "stopped", "stopping") or not instance.target.host:
            raise ConnectError(f"{instance.id} is {instance.state}", hint="list machines with: wb status")
        if not instance.target.host_key_fingerprint:
            raise ConnectError(
                f"{instance.id} has not registered its SSH host key (state {instance.state})",
                hint="wait for it to finish booting, then try again; or end it with: wb down " + instance.id,
            )

    def agent(self, instance: Instance) -> RemoteAgent:
        """The agent, installed, with `current` pointing at it and its supervision daemon running."""
        agent = super().agent(instance)
        held = self._holding(instance)
        if not held.daemon_known_running:
            from .daemon import ensure_daemon

            ensure_daemon(agent, instance.id, self.daemon_python)
            held.daemon_ready = True
        return agent

    # --- supervision -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self, instance: Instance) -> Iterator[None]:
        from ...session.agent_jobs import may_be_running
        from .acquire import end_unreachable

        held = self._holding(instance)
        if held.how is Obtained.REMEMBERED:
            with self._attached_to_remembered(held):
                yield
            return
        row = self._own_row(instance)
        if row is None:
            yield
            return
        sup = self.plane.supervision
        keeper = self._keep_lease(held, (row.owner, row.instance_arn, row.max_until), sup.lease_minutes,
                                  sup.renew_interval_s)  # fmt: skip
        ended = False
        try:
            yield
        except ConnectError as exc:
            if self._never_reached(held, exc):
                keeper.stop()
                end_unreachable(self.plane, row, exc, self.say)
                ended = True
            raise
        finally:
            keeper.stop()
            # Back to the warm pool now, not at the agent's next pass, so a run right after this one reuses the
            # machine: taken but no job started (wb ssh, a run that failed before its job), or our job ended and
            # no other job runs there. The agent's daemon, woken by the job's end, does the same under the same
            # claim: whichever comes second changes nothing. A machine ended above is not released.
            unused = held.taken and not held.job_started
            finished = held.job_ended and not may_be_running(lambda: self.agent(instance))
            if not ended and keeper.refused is None and (unused or finished):
                released = release_to_idle(self.plane.store, row, sup.idle_minutes, self._now)
                if released or finished:
                    remembered.note(self.loaded, held, sup, self._now())

    def _never_reached(self, held: AwsHeld, exc: ConnectError) -> bool:
        """This command took the machine (launched or claimed it) and no SSH login to it ever succeeded."""
        from ...errors import ConnectionLost

        reached = self.connections.opened(held.id) or isinstance(exc, ConnectionLost)
        return held.taken and not reached

    @contextlib.contextmanager
    def _attached_to_remembered(self, held: AwsHeld) -> Iterator[None]:
        """As `attached`, without a table client unless the command outlives one renewal interval; the
        daemon, woken by the job's end, releases the machine."""
        entry = held.warm
        assert entry is not None
        keeper = self._keep_lease(held, (entry.owner, entry.instance_arn, entry.max_until), entry.lease_minutes,
                                  entry.renew_interval_s)  # fmt: skip
        try:
            yield
        finally:
            keeper.stop()
            if keeper.refused is not None:
                warm_cache.forget(held.id)
            elif not held.job_started and held.claim is not None:
                from ...session.claims import release

                release(self.agent(held.instance), held.claim)
                remembered.note(self.loaded, held, None, self._now())
            elif held.job_ended:
                remembered.note(self.loaded, held, None, self._now())

    def _keep_lease(
        self, held: AwsHeld, row: tuple[str, str, float], lease_minutes: float, interval_s: float
    ) -> LeaseKeeper:
        held.lease = keep_lease(lambda: self.plane.store, row, lease_minutes, interval_s, self._now, self.say, held.id)
        return held.lease

    def job_started(self, held: Held, record: LocalJob) -> None:
        if held.how is Obtained.REMEMBERED:  # the daemon writes the row (with the caps) when the job wakes it
            super().job_started(held, record)
            return
        row = self._own_row(held.instance)
        if row is None:
            return
        from .job_rows import put_job_row

        put_job_row(self.plane, row, record, held.spec or InstanceSpec(), self._now())
        super().job_started(held, record)

    def job_options(self, held: Held) -> list[str]:
        """The claim the job runs under (the daemon releases the machine after it only while the row is still
        under it) and its cost cap (recorded beside it, for the daemon and the job's row)."""
        options = []
        if held.claim is not None:
            options += ["--claim", held.claim]
        if held.spec is not None and held.spec.max_cost_usd is not None:
            options += ["--max-cost", f"{held.spec.max_cost_usd:g}"]
        return options

    def job_stopped_reason(self, instance: Instance) -> str | None:
        try:
            current = self.resolve(instance.id)
        except UsageError:
            return "the instance is gone"
        return current.reap_reason

    def terminate(self, instances: Sequence[Instance]) -> list[str]:
        return self.lookups.terminate(instances)

    def recorded_jobs(self, *, everyone: bool = False) -> list[RecordedJob]:
        from .job_listing import recorded_jobs

        return recorded_jobs(self.plane, everyone=everyone)

    def pull_from_storage(self, record: LocalJob, globs: list[str], destination: Path) -> PullSummary | None:
        from .job_rows import pull_from_storage

        return pull_from_storage(self.plane, record, globs, destination)

    def stored_upload_failure(self, record: LocalJob) -> str | None:
        from .job_rows import stored_upload_failure

        return stored_upload_failure(self.plane, record)

    # --- helpers ---------------------------------------------------------------------------------------

    def _own_row(self, instance: Instance) -> InstanceRecord | None:
        """The row of one of my instances (as this command took it or looked it up, else from the table);
        None otherwise."""
        held = self._held.get(instance.id)
        if held is not None and held.item is not None:
            return held.row if held.item.owner == self.plane.me.user_id else None
        return self.lookups.own_row(instance)
