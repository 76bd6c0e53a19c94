"""Attach to a running job's output: byte-exact stdout and stderr, stdin forwarding, Ctrl-C handling.

The agent's `run --follow` and `follow` put a stream header before the job's stdout
(`weatherballoon.remote.agent_io`); `pump` takes it off, and tells the caller whether it came: only
then is the exit status the job's own.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConnectError

if TYPE_CHECKING:
    from paramiko import Channel

    from ..session.connection import RemoteExec

CHUNK = 1 << 16
DETACH_WINDOW_S = 2.0


@dataclass(frozen=True)
class AttachResult:
    status: int  # the job's exit code (once `streamed`); -1 when the connection was lost
    detached: bool = False
    # The agent's stream header came: the job exists and the status is its own. Without it the status is an
    # agent protocol code (`agent_io`).
    streamed: bool = True
    # Our own stdout or stderr closed (EPIPE, `wb run ... | head -1`); the job may still be running.
    output_closed: bool = False
    # Without the header: what the agent said on stderr (held back, for the caller's error message).
    agent_stderr: bytes = b""
    # The job's bytes written to our stdout and stderr: where a follow resumes (`resume.py`).
    stdout_bytes: int = 0
    stderr_bytes: int = 0


class OutputClosed(Exception):
    """Writing to our stdout or stderr failed with EPIPE: whoever read it has gone."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except BrokenPipeError:
        raise OutputClosed() from None


class _HeaderGate:
    """Holds back stdout until the expected header has come whole, then lets the rest through. What a login
    shell's rc files print before the agent starts is dropped with it."""

    NOISE_LIMIT = 1 << 20

    def __init__(self, header: bytes | None) -> None:
        self._header = header
        self._held = b""
        self.passed = header is None
        # stderr before the header is the agent's (or the login shell's), not the job's: kept, not shown.
        self.stderr_held = b""
        self.stdout_bytes = 0
        self.stderr_bytes = 0

    def feed(self, data: bytes) -> bytes:
        if self.passed:
            return data
        assert self._header is not None
        self._held += data
        found = self._held.find(self._header)
        if found < 0:
            if len(self._held) > self.NOISE_LIMIT:
                raise ConnectError(
                    f"the machine printed {self.NOISE_LIMIT} bytes on stdout before the job's output began:"
                    f" {self._held[:60]!r}...",
                    hint="make the login shell's rc files (~/.bashrc) print nothing when not interactive",
                )
            return b""
        self.passed = True
        rest, self._held = self._held[found + len(self._header) :], b""
        return rest


def _forward_stdin(channel: Channel, source_fd: int) -> None:
    try:
        while True:
            data = os.read(source_fd, CHUNK)
            if not data:
                break
            channel.sendall(data)
    except OSError:
        pass  # the job ended or the link dropped: nothing more to forward
    finally:
        with contextlib.suppress(OSError):
            channel.shutdown_write()


def _drain(channel: Channel, stdout_fd: int, stderr_fd: int, gate: _HeaderGate) -> bool:
    moved = False
    while channel.recv_ready():
        data = gate.feed(channel.recv(CHUNK))
        if data:
            _write_all(stdout_fd, data)
            gate.stdout_bytes += len(data)
        moved = True
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(CHUNK)
        if gate.passed:
            if gate.stderr_held:
                data, gate.stderr_held = gate.stderr_held + data, b""
            _write_all(stderr_fd, data)
            gate.stderr_bytes += len(data)
        else:
            gate.stderr_held += data
        moved = True
    return moved


def _ended(gate: _HeaderGate, status: int, stderr_fd: int) -> AttachResult:
    if gate.passed:
        if gate.stderr_held:
            _write_all(stderr_fd, gate.stderr_held)
            gate.stderr_bytes += len(gate.stderr_held)
        return AttachResult(status=status, stdout_bytes=gate.stdout_bytes, stderr_bytes=gate.stderr_bytes)
    return AttachResult(status=status, streamed=False, agent_stderr=gate.stderr_held)


def pump(
    proc: RemoteExec,
    *,
    forward_stdin_fd: int | None,
    on_first_interrupt: Callable[[], None],
    stdout_fd: int = 1,
    stderr_fd: int = 2,
    header: bytes | None = None,
    held_stderr: bytes = b"",
) -> AttachResult:
    """Copy the job's streams until it ends. Ctrl-C once forwards SIGINT; twice within 2 s detaches.

    `header`: the bytes stdout must start with (taken off). `held_stderr`: stderr already read off the channel
    (`sync-run`'s handover), as if it came first. When our own stdout or stderr closes, returns at
    once with `output_closed`, the channel still open (the caller decides what becomes of the job).
    """
    channel = proc.channel
    gate = _HeaderGate(header)
    gate.stderr_held = held_stderr
    if forward_stdin_fd is not None:
        threading.Thread(target=_forward_stdin, args=(channel, forward_stdin_fd), daemon=True).start()
    else:
        channel.shutdown_write()
    transport = channel.get_transport()
    # A keeper's channel (keeper/client.py) is several local sockets: it says which to wait on.
    wait_on = getattr(channel, "wait_fds", lambda: [channel])
    last_interrupt: float | None = None
    while True:
        try:
            if _drain(channel, stdout_fd, stderr_fd, gate):
                continue
            if channel.exit_status_ready() and channel.eof_received:
                _drain(channel, stdout_fd, stderr_fd, gate)
                return _ended(gate, channel.recv_exit_status(), stderr_fd)
            if channel.closed or transport is None or not transport.is_active():
                _drain(channel, stdout_fd, stderr_fd, gate)
                return _ended(gate, channel.recv_exit_status() if channel.exit_status_ready() else -1, stderr_fd)
            select.select(wait_on(), [], [], 0.5)
        except OutputClosed:
            return AttachResult(status=-1, streamed=gate.passed, output_closed=True)
        except KeyboardInterrupt:
            now = time.monotonic()
            if last_interrupt is not None and now - last_interrupt < DETACH_WINDOW_S:
                return AttachResult(status=-1, detached=True)
            last_interrupt = now
            on_first_interrupt()
