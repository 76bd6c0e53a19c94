"""The provider interface. Commands talk to this and to the records in `records`, never to a concrete provider."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from .records import Instance, InstanceSpec

if TYPE_CHECKING:
    from pathlib import Path

    from ..config.model import LoadedConfig, WbConfig
    from ..jobs.index import JobRecord
    from ..session.agent import RemoteAgent
    from ..session.connection import ConnectOptions, SshSession
    from ..session.prefetch import Prefetch
    from ..sync.records import PullSummary


class Provider(ABC):
    """Finds or makes machines and says how to reach them.

    Subclasses are registered under the entry-point group `weatherballoon.providers`.
    """

    name: ClassVar[str]

    # The remote interpreter that runs the agent; providers whose agent needs site-packages override it.
    agent_python: ClassVar[str] = "python3"
    # Whether a job's cost cap (--max-cost, supervision.maxCostUsd) is enforced: it needs a price per hour.
    enforces_max_cost: ClassVar[bool] = False
    # Whether the agent uploads each job's outputs to storage (its `push` note says how that went).
    stores_outputs: ClassVar[bool] = False

    def __init__(self, config: WbConfig, loaded: LoadedConfig, *, say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.loaded = loaded
        # How the provider tells the user what it is doing (launching, reusing): the App's notices, which
        # --quiet silences; stderr when none is given.
        self.say: Callable[[str], None] = say or say_on_stderr
        self._sessions: dict[str, SshSession] = {}
        self._agents: dict[str, RemoteAgent] = {}

    def connect_options(self, instance: Instance) -> ConnectOptions:
        """How to authenticate and verify the host; the config's keys unless a provider knows better."""
        from pathlib import Path

        from ..session.connection import ConnectOptions

        provisioner = self.config.provisioner
        return ConnectOptions(
            known_hosts=Path(provisioner.known_hosts_file).expanduser(),
            host_key_policy=provisioner.host_key_policy,
            identity_file=provisioner.identity_file,
        )

    def session(self, instance: Instance) -> SshSession:
        """One SSH connection per machine per command, opened on first use and then reused."""
        from ..session.connection import SshSession

        existing = self._sessions.get(instance.id)
        if existing is not None and existing.alive:
            return existing
        session = SshSession.open(instance.target, self.connect_options(instance))
        self._sessions[instance.id] = session
        return session

    def adopt_agent(self, instance: Instance, agent: RemoteAgent) -> None:
        """Use a connection (and agent) opened elsewhere, e.g. early, for this machine."""
        self._sessions[instance.id] = agent.session
        self._agents[instance.id] = agent

    def agent(self, instance: Instance) -> RemoteAgent:
        from ..session.agent import RemoteAgent

        session = self.session(instance)
        agent = self._agents.get(instance.id)
        if agent is None or agent.session is not session:
            agent = RemoteAgent(session, python=self.agent_python)
            self._agents[instance.id] = agent
        return agent

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._agents.clear()

    @abstractmethod
    def acquire(self, spec: InstanceSpec) -> Instance:
        """Return a machine to run one job on: a warm one if the spec allows, else a new one."""

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

    def instance_for_job(self, record: JobRecord) -> Instance:
        """The machine a recorded job ran on, as this provider reaches it now."""
        return record.instance()

    def pull_from_storage(self, record: JobRecord, globs: list[str], destination: Path) -> PullSummary | None:
        """Outputs from durable storage when the machine is gone; None when this provider keeps none."""
        return None

    def stored_upload_failure(self, record: JobRecord) -> str | None:
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

    def take(self, instance: Instance, early: Prefetch | None = None) -> Instance:
        """Make the machine `acquire` chose this command's, adopting the early connection if it reaches it;
        returns the machine to use. Providers that choose from memory claim it here (and may choose another
        if that fails)."""
        self.adopt_early(instance, early)
        return instance

    def adopt_early(self, instance: Instance, early: Prefetch | None, wait_s: float | None = None) -> bool:
        """Use the connection the prefetch thread opened, if it reaches exactly this machine this way."""
        if early is None:
            return False
        agent = early.take(instance.target, self.connect_options(instance), self.agent_python, wait_s=wait_s)
        if agent is None:
            return False
        from ..trace import mark

        self.adopt_agent(instance, agent)
        mark("took the early connection")
        return True

    def early_claim_margin(self, instance: Instance) -> float | None:
        """Whether the next run's early connection to this machine should also claim it (and with what lease
        margin); None for machines that need no claim."""
        return None

    def job_options(self, instance: Instance, spec: InstanceSpec) -> list[str]:
        """Extra options for the agent's `run` (see remote/jobs/commands.py), e.g. the claim a job runs under."""
        return []

    def job_started(self, instance: Instance, record: JobRecord, spec: InstanceSpec) -> None:
        """A job is recorded locally and about to start on `instance`: providers with a control plane record
        it there too, with its caps (`spec.max_time_s`, `spec.max_cost_usd`)."""
        return None

    def job_ended(self, instance: Instance, record: JobRecord) -> None:
        """The attached job ended (not lost, not detached): providers with a warm pool may release the
        machine to it now rather than when their agent next looks."""
        return None

    def job_stopped_reason(self, instance: Instance) -> str | None:
        """Why supervision took the machine away (budget, lease...), if it did. None when it did not."""
        return None


def say_on_stderr(message: str) -> None:
    import sys

    sys.stderr.write(f"wb: {message}\n")
    sys.stderr.flush()
