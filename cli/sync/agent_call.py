"""One agent command in flight, seen through the `RemoteProcess` protocol (paramiko or subprocess).

stderr is drained on a thread from the start, so a chatty or failing agent can never block on a full
pipe while the client writes; failures become `SyncError`s that quote what the agent said. Lines the
agent meant for the user (`wb-agent: note: ...`) go to `notice` as they come.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from weatherballoon.remote.agent_io import NOTE_PREFIX, PREFIX, SYNC_FOREIGN_ROOT_EXIT, SYNC_REFUSED_ROOT_EXIT

from ..errors import ConnectionLost, SyncError, SyncRefused, WbError
from ..session.process import RemoteProcess

CONNECTION_LOST = -1
NOTE = NOTE_PREFIX.encode()


class AgentCall:
    def __init__(self, proc: RemoteProcess, command: str, *, notice: Callable[[str], None] | None = None) -> None:
        self.proc = proc
        self.command = command
        self._notice = notice
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._drain, name=f"wb-{command}-stderr", daemon=True)
        self._reader.start()
        self.status: int | None = None

    def _drain(self) -> None:
        seen = 0
        try:
            while (
                chunk := self.proc.stderr.read1(65536)
                if hasattr(self.proc.stderr, "read1")
                else self.proc.stderr.read(65536)
            ):
                self._stderr += chunk
                seen = self._pass_notes(seen)
        except (OSError, ValueError):
            pass

    def _pass_notes(self, seen: int) -> int:
        """Hand complete `wb-agent: note:` lines after offset `seen` to the notice callback; the new offset."""
        end = self._stderr.rfind(b"\n") + 1
        if self._notice is not None and end > seen:
            for line in bytes(self._stderr[seen:end]).splitlines():
                if line.startswith(NOTE):
                    self._notice(line[len(NOTE) :].decode(errors="replace"))
        return max(end, seen)

    @property
    def stderr_text(self) -> str:
        lines = self._stderr.decode(errors="replace").strip().splitlines()
        return "\n".join(line.removeprefix(PREFIX) for line in lines if not line.startswith(NOTE_PREFIX))

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

    def failure(self, what: str, *, hint: str | None = None) -> WbError:
        status = self.finish()
        if status == CONNECTION_LOST:
            return ConnectionLost(
                f"{what}: the connection was lost during `{self.command}`",
                hint="nothing is lost: run it again, and the sync picks up where it stopped",
            )
        detail = self.stderr_text.splitlines()
        said = "; ".join(detail[-5:]) if detail else "no message"
        if status == SYNC_REFUSED_ROOT_EXIT:
            return SyncRefused(
                said.split(": ", 1)[-1],
                hint="set sync.adirServer (or WB_ADIR_SERVER) to a folder of the project's own, such as ~/wb/<project>",
            )
        if status == SYNC_FOREIGN_ROOT_EXIT:
            return SyncRefused(
                said.split(": ", 1)[-1],
                hint="set sync.adirServer to a folder of this project's own; or take this one over with "
                "--sync-overwrite (the other project's files that this one does not have are left alone)",
            )
        return SyncError(f"{what}: `{self.command}` exited with status {status}: {said}", hint=hint)
