"""Local port forwards (`wb ssh -L`, `wb run -p`): a listener on 127.0.0.1 only, each connection carried to
the machine in a direct-tcpip channel of the command's SSH connection, as `ssh -L` does.

Never on another address: a forward on 0.0.0.0 would hand the machine's port to anyone who can reach the
laptop. A bind address other than localhost is refused when the flag is parsed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from .connection import SshSession

LOOPBACK = "127.0.0.1"
LOCAL_NAMES = ("localhost", "127.0.0.1")
CHUNK = 65536
# When the command ends, the connections already carried may finish (the server's last reply is often still in
# flight as it exits), as `ssh` waits for its forwarded connections; those that move no byte for this long are cut.
DRAIN_IDLE_S = 5.0


@dataclass(frozen=True)
class ForwardSpec:
    local_port: int
    remote_host: str
    remote_port: int

    def __str__(self) -> str:
        return f"{LOOPBACK}:{self.local_port} -> {self.remote_host}:{self.remote_port}"


def parse_forward(text: str, flag: str = "-L") -> ForwardSpec:
    """`[localhost:]PORT:HOST:HOSTPORT`, as ssh's -L writes it (the bind address may only be localhost)."""
    parts = text.rsplit(":", 3) if text.count(":") >= 3 else text.split(":")
    if len(parts) == 4:
        bind, *parts = parts
        if bind.strip("[]") not in LOCAL_NAMES:
            raise UsageError(
                f"{flag} {text}: forwards listen on localhost only, not on {bind!r}",
                hint=f"drop the address: {flag} {':'.join(parts)}",
            )
    if len(parts) != 3 or not parts[1]:
        raise UsageError(f"{flag} {text!r} is not PORT:HOST:HOSTPORT", hint=f"e.g. {flag} 8888:localhost:8888")
    return ForwardSpec(_port(parts[0], text, flag), parts[1].strip("[]"), _port(parts[2], text, flag))


def same_port(text: str, flag: str = "-p") -> ForwardSpec:
    """`wb run -p PORT`: the machine's localhost:PORT on the laptop's 127.0.0.1:PORT."""
    port = _port(text, text, flag)
    return ForwardSpec(port, "localhost", port)


def _port(value: str, text: str, flag: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"{flag} {text}: {value!r} is not a port (1-65535)", hint=f"e.g. {flag} 8888:localhost:8888")
    return int(value)


class LocalForward:
    """One listener and the connections it carries; `close` ends them all."""

    def __init__(self, session: SshSession, spec: ForwardSpec, warn: Callable[[str], None]) -> None:
        self.session = session
        self.spec = spec
        self.warn = warn
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._open: set[Any] = set()
        self._carriers: set[threading.Thread] = set()
        self._last_moved = time.monotonic()
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> LocalForward:
        try:
            if hasattr(socket, "SO_REUSEADDR") and not _windows():
                self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((LOOPBACK, self.spec.local_port))
            self.listener.listen(16)
        except OSError as exc:
            self.listener.close()
            raise UsageError(
                f"cannot listen on {LOOPBACK}:{self.spec.local_port} for the forward {self.spec}: "
                f"{exc.strerror or exc}",
                hint="another program holds that port; pick another local one, e.g. -L 18888:localhost:8888",
            ) from None
        threading.Thread(target=self._accept, name=f"wb-forward-{self.spec.local_port}", daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return  # closed
            carrier = threading.Thread(target=self._carry, args=(conn, peer), daemon=True)
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._carriers.add(carrier)
            carrier.start()

    def _carry(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        try:
            self._carry_one(conn, peer)
        finally:
            with self._lock:
                self._carriers.discard(threading.current_thread())

    def _carry_one(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        spec = self.spec
        try:
            channel = self.session.transport.open_channel(
                "direct-tcpip",
                (spec.remote_host, spec.remote_port),
                peer,
                timeout=self.session.options.connect_timeout_s,
            )
        except Exception as exc:
            conn.close()
            self.warn(f"forward {spec}: the machine could not connect to {spec.remote_host}:{spec.remote_port} ({exc})")
            return
        with self._lock:
            if self._closed:
                channel.close()
                conn.close()
                return
            self._open.update((conn, channel))
        sender = threading.Thread(target=self._pump, args=(conn.recv, channel.sendall, channel.shutdown_write),
                                  daemon=True)  # fmt: skip
        sender.start()
        self._pump(channel.recv, conn.sendall, lambda: conn.shutdown(socket.SHUT_WR))
        sender.join()
        with self._lock:
            self._open.discard(conn)
            self._open.discard(channel)
        channel.close()
        conn.close()

    def _pump(self, read: Callable[[int], bytes], write: Callable[[bytes], Any], done: Callable[[], Any]) -> None:
        try:
            while data := read(CHUNK):
                write(data)
                self._last_moved = time.monotonic()
        except (OSError, EOFError):
            pass
        finally:
            with contextlib.suppress(Exception):
                done()

    def close(self, idle_s: float = DRAIN_IDLE_S) -> None:
        """Stop listening, let the connections already carried finish while bytes move, then cut the rest once
        none has moved for `idle_s`."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone may not
        with contextlib.suppress(OSError):
            self.listener.close()
        self._last_moved = max(self._last_moved, time.monotonic())
        while True:
            with self._lock:
                carriers = list(self._carriers)
            quiet_until = self._last_moved + idle_s
            if not carriers or time.monotonic() >= quiet_until:
                break
            carriers[0].join(min(0.5, max(0.0, quiet_until - time.monotonic())))
        with self._lock:
            self._closed = True
            ends = list(self._open)
            cut = len(self._carriers)
        for end in ends:
            with contextlib.suppress(Exception):
                end.close()
        if cut:
            self.warn(f"forward {self.spec}: closed {cut} connection(s) idle for {idle_s:g} s after the command ended")


@contextlib.contextmanager
def local_forwards(
    session: SshSession, specs: Sequence[ForwardSpec], say: Callable[[str], None], warn: Callable[[str], None]
) -> Iterator[list[LocalForward]]:
    started: list[LocalForward] = []
    try:
        for spec in specs:
            started.append(LocalForward(session, spec, warn).start())
            say(f"forwarding {spec}")
        yield started
    finally:
        for forward in started:
            forward.close()


def _windows() -> bool:
    import sys

    return sys.platform == "win32"
