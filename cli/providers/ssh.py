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


def _why_not_free(instance: Instance) -> str:
    if instance.state != "running":
        return f"{instance.id} is unreachable ({instance.reap_reason or instance.state})"
    return f"{instance.id} is busy (running job {', '.join(instance.running_jobs)})"


def parse_host(entry: str, default_user: str) -> SshTarget:
    """A `provisioner.hosts` entry as ssh would read it: the name is looked up in ~/.ssh/config (HostName,
    User, Port, IdentityFile, ProxyJump); a user or port written in the entry wins over the config's."""
    from ..session.ssh_config import lookup

    match = HOST_PATTERN.match(entry)
    if not match:
        raise ConfigError(f"{entry!r} is not of the form user@host:port", key="provisioner.hosts")
    name = match["host"].strip("[]")
    settings = lookup(name)
    return SshTarget(
        host=settings.hostname,
        port=int(match["port"] or settings.port or 22),
        username=match["user"] or settings.user or default_user,
        alias=name if settings.hostname != name or settings.proxy_jump else None,
        identity_file=settings.identity_file,
        proxy_jump=settings.proxy_jump,
    )


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

    def acquire_gang(self, spec: InstanceSpec, nodes: int) -> list[Held]:
        """The first `nodes` hosts of provisioner.hosts that answer and run no job, in the order listed."""
        if nodes == 1:
            return [self.acquire(spec)]
        if nodes > len(self.targets):
            raise ConfigError(
                f"--nodes {nodes} needs {nodes} hosts, and provisioner.hosts lists {len(self.targets)}",
                path=str(self.loaded.path) if self.loaded.path else None,
                key="provisioner.hosts",
                hint=f"add hosts to provisioner.hosts, or run with --nodes {len(self.targets)} or fewer",
            )
        probed = self._probe_all()
        free = [item for item in probed if item.state == "running" and not item.running_jobs]
        if len(free) < nodes:
            problems = [_why_not_free(item) for item in probed if item not in free]
            raise ConnectError(
                f"--nodes {nodes}: only {len(free)} of the {len(self.targets)} hosts are reachable and idle; "
                + "; ".join(problems),
                hint="wait for those jobs to end (`wb jobs`), or fix the host (`wb status` shows each one)",
            )
        chosen = free[:nodes]
        for item in probed:
            if item not in chosen:
                self.connections.drop(item.id)
        return [Held(item, Obtained.CONFIGURED, spec) for item in chosen]

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

    def own_machines(self) -> list[Instance]:
        """The configured hosts, as they are (not probed: `wb ssh-config` reads their keys itself)."""
        return [self._instance(target) for target in self.targets]

    def list_instances(self, *, everyone: bool = False) -> list[Instance]:
        return self._probe_all()

    def resolve(self, instance_id: str) -> Instance:
        for target in self.targets:
            names = {target.label, target.host, f"{target.host}:{target.port}", f"{target.username}@{target.host}",
                     target.ssh_name}  # fmt: skip
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
