"""What the daemon needs of its collaborators, as small Protocols: for the type checker only.

Every module imports this one under TYPE_CHECKING, never at run time (`typing` is no cost the agent pays),
so anything with these members will do: the real IMDS client or a test's, `poweroff.power_off` or a test's
recorder, `time.time` or a hand-moved clock. The table is the supervision store's own interface
(`lambdas.store.SupervisionStore`), whatever implements it (DynamoDB, in memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager

    from ...lambdas.records import InstanceRecord
    from ...lambdas.store import SupervisionStore
    from .agent_env import AgentEnv
    from .local_jobs import JobWatcher
    from .poweroff import CommandResult
    from .state import DaemonLog


class Clock(Protocol):
    """Epoch seconds now (`time.time`)."""

    def __call__(self) -> float: ...


class Metadata(Protocol):
    """The instance metadata service (`boot.Imds`)."""

    def get(self, path: str) -> str | None:
        """The value at `/latest/<path>`, None when there is none; OSError when the service cannot be reached."""
        ...


class PowerSwitch(Protocol):
    """Powers the machine off (`poweroff.power_off`)."""

    def __call__(self, reason: str, env: AgentEnv) -> CommandResult: ...


class ObjectStore(Protocol):
    """The calls `s3push` makes of an S3 client."""

    def head_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...

    def upload_file(self, Filename: str, Bucket: str, Key: str, ExtraArgs: dict[str, Any] | None = None) -> None: ...


class ClaimHost(Protocol):
    """What a claim through the daemon (`claims.ClaimService`) uses of the daemon: its table, its view of
    the jobs and of the row, its lock (a claim never interleaves with a pass), its clock and its log."""

    @property
    def env(self) -> AgentEnv: ...

    @property
    def store(self) -> SupervisionStore: ...

    @property
    def watcher(self) -> JobWatcher: ...

    @property
    def row(self) -> InstanceRecord | None: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def log(self) -> DaemonLog: ...
