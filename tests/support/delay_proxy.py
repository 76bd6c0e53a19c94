"""A TCP relay on loopback that adds a fixed one-way delay per direction (this kernel has no netem).

    with DelayProxy(("127.0.0.1", sshd_port), up_ms=25, down_ms=25) as proxy:
        ssh -p proxy.port ...     # +50 ms round trip

Each chunk is stamped when it is read and written once its stamp plus the delay has passed, so the link
keeps its throughput: chunks in flight wait together, not one after another. Per connection and direction a
reader thread stamps and queues, a writer thread sleeps until the head of the queue is due. The proxy closes
itself after `lifetime_s`, so a forgotten one cannot outlive its test by much.

Run alone: python -m tests.support.delay_proxy 127.0.0.1:2222 --up-ms 25 --down-ms 25
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import socket
import threading
import time
from types import TracebackType

CHUNK = 1 << 16
_EOF = b""


def _nodelay(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Connection:
    """Both directions of one relayed connection; the sockets close once both are done or either breaks."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.socks = (client, upstream)
        self._open_pipes = 2
        self._lock = threading.Lock()

    def pipe_done(self, *, broken: bool) -> None:
        with self._lock:
            self._open_pipes = 0 if broken else self._open_pipes - 1
            if self._open_pipes > 0:
                return
        self.close()

    def close(self) -> None:
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class _Pipe:
    """One direction of one connection: src -> (delay) -> dst."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay_s: float, conn: _Connection) -> None:
        self.src, self.dst, self.delay_s, self.conn = src, dst, delay_s, conn
        self.queue: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                data = self.src.recv(CHUNK)
                self.queue.put((time.monotonic() + self.delay_s, data))
                if not data:
                    return
        except OSError:
            self.queue.put((time.monotonic(), _EOF))

    def _write(self) -> None:
        try:
            while True:
                due, data = self.queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    self.conn.pipe_done(broken=False)
                    return
                self.dst.sendall(data)
        except OSError:
            self.conn.pipe_done(broken=True)


class DelayProxy:
    """Listens on `listen` (default an ephemeral loopback port) and relays to `target` with added delay."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        up_ms: float = 25.0,
        down_ms: float = 25.0,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        lifetime_s: float = 600.0,
    ) -> None:
        self.target = target
        self.up_s = up_ms / 1000
        self.down_s = down_ms / 1000
        self.lifetime_s = lifetime_s
        self._server = socket.create_server(listen)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.connections = 0

    @property
    def host(self) -> str:
        return str(self._server.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def start(self) -> DelayProxy:
        threading.Thread(target=self._accept_loop, daemon=True).start()
        timer = threading.Timer(self.lifetime_s, self.close)
        timer.daemon = True
        timer.start()
        return self

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._sockets += [client, upstream]
            self.connections += 1
        conn = _Connection(_nodelay(client), _nodelay(upstream))
        _Pipe(client, upstream, self.up_s, conn).start()
        _Pipe(upstream, client, self.down_s, conn).start()

    @property
    def closed(self) -> bool:
        """Closed, and no longer listening."""
        return self._closed.is_set() and self._server.fileno() == -1

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT to relay to")
    parser.add_argument("--up-ms", type=float, default=25.0, help="delay client -> target")
    parser.add_argument("--down-ms", type=float, default=25.0, help="delay target -> client")
    parser.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (default: any)")
    parser.add_argument("--lifetime-s", type=float, default=3600.0)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    proxy = DelayProxy(
        (host, int(port)),
        up_ms=args.up_ms,
        down_ms=args.down_ms,
        listen=("127.0.0.1", args.port),
        lifetime_s=args.lifetime_s,
    ).start()
    print(f"127.0.0.1:{proxy.port} -> {args.target} (+{args.up_ms:g} ms up, +{args.down_ms:g} ms down)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        proxy._closed.wait()


if __name__ == "__main__":
    main()
