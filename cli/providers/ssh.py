"""The `ssh` provider: machines the user already has, listed in `provisioner.hosts`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..config.model import HOST_PATTERN
from ..errors import ConfigError, ConnectError, WbError
from .base import Provider
from .held import Held, Obtained
from .records import Instance, InstanceSpec, SshTarget

if TYPE_CHECKING:
    from ..config.model import LoadedConfig, WbConfig


def parse_host(entry: str, default_user: str) -> SshTarget:
    match = HOST_PATTERN.match(entry)
    if not match:
        raise ConfigError(f"{entry!r} is not of the form user@host:port", key="provisioner.hosts")
    host = match["host"].strip("[]")
    return SshTarget(host=host, port=int(match["port"] or 22), username=match["user"] or default_user)


class SshProvider(Provider):
    name = "ssh"

    def __init__(self, config: WbConfig, loaded: LoadedConfig, *, say: Callable[[str], None] | None = None) -> None:
        super().__init__(config, loaded, say=say)
        if not config.provisioner.hosts:
            raise ConfigError(
                "the ssh provider needs at least one host",
                path=str(loaded.path) if loaded.path else None,
                key="provisioner.hosts",
                hint='add "hosts": ["user@host:22"] under "provisioner"',
            )
        default_user = config.provisioner.os.username
        self.targets = [parse_host(entry, default_user) for entry in config.provisioner.hosts]

    def _instance(self, target: SshTarget, **fields: object) -> Instance:
        return Instance(id=target.label, provider=self.name, target=target, **fields)  # type: ignore[arg-type]

    def acquire(self, spec: InstanceSpec) -> Held:
        return Held(self._choose(), Obtained.CONFIGURED, spec)

    def _choose(self) -> Instance:
        """The only host, or the reachable one running the fewest jobs."""
        if len(self.targets) == 1:
            return self._instance(self.targets[0])
        reachable = [item for item in self._probe_all() if item.state == "running"]
        if not reachable:
            raise ConnectError(
                f"none of the {len(self.targets)} hosts answered",
                hint="check provisioner.hosts and that sshd runs on them; `wb status` shows each host",
            )
        chosen = min(reachable, key=lambda item: len(item.running_jobs))
        for item in reachable:
            if item is not chosen:
                self.connections.drop(item.id)
        return chosen

    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        return self._probe_all()

    def resolve(self, instance_id: str) -> Instance:
        for target in self.targets:
            names = {target.label, target.host, f"{target.host}:{target.port}", f"{target.username}@{target.host}"}
            if instance_id in names:
                return self._instance(target)
        raise ConfigError(
            f"{instance_id!r} is not one of provisioner.hosts",
            hint="hosts: " + ", ".join(target.label for target in self.targets),
        )

    def _probe_all(self) -> list[Instance]:
        with ThreadPoolExecutor(max_workers=min(16, len(self.targets))) as pool:
            return list(pool.map(self._probe, self.targets))

    def _probe(self, target: SshTarget) -> Instance:
        from ..session.agent_jobs import list_jobs

        instance = self._instance(target)
        try:
            jobs = list_jobs(self.agent(instance))
        except WbError as exc:
            return self._instance(target, state="unreachable", reap_reason=exc.message)
        running = tuple(job.id for job in jobs or () if job.running)
        return self._instance(target, running_jobs=running)
