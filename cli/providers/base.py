"""The provider interface. Commands talk to this and to the records in `records`, never to a concrete provider."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from ..session.pool import ConnectionPool
from .held import Held
from .records import UP_STATES, Instance, InstanceSpec, RecordedJob

if TYPE_CHECKING:
    from pathlib import Path

    from ..config.model import LoadedConfig, WbConfig
    from ..jobs.index import LocalJob
    from ..session.agent import RemoteAgent
    from ..session.connection import ConnectOptions, SshSession
    from ..session.streams import Stream
    from ..sync.records import PullSummary


class Provider(ABC):
    """Finds or makes machines and says how to reach them.

    `acquire` returns a `Held` record for the machine a job runs on; the job's lifecycle (`job_options`,
    `job_started`, `job_ended`, `let_go`) is told through that record. Connections live in `connections`,
    which the session layer may also fill (an early connection, cli/session/warm_start.py).

    Subclasses are registered under the entry-point group `weatherballoon.providers`.
    """

    name: ClassVar[str]

    # The remote interpreter that runs the agent; providers whose agent needs site-packages override it.
    agent_python: ClassVar[str] = "python3"
    # Whether a job's cost cap (--max-cost, supervision.maxCostUsd) is enforced: it needs a price per hour.
    enforces_max_cost: ClassVar[bool] = False
    # Whether the agent uploads each job's outputs to storage (its `push` note says how that went).
    stores_outputs: ClassVar[bool] = False
    # Whether `acquire` may start a new (billed) machine; `wb ssh` then never calls it unasked.
    launches_machines: ClassVar[bool] = False

    def __init__(self, config: WbConfig, loaded: LoadedConfig, *, say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.loaded = loaded
        # How the provider tells the user what it is doing (launching, reusing): the App's notices, which
        # --quiet silences; stderr when none is given.
        self.say: Callable[[str], None] = say or say_on_stderr
        self.connections = ConnectionPool()

    def connect_options(self, instance: Instance) -> ConnectOptions:
        """How to authenticate and verify the host; the config's keys unless a provider knows better."""
        from pathlib import Path

        from ..session.connection import ConnectOptions

        provisioner = self.config.provisioner
        return ConnectOptions(
            known_hosts=Path(provisioner.known_hosts_file).expanduser(),
            host_key_policy=provisioner.host_key_policy,
            identity_file=provisioner.identity_file or instance.target.identity_file,
        )

    def verify_options(self, instance: Instance) -> ConnectOptions:
        """How the machine's host key is checked (`wb ssh-config` pins it so): `connect_options`, unless a
        provider can check it without the means to log in."""
        return self.connect_options(instance)

    def own_machines(self) -> list[Instance]:
        """My machines one may log in to now (`wb ssh-config`)."""
        return [instance for instance in self.list_instances() if instance.state in UP_STATES]

    def open_stream(self, instance: Instance) -> Stream:
        """A byte stream to the machine's sshd (port 22): what its SSH session runs over and what `wb proxy`
        relays. Direct TCP, or through the target's ProxyJump hops; a provider with a tunnel overrides it."""
        from ..session.connection import open_stream

        return open_stream(instance.target, self.connect_options(instance))

    def session(self, instance: Instance) -> SshSession:
        """One SSH connection per machine per command, opened on first use and then reused."""

        def open_session() -> SshSession:
            from ..session.connection import SshSession

            return SshSession.open(instance.target, self.connect_options(instance), stream=self.open_stream(instance))

        return self.connections.session(instance.id, open_session)

    def agent(self, instance: Instance) -> RemoteAgent:
        return self.connections.agent(instance.id, self.session(instance), self.agent_python)

    def close(self) -> None:
        self.connections.close()

    @abstractmethod
    def acquire(self, spec: InstanceSpec) -> Held:
        """Hold a machine to run one job on: a warm one if the spec allows, else a new one. A machine chosen
        from memory (`Obtained.REMEMBERED`) is not claimed yet: the session layer claims it through its
        daemon, or hands it back with `let_go` and acquires again."""

    def acquire_gang(self, spec: InstanceSpec, nodes: int) -> list[Held]:
        """Hold `nodes` machines for one job (`wb run --nodes N`), rank 0 first, all or none: a provider that
        cannot hold them all gives back any it took before it raises. One node is `acquire`."""
        if nodes == 1:
            return [self.acquire(spec)]
        from ..errors import UsageError

        raise UsageError(
            f"--nodes {nodes}: the {self.name} provider runs a job on one machine only",
            hint="run without --nodes, or use a provider that supports gangs (ssh, aws)",
        )

    def peer_address(self, instance: Instance) -> str:
        """The address the other machines of a gang reach this one at (MASTER_ADDR, WB_NODE_IPS): the SSH
        host by default; providers with a private network (aws) give that address instead."""
        return instance.target.host

    def let_go(self, held: Held) -> None:
        """This command will not use the machine `acquire` chose (it could not be claimed): forget it, close
        its connection; a later `acquire` in this command does not choose it again."""
        held.let_go = True
        self.connections.drop(held.id)

    @abstractmethod
    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        """Machines this provider knows of; `everyone` widens from the caller's to all owners'."""

    def resolve(self, instance_id: str) -> Instance:
        """Find one machine by id (a host label for ssh, an instance id for aws)."""
        from ..errors import UsageError

        for instance in self.list_instances(everyone=True):
            if instance.id == instance_id:
                return instance
        raise UsageError(f"no instance {instance_id!r}", hint="list them with: wb status")

    def instance_for_job(self, record: LocalJob) -> Instance:
        """The machine a recorded job ran on, as this provider reaches it now."""
        return record.instance()

    # Whether the provider records jobs where any laptop can read them (`recorded_jobs`).
    records_jobs: ClassVar[bool] = False

    def recorded_jobs(self, *, everyone: bool = False) -> list[RecordedJob]:
        """Jobs its control plane recorded: mine, or with `everyone` the team's; [] when it keeps none."""
        return []

    def pull_from_storage(self, record: LocalJob, globs: list[str], destination: Path) -> PullSummary | None:
        """Outputs from durable storage when the machine is gone; None when this provider keeps none."""
        return None

    def stored_upload_failure(self, record: LocalJob) -> str | None:
        """Why the agent's last upload of the job's outputs failed, as the control plane recorded it (it
        outlives the machine); None when it went through, is not recorded, or this provider keeps no copy."""
        return None

    def terminate(self, instances: Sequence[Instance]) -> list[str]:
        """Stop spending on these machines; returns the ids acted on."""
        from ..errors import UsageError

        raise UsageError(
            f"the {self.name} provider does not stop machines",
            hint="these hosts are yours; stop their jobs with: wb ssh HOST -- kill ...",
        )

    @contextlib.contextmanager
    def attached(self, instance: Instance) -> Iterator[None]:
        """Held while a client is attached to the machine: providers with leases renew them here."""
        yield

    def job_options(self, held: Held) -> list[str]:
        """Extra options for the agent's `run` (see remote/jobs/commands.py), e.g. the claim a job runs under."""
        return []

    def job_started(self, held: Held, record: LocalJob) -> None:
        """A job is recorded locally and about to start on the held machine: providers with a control plane
        record it there too, with its caps (`held.spec.max_time_s`, `held.spec.max_cost_usd`)."""
        held.job_started = True

    def job_ended(self, held: Held, record: LocalJob) -> None:
        """The attached job ended (not lost, not detached): providers with a warm pool may release the
        machine to it now rather than when their agent next looks."""
        held.job_ended = True

    def job_stopped_reason(self, instance: Instance) -> str | None:
        """Why supervision took the machine away (budget, lease...), if it did. None when it did not."""
        return None


def say_on_stderr(message: str) -> None:
    import sys

    sys.stderr.write(f"wb: {message}\n")
    sys.stderr.flush()
