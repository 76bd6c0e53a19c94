"""Notice a peer that stopped answering: a cut link, and also a host that still acknowledges TCP but whose
sshd no longer speaks (stopped, swapping, hung), which TCP_USER_TIMEOUT alone never notices.

Every `interval_s` a `keepalive@openssh.com` global request goes out with want_reply set: sshd answers it
(with a failure, as for any request it does not know) as soon as it reads it. The connection counts as
alive while anything at all arrives from the server, as OpenSSH's own ServerAliveInterval does: on a slow
link a reply may queue behind an upload, but the server's window adjustments keep arriving. When a request
has waited `reply_timeout_s` with nothing received since it was sent, the transport is closed, and every
reader on it sees the connection end (status -1), exactly as after a cut link.

`paramiko.Transport.global_request(wait=True)` waits without a deadline, so the request runs on a thread of
its own and a second thread keeps the deadline.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paramiko import Transport

KEEPALIVE_REQUEST = "keepalive@openssh.com"


class ReceiveClock:
    """A socket that notes when it last received bytes; handed to paramiko in place of the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.last_received = time.monotonic()

    def recv(self, size: int, *flags: int) -> bytes:
        data = self._sock.recv(size, *flags)
        if data:
            self.last_received = time.monotonic()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Heartbeat:
    def __init__(self, transport: Transport, clock: ReceiveClock, *, interval_s: float, reply_timeout_s: float) -> None:
        self._transport = transport
        self._clock = clock
        self._interval_s = interval_s
        self._reply_timeout_s = reply_timeout_s
        self._sent_at: float | None = None
        self._stop = threading.Event()
        self.silent_for_s: float | None = None  # set when the peer was declared lost

    def start(self) -> Heartbeat:
        threading.Thread(target=self._ask, name="wb-heartbeat", daemon=True).start()
        threading.Thread(target=self._watch, name="wb-heartbeat-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _ask(self) -> None:
        # The first request waits an interval too: a short command never sends one.
        while not self._stop.wait(self._interval_s) and self._transport.is_active():
            self._sent_at = time.monotonic()
            with contextlib.suppress(Exception):  # a dying transport: the watcher or the readers report it
                self._transport.global_request(KEEPALIVE_REQUEST, wait=True)
            self._sent_at = None

    def _watch(self) -> None:
        step = min(0.5, self._reply_timeout_s / 4)
        while not self._stop.wait(step):
            if not self._transport.is_active():
                return
            sent_at = self._sent_at
            if sent_at is None:
                continue
            silent_since = max(sent_at, self._clock.last_received)
            silent_for = time.monotonic() - silent_since
            if silent_for > self._reply_timeout_s:
                self.silent_for_s = silent_for
                self._transport.close()
                return
