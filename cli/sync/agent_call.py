"""One agent command in flight, seen through the `RemoteProcess` protocol (paramiko or subprocess).

stderr is drained on a thread from the start, so a chatty or failing agent can never block on a full
pipe while the client writes; failures become `SyncError`s that quote what the agent said. Lines the
agent meant for the user (`wb-agent: note: ...`) go to `notice` as they come.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from weatherballoon.remote.agent_io import (
    HANDOVER_LINE,
    NOTE_PREFIX,
    PREFIX,
    SYNC_FOREIGN_ROOT_EXIT,
    SYNC_REFUSED_ROOT_EXIT,
)

from ..errors import ConnectionLost, SyncError, SyncRefused, WbError
from ..session.process import RemoteProcess

CONNECTION_LOST = -1
NOTE = NOTE_PREFIX.encode()
HANDOVER = HANDOVER_LINE.encode()


class AgentCall:
    """`handover`: the agent goes on to a job after the sync (`sync-run`): stderr is read only up to
    `HANDOVER_LINE`, what came after it is kept for the job (`handover()`), and stdout is read exactly."""

    def __init__(
        self,
        proc: RemoteProcess,
        command: str,
        *,
        notice: Callable[[str], None] | None = None,
        handover: bool = False,
    ) -> None:
        self.proc = proc
        self.command = command
        self._notice = notice
        self._stderr = bytearray()
        self._handover = handover
        self._after_handover: bytes | None = None
        self._reader = threading.Thread(target=self._drain, name=f"wb-{command}-stderr", daemon=True)
        self._reader.start()
        self.status: int | None = None

    def _read_stderr(self) -> bytes:
        if self._handover:  # exactly what has come: the job's stderr must stay on the channel
            return bytes(self.proc.channel.recv_stderr(65536))  # type: ignore[attr-defined]
        stderr = self.proc.stderr
        return stderr.read1(65536) if hasattr(stderr, "read1") else stderr.read(65536)

    def _drain(self) -> None:
        seen = 0
        try:
            while chunk := self._read_stderr():
                self._stderr += chunk
                if self._handover and (at := self._stderr.find(HANDOVER)) >= 0:
                    self._after_handover = bytes(self._stderr[at + len(HANDOVER) :])
                    del self._stderr[at:]
                    self._pass_notes(seen)
                    return
                seen = self._pass_notes(seen)
        except (OSError, ValueError):
            pass
        except WbError:  # the agent could not be started (the first call's install): the caller's read says why
            pass

    def handover(self) -> bytes | None:
        """Once the agent handed over to the job: the job's stderr read so far (often none). None when the
        agent ended, or the link did, without handing over."""
        self._reader.join()
        return self._after_handover

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
