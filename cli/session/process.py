"""The shape of a remote process as the sync client and the job client see it.

Both a paramiko exec channel (`session.RemoteExec`) and a local `subprocess.Popen` satisfy it, so the
sync and job code runs unchanged against a real sshd or a local agent.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..providers.records import SshTarget
    from .connection import RemoteExec


class RemoteProcess(Protocol):
    stdin: IO[bytes]  # close() sends EOF
    stdout: IO[bytes]
    stderr: IO[bytes]

    def wait(self) -> int:
        """Block until the process ends; return its exit status (-1 when the connection was lost)."""
        ...


class AgentRunner(Protocol):
    def __call__(self, args: list[str]) -> RemoteProcess:
        """Start `agent ARGS...` on the machine and return the running process."""
        ...


class Session(Protocol):
    """A connection to one machine that runs remote processes: `connection.SshSession`, or the connection
    keeper's (`keeper.client.KeeperSession`)."""

    target: SshTarget

    @property
    def alive(self) -> bool: ...

    @property
    def silent_for_s(self) -> float | None: ...

    def exec(self, command: str) -> RemoteExec: ...

    def run(self, command: str, *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]: ...

    def close(self) -> None: ...
