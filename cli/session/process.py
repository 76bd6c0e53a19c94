"""The shape of a remote process as the sync client and the job client see it.

Both a paramiko exec channel (`session.RemoteExec`) and a local `subprocess.Popen` satisfy it, so the
sync and job code runs unchanged against a real sshd or a local agent.
"""

from __future__ import annotations

from typing import IO, Protocol


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
