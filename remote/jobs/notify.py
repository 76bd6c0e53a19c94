"""The notify pipe from a supervisor to the process that forked it: the job's start and end, at once.

Lines on the pipe (ASCII, each well under PIPE_BUF, so never torn):

    S <pid> [problem]\\n                     the job runs (pid 0: it could not start; problem: why, when the
                                            caller must report it, e.g. "too-long") and meta.json exists
    E <exit_code> <signal|-> <reason|->\\n   the job ended and status.json is written

End of file without an E line means the supervisor died.
"""

from __future__ import annotations

import contextlib
import os


def send_started(fd: int, job_pid: int | None, problem: str | None = None) -> None:
    _send(fd, f"S {job_pid or 0}" + (f" {problem}" if problem else "") + "\n")


def send_ended(fd: int, exit_code: int, signal: int | None, stop_reason: str | None) -> None:
    _send(fd, f"E {exit_code} {signal or '-'} {stop_reason or '-'}\n")


def _send(fd: int, line: str) -> None:
    # The caller may be gone (it detached, or was killed): then nobody is there to tell.
    with contextlib.suppress(OSError):
        os.write(fd, line.encode("ascii"))


class NotifyPipe:
    """The caller's end of the notify pipe: learns the job's pid, then its end, the moment they happen."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self.job_pid: int | None = None
        self.start_problem: str | None = None
        self.started = False
        self.exit_code: int | None = None
        self.stop_reason: str | None = None
        self._buffer = b""

    @property
    def ended(self) -> bool:
        return self.exit_code is not None

    def read(self) -> None:
        """One read; call when the fd is readable (or to block for the next message)."""
        chunk = os.read(self.fd, 512)
        if not chunk:
            self.close()
            return
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._take(line.decode("ascii").split())

    def _take(self, words: list) -> None:
        if words[0] == "S":
            self.started = True
            self.job_pid = int(words[1]) or None
            self.start_problem = words[2] if len(words) > 2 else None
        elif words[0] == "E":
            self.exit_code = int(words[1])
            self.stop_reason = None if words[3] == "-" else words[3]

    def wait_started(self) -> bool:
        """Block until the job runs (True) or the supervisor died before it could say so (False)."""
        while not self.started and not self.closed:
            self.read()
        return self.started

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
            self.closed = True
