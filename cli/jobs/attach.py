"""Attach to a running job's output: byte-exact stdout and stderr, stdin forwarding, Ctrl-C handling."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramiko import Channel

    from ..session.connection import RemoteExec

CHUNK = 1 << 16
DETACH_WINDOW_S = 2.0


@dataclass(frozen=True)
class AttachResult:
    status: int  # the job's exit code; -1 when the connection was lost
    detached: bool = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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


def _drain(channel: Channel, stdout_fd: int, stderr_fd: int) -> bool:
    moved = False
    while channel.recv_ready():
        _write_all(stdout_fd, channel.recv(CHUNK))
        moved = True
    while channel.recv_stderr_ready():
        _write_all(stderr_fd, channel.recv_stderr(CHUNK))
        moved = True
    return moved


def pump(
    proc: RemoteExec,
    *,
    forward_stdin_fd: int | None,
    on_first_interrupt: Callable[[], None],
    stdout_fd: int = 1,
    stderr_fd: int = 2,
) -> AttachResult:
    """Copy the job's streams until it ends. Ctrl-C once forwards SIGINT; twice within 2 s detaches."""
    channel = proc.channel
    if forward_stdin_fd is not None:
        threading.Thread(target=_forward_stdin, args=(channel, forward_stdin_fd), daemon=True).start()
    else:
        channel.shutdown_write()
    transport = channel.get_transport()
    last_interrupt: float | None = None
    while True:
        try:
            if _drain(channel, stdout_fd, stderr_fd):
                continue
            if channel.exit_status_ready() and channel.eof_received:
                _drain(channel, stdout_fd, stderr_fd)
                return AttachResult(status=channel.recv_exit_status())
            if channel.closed or transport is None or not transport.is_active():
                _drain(channel, stdout_fd, stderr_fd)
                status = channel.recv_exit_status() if channel.exit_status_ready() else -1
                return AttachResult(status=status)
            select.select([channel], [], [], 0.5)
        except KeyboardInterrupt:
            now = time.monotonic()
            if last_interrupt is not None and now - last_interrupt < DETACH_WINDOW_S:
                return AttachResult(status=-1, detached=True)
            last_interrupt = now
            on_first_interrupt()
