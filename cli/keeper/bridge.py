"""In the keeper: one exec channel joined to one command's streams, until the remote process ends.

The streams are either the command's own descriptors (passed over the socket) or frames on the socket
itself (the relay, `wire.py`). Either way stdout and stderr are copied as they arrive, byte for byte, their
ends are passed on, and only then the exit status: a reader that saw the status has all the output. When
the command goes away (its socket closes), the channel is closed, as when a command's own SSH connection
ends; the job on the machine runs on, detached, as always.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import wire

if TYPE_CHECKING:
    from paramiko import Channel

    from .remote_mux import VirtualChannel

CHUNK = 1 << 16


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Frames:
    """Frames sent from several threads: one lock, so they never interleave."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        with self._lock:
            wire.send_frame(self._conn, kind, payload)


def _copy_out(
    read: Callable[[int], bytes],
    write: Callable[[bytes], None],
    end: Callable[[], None],
    channel: Channel | VirtualChannel,
) -> None:
    try:
        while True:
            data = read(CHUNK)
            if not data:
                break
            write(data)
    except OSError:  # the command stopped reading (it closed, or died): nothing more is wanted
        channel.close()
    finally:
        with contextlib.suppress(OSError):
            end()


def _stdin_from_fd(fd: int, channel: Channel | VirtualChannel) -> None:
    try:
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            channel.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, EOFError):
            channel.shutdown_write()
        os.close(fd)


def _watch_command(conn: socket.socket, channel: Channel | VirtualChannel, relay: bool) -> None:
    """Read what the command sends after its request: stdin frames (relay), and in any case its end."""
    try:
        while True:
            frame = wire.recv_frame(conn)
            if frame is None:
                break
            kind, payload = frame
            if relay and kind == wire.STDIN:
                channel.sendall(payload)
            elif relay and kind == wire.STDIN_END:
                channel.shutdown_write()
    except (OSError, EOFError, wire.WireError):
        pass
    # The command is gone before the remote process ended: let go of it, as its own connection would.
    if not channel.exit_status_ready():
        channel.close()


def join(
    conn: socket.socket,
    channel: Channel | VirtualChannel,
    fds: list[int] | None,
    ended_by_endpoint: Callable[[], bool] = lambda: False,
) -> int:
    """Copy until the remote process ends; tell the command its exit status (-1: the link was lost, and
    whether an Instance Connect Endpoint ended its tunnel: the command then follows on, `jobs/resume.py`)."""
    relay = fds is None
    frames = _Frames(conn)
    if fds is not None:
        stdin_fd, stdout_fd, stderr_fd = fds
        threading.Thread(target=_stdin_from_fd, args=(stdin_fd, channel), daemon=True).start()
        outs = [
            (channel.recv, lambda data: _write_all(stdout_fd, data), lambda: os.close(stdout_fd)),
            (channel.recv_stderr, lambda data: _write_all(stderr_fd, data), lambda: os.close(stderr_fd)),
        ]
    else:
        outs = [
            (channel.recv, lambda data: frames.send(wire.STDOUT, data), lambda: frames.send(wire.STDOUT_END)),
            (channel.recv_stderr, lambda data: frames.send(wire.STDERR, data), lambda: frames.send(wire.STDERR_END)),
        ]
    threading.Thread(target=_watch_command, args=(conn, channel, relay), daemon=True).start()
    copiers = [threading.Thread(target=_copy_out, args=(*out, channel), daemon=True) for out in outs]
    for copier in copiers:
        copier.start()
    for copier in copiers:
        copier.join()
    status = _exit_status(channel)
    ended = status == -1 and ended_by_endpoint()
    with contextlib.suppress(OSError):
        frames.send(wire.CONTROL, json.dumps({"exit": status, "ended_by_endpoint": ended}).encode())
    return status


def _exit_status(channel: Channel | VirtualChannel) -> int:
    """The remote process's status; -1 when the channel closed without one (the link was lost)."""
    while not channel.exit_status_ready():
        if channel.closed:
            return -1
        channel.status_event.wait(0.5)
    return int(channel.recv_exit_status())
