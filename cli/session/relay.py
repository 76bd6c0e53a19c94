"""`wb proxy`'s relay: stdin to the machine's sshd, the sshd's bytes to stdout, as an OpenSSH ProxyCommand."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

CHUNK = 65536


def relay(sock: Any, in_fd: int = 0, out_fd: int = 1) -> int:
    """Copy both ways until the machine's side ends; 0 then. stdin's end is passed on as a half-close."""

    def upstream() -> None:
        try:
            while data := os.read(in_fd, CHUNK):
                sock.sendall(data)
        except OSError:
            pass
        finally:
            _half_close(sock)

    threading.Thread(target=upstream, name="wb-proxy-up", daemon=True).start()
    try:
        while data := sock.recv(CHUNK):
            view = memoryview(data)
            while view:
                view = view[os.write(out_fd, view) :]
    except (BrokenPipeError, ConnectionResetError):
        pass  # ssh went away, or the machine's side was reset: the relay is over either way
    return 0


def _half_close(sock: Any) -> None:
    with contextlib.suppress(OSError, EOFError):
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.shutdown_write()  # a paramiko Channel (ProxyJump)
