"""The provider interface. Commands talk to this and to the records in `records`, never to a concrete provider."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from .records import Instance, InstanceSpec

if TYPE_CHECKING:
    from ..config.model import WbConfig


class Provider(ABC):
    """Finds or makes machines and says how to reach them.

    Subclasses are registered under the entry-point group `weatherballoon.providers`.
    """

    name: ClassVar[str]

    def __init__(self, config: WbConfig) -> None:
        self.config = config

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

    def job_stopped_reason(self, instance: Instance) -> str | None:
        """Why supervision took the machine away (budget, lease...), if it did. None when it did not."""
        return None
