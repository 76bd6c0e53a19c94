"""The sandbox's EC2 Instance Connect Endpoint: the open-tunnel WebSocket on loopback, as the client meets it
on AWS (`cli/session/tunnel.py` has the protocol).

A tunnel opens only when its URL is signed (SigV4 in the query, `sigv4.py`) with a key the sandbox knows,
names this endpoint, asks for port 22 or 3389 of an address this endpoint may reach (its VPC's hosts), and
stays within `maxTunnelDuration` (1..3600 s) and the endpoint's concurrent connections. The tunnel then
copies bytes between binary messages and a TCP connection to the host, and ends when its duration is up.

`cut_after_s` ends every tunnel sooner, as a fault: a test tells the endpoint to cut tunnels after N
seconds (`--tunnel-max-seconds`, or at any moment by writing N into `cut_file`), and a client must come back
on a fresh tunnel without losing or repeating a byte. Tunnels are watched twice a second.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from weatherballoon.cli.session.tunnel import (
    MAX_CONNECTIONS_PER_ENDPOINT,
    MAX_TUNNEL_DURATION_S,
    OPERATION_PATH,
    SIGNING_NAME,
    SUPPORTED_PORTS,
)

from .sigv4 import SignatureRejected, verify_presigned

log = logging.getLogger("wb.sandbox.eice")
CHUNK = 1 << 16


@dataclass(frozen=True)
class TunnelRequest:
    private_ip: str
    port: int
    max_duration_s: int
    access_key: str


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SandboxEndpoint:
    """Serve `wss://localhost:PORT/openTunnel` on loopback (`ws://` without a TLS context, for tests)."""

    def __init__(
        self,
        endpoint_id: str,
        region: str,
        secrets: Mapping[str, str],
        reachable: Callable[[str], bool],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = MAX_CONNECTIONS_PER_ENDPOINT,
        tls: ssl.SSLContext | None = None,
        cut_file: Path | None = None,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.region = region
        self.secrets = secrets  # read on each request: new keys may appear
        self.reachable = reachable
        self.max_connections = max_connections
        self.cut_after_s: float | None = None
        self.group_id = ""  # its security group, the one source wb instances admit on port 22
        # Where a requested port really listens (tests run sshd on a free port, not 22).
        self.port_map: dict[int, int] = {}
        self.opened = 0  # tunnels opened since start, for tests and status
        self._active = 0
        self._lock = threading.Lock()
        self._bind = (host, port)
        self._tls = tls
        self.cut_file = cut_file
        self._open: dict[int, tuple[float, int, Callable[[], None]]] = {}  # id -> (opened, max s, expire)
        self._stopped = threading.Event()
        self._server: Any = None

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    @property
    def dns_name(self) -> str:
        """What DescribeInstanceConnectEndpoints says (the client makes `wss://<it>` of it)."""
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"wss://{self.dns_name}" if self._tls is not None else f"ws://127.0.0.1:{self.port}"

    def start(self) -> SandboxEndpoint:
        from websockets.sync.server import serve

        self._server = serve(
            self._handle,
            *self._bind,
            process_request=self._check,
            ssl=self._tls,
            compression=None,
            max_size=None,
            ping_interval=None,
            server_header="wb-sandbox-eice",
        )
        threading.Thread(target=self._server.serve_forever, name="eice-serve", daemon=True).start()
        threading.Thread(target=self._watch, name="eice-expiry", daemon=True).start()
        return self

    def _cut_after(self) -> float | None:
        if self.cut_file is not None:
            with contextlib.suppress(OSError, ValueError):
                return float(self.cut_file.read_text().strip())
        return self.cut_after_s

    def _watch(self) -> None:
        while not self._stopped.wait(0.5):
            cut = self._cut_after()
            now = time.monotonic()
            with self._lock:
                due = [
                    expire
                    for opened, longest, expire in self._open.values()
                    if now - opened >= (longest if cut is None else min(longest, cut))
                ]
            for expire in due:
                expire()

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()

    # -- the upgrade request --------------------------------------------------------------------------------

    def parse(self, path: str, headers: Mapping[str, str], now: float | None = None) -> TunnelRequest:
        """The tunnel a request asks for, or Refused with AWS's status for why not."""
        parts = urlsplit(path)
        if parts.path != OPERATION_PATH:
            raise Refused(HTTPStatus.NOT_FOUND, f"no such operation {parts.path}")
        try:
            signed = verify_presigned(
                "GET", parts.path, parts.query, headers, self.secrets, service=SIGNING_NAME, now=now
            )
        except SignatureRejected as exc:
            raise Refused(HTTPStatus.FORBIDDEN, f"signature rejected: {exc}") from None
        if signed.region != self.region:
            raise Refused(HTTPStatus.FORBIDDEN, f"signed for region {signed.region}, the endpoint is in {self.region}")
        params = signed.params
        if params.get("instanceConnectEndpointId") != self.endpoint_id:
            raise Refused(HTTPStatus.BAD_REQUEST, f"this is endpoint {self.endpoint_id}")
        try:
            port = int(params.get("remotePort", "22"))
            duration = int(params.get("maxTunnelDuration", str(MAX_TUNNEL_DURATION_S)))
        except ValueError:
            raise Refused(HTTPStatus.BAD_REQUEST, "remotePort and maxTunnelDuration are integers") from None
        if port not in SUPPORTED_PORTS:
            raise Refused(HTTPStatus.BAD_REQUEST, f"remotePort must be one of {SUPPORTED_PORTS}")
        if not 1 <= duration <= MAX_TUNNEL_DURATION_S:
            raise Refused(HTTPStatus.BAD_REQUEST, f"maxTunnelDuration must be 1..{MAX_TUNNEL_DURATION_S}")
        address = params.get("privateIpAddress", "")
        if not self.reachable(address):
            raise Refused(HTTPStatus.BAD_REQUEST, f"{address!r} is not an address in this endpoint's VPC")
        return TunnelRequest(address, port, duration, signed.access_key)

    def _check(self, connection: Any, request: Any) -> Any:
        try:
            self.parse(request.path, dict(request.headers.raw_items()))
        except Refused as exc:
            log.info("refused %s: %s", request.path.split("?")[0], exc)
            return connection.respond(exc.status, f"{exc}\n")
        with self._lock:
            if self._active >= self.max_connections:
                return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many open tunnels on this endpoint\n")
            self._active += 1
        return None

    # -- an open tunnel -------------------------------------------------------------------------------------

    def _handle(self, connection: Any) -> None:
        try:
            self._serve(connection)
        finally:
            with self._lock:
                self._active -= 1

    def _serve(self, connection: Any) -> None:
        request = self.parse(connection.request.path, dict(connection.request.headers.raw_items()))
        try:
            upstream = socket.create_connection(
                (request.private_ip, self.port_map.get(request.port, request.port)), timeout=5
            )
        except OSError as exc:
            connection.close(code=1011, reason=f"cannot reach {request.private_ip}:{request.port}: {exc}"[:120])
            return
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.opened += 1
        ended = threading.Event()
        with self._lock:
            self._open[id(connection)] = (
                time.monotonic(),
                request.max_duration_s,
                lambda: self._expire(connection, upstream, ended),
            )
        back = threading.Thread(target=self._to_client, args=(upstream, connection, ended), daemon=True)
        back.start()
        try:
            for message in connection:
                if isinstance(message, str):
                    break
                upstream.sendall(message)
        except Exception:  # the client went away (ConnectionClosed) or the host did
            pass
        ended.set()
        with self._lock:
            self._open.pop(id(connection), None)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)
        back.join(timeout=5)
        upstream.close()

    def _to_client(self, upstream: socket.socket, connection: Any, ended: threading.Event) -> None:
        try:
            while True:
                data = upstream.recv(CHUNK)
                if not data:
                    break
                connection.send(data)
        except Exception:
            pass
        if not ended.is_set():
            with contextlib.suppress(Exception):
                connection.close()

    def _expire(self, connection: Any, upstream: socket.socket, ended: threading.Event) -> None:
        """The tunnel's time is up: both sides end, as the endpoint ends a tunnel at maxTunnelDuration."""
        if ended.is_set():
            return
        log.info("tunnel expired (max tunnel duration)")
        ended.set()
        with self._lock:
            self._open.pop(id(connection), None)
        with contextlib.suppress(Exception):
            connection.close(code=1000, reason="max tunnel duration reached")
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_RDWR)


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
