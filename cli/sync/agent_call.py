"""One agent command in flight, seen through the `RemoteProcess` protocol (paramiko or subprocess).

stderr is drained on a thread from the start, so a chatty or failing agent can never block on a full
pipe while the client writes; failures become `SyncError`s that quote what the agent said.
"""

from __future__ import annotations

import contextlib
import threading

from ..errors import SyncError
from ..session.process import RemoteProcess

CONNECTION_LOST = -1


class AgentCall:
    def __init__(self, proc: RemoteProcess, command: str) -> None:
        self.proc = proc
        self.command = command
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._drain, name=f"wb-{command}-stderr", daemon=True)
        self._reader.start()
        self.status: int | None = None

    def _drain(self) -> None:
        try:
            while chunk := self.proc.stderr.read(65536):
                self._stderr += chunk
        except (OSError, ValueError):
            pass

    @property
    def stderr_text(self) -> str:
        return self._stderr.decode(errors="replace").strip()

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the agent went away; its status says why
            self.proc.stdin.close()

    def send_all(self, data: bytes) -> bool:
        """Write `data` then EOF; False when the agent stopped reading (it has exited)."""
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.close_stdin()
            return False
        self.close_stdin()
        return True

    def read_stdout(self) -> bytes:
        try:
            return self.proc.stdout.read()
        except (OSError, ValueError):
            return b""

    def finish(self) -> int:
        """Wait for the exit status (and the last of stderr)."""
        if self.status is None:
            self.status = self.proc.wait()
            self._reader.join(timeout=5)
        return self.status

    def cancel(self) -> None:
        """Close stdin (an agent given nothing does nothing) and reap it in the background."""
        self.close_stdin()
        threading.Thread(target=self._reap, name=f"wb-{self.command}-reap", daemon=True).start()

    def _reap(self) -> None:
        try:
            self.read_stdout()
            self.finish()
        except Exception:  # the connection may be gone by now; there is nothing left to report
            pass

    def failure(self, what: str, *, hint: str | None = None) -> SyncError:
        status = self.finish()
        if status == CONNECTION_LOST:
            return SyncError(
                f"{what}: the connection was lost during `{self.command}`",
                hint=hint or "run it again: a sync picks up where it stopped",
            )
        detail = self.stderr_text.splitlines()
        said = "; ".join(detail[-5:]) if detail else "no message"
        return SyncError(f"{what}: `{self.command}` exited with status {status}: {said}", hint=hint)
