"""The hosts' way to the control plane: a TCP relay from the gateway address to the moto server.

moto listens on 127.0.0.1 only, which a host (its own network namespace) cannot reach. The relay listens on
the gateway address, the machine's end of every host's veth, on moto's port, and copies bytes both ways.
Its traffic crosses the veth, so cutting a host's link cuts its control plane too, as on a real network.
The address needs no interface yet (IP_FREEBIND): the first host brings it.
"""

from __future__ import annotations

import contextlib
import socket
import threading

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
CHUNK = 65536


class Relay:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen_address = listen
        self.target = target
        self._server: socket.socket | None = None
        self._stopped = threading.Event()

    def start(self) -> Relay:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        server.bind(self.listen_address)
        server.listen(128)
        self._server = server
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="relay-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=_pump, args=(upstream, client), name="relay-back", daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        client.close()
        upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until `source` ends, then pass the end on (half-close), so HTTP keep-alive and EOF both work."""
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
