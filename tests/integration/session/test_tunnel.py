"""SSH through an EC2 Instance Connect Endpoint's open-tunnel WebSocket: the client (`session/tunnel.py`,
botocore's SigV4 signer, `websockets`' client) against the sandbox's endpoint (its own SigV4 check,
`websockets`' server) in front of a real sshd on loopback."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.credentials import Credentials
from weatherballoon.cli.errors import ConnectError
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session.connection import ConnectOptions, SshSession
from weatherballoon.cli.session.tunnel import (
    OPEN_ATTEMPTS,
    RETRY_PAUSE_S,
    TunnelEndpoint,
    open_tunnel,
    presigned_url,
)
from weatherballoon.sandbox.eice.endpoint import Refused, SandboxEndpoint, wait_until

from tests.support.sshd import SshdHost

REGION = "us-west-2"
GOOD = Credentials("AKIDSANDBOX", "sandbox-secret")


@pytest.fixture
def endpoint() -> Iterator[SandboxEndpoint]:
    server = SandboxEndpoint(
        "eice-0123456789abcdef0", REGION, {GOOD.access_key: GOOD.secret_key}, lambda ip: ip == "127.0.0.1"
    ).start()
    yield server
    server.stop()


def _where(endpoint: SandboxEndpoint) -> TunnelEndpoint:
    return TunnelEndpoint(id=endpoint.endpoint_id, region=REGION, url=endpoint.url)


def _session(sshd_host: SshdHost, endpoint: SandboxEndpoint, **tunnel_options: int) -> tuple[SshSession, object]:
    tunnel = open_tunnel(_where(endpoint), sshd_host.address, credentials=GOOD, **tunnel_options)
    target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name)
    options = ConnectOptions(known_hosts=sshd_host.known_hosts, identity_file=str(sshd_host.identity))
    return SshSession.open(target, options, sock=tunnel.sock), tunnel


def test_a_command_runs_through_the_tunnel_with_every_byte_intact(
    sshd_host: SshdHost, endpoint: SandboxEndpoint
) -> None:
    # The sandbox endpoint forwards to port 22; this sshd listens elsewhere, so the test points it there.
    endpoint_port_fix(endpoint, sshd_host.port)
    session, _tunnel = _session(sshd_host, endpoint)
    with session:
        payload = bytes(range(256)) * 8192  # 2 MiB of every byte value
        status, out, err = session.run("cat", stdin=payload)
        assert (status, err) == (0, b"")
        assert hashlib.sha256(out).digest() == hashlib.sha256(payload).digest() and len(out) == len(payload)
    assert endpoint.opened == 1


def endpoint_port_fix(endpoint: SandboxEndpoint, port: int) -> None:
    """Forward port 22 requests to `port` (the test sshd's), as a host's sshd listens on 22."""
    endpoint.port_map = {22: port}


def test_a_wrong_secret_is_refused_with_403_and_a_hint(sshd_host: SshdHost, endpoint: SandboxEndpoint) -> None:
    with pytest.raises(ConnectError, match=r"refused the tunnel \(HTTP 403\).*signature") as caught:
        open_tunnel(_where(endpoint), "127.0.0.1", credentials=Credentials(GOOD.access_key, "wrong"))
    assert caught.value.exit_code == 255 and "credentials" in (caught.value.hint or "")
    assert endpoint.opened == 0


def test_the_endpoint_refuses_what_aws_refuses(endpoint: SandboxEndpoint) -> None:
    where = _where(endpoint)
    host = where.url.split("//")[1]

    def parse(url: str, now: float | None = None) -> None:
        endpoint.parse(url.split(host, 1)[1], {"Host": host}, now=now)

    parse(presigned_url(where, "127.0.0.1", GOOD))  # accepted
    with pytest.raises(Refused, match="expired") as expired:
        parse(presigned_url(where, "127.0.0.1", GOOD), now=time.time() + 61)  # the URL lives 60 s
    assert expired.value.status == 403
    with pytest.raises(Refused, match="not an address in this endpoint's VPC") as elsewhere:
        parse(presigned_url(where, "10.9.9.9", GOOD))
    assert elsewhere.value.status == 400
    tampered = presigned_url(where, "127.0.0.1", GOOD).replace("remotePort=22", "remotePort=3389")
    with pytest.raises(Refused, match="signature does not match"):
        parse(tampered)
    other_region = TunnelEndpoint(id=where.id, region="eu-west-1", url=where.url)
    with pytest.raises(Refused, match="region"):
        parse(presigned_url(other_region, "127.0.0.1", GOOD))
    with pytest.raises(ValueError, match="ports"):
        presigned_url(where, "127.0.0.1", GOOD, port=80)
    with pytest.raises(ValueError, match=r"1\.\.3600"):
        presigned_url(where, "127.0.0.1", GOOD, max_duration_s=3601)


def test_the_endpoint_ends_a_tunnel_when_its_time_is_up(sshd_host: SshdHost, endpoint: SandboxEndpoint) -> None:
    endpoint_port_fix(endpoint, sshd_host.port)
    endpoint.cut_after_s = 1.5
    session, tunnel = _session(sshd_host, endpoint)
    with session:
        assert session.run("echo up")[:2] == (0, b"up\n")
        assert wait_until(lambda: not session.alive, 8.0)
    assert tunnel.ended_by_endpoint and "max tunnel duration" in tunnel.close_reason


def test_the_endpoint_serves_at_most_its_concurrent_connections(sshd_host: SshdHost) -> None:
    server = SandboxEndpoint("eice-1", REGION, {GOOD.access_key: GOOD.secret_key}, lambda ip: True, max_connections=1)
    server.start()
    try:
        endpoint_port_fix(server, sshd_host.port)
        first = open_tunnel(_where(server), "127.0.0.1", credentials=GOOD)
        with pytest.raises(ConnectError, match=r"HTTP 429") as caught:
            open_tunnel(_where(server), "127.0.0.1", credentials=GOOD)
        assert "20 open tunnels" in (caught.value.hint or "")
        first.close()
        assert wait_until(lambda: server._active == 0, 5.0)
        open_tunnel(_where(server), "127.0.0.1", credentials=GOOD).close()
    finally:
        server.stop()


class SilentOnce:
    """A TCP front for an endpoint: the first connection is accepted and never answered (a handshake that
    times out), later ones are relayed to the endpoint byte for byte."""

    def __init__(self, endpoint_port: int) -> None:
        self.endpoint_port = endpoint_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted == 1:
                self._held.append(conn)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.endpoint_port))
            for source, sink in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()
        for conn in self._held:
            conn.close()


def test_a_handshake_that_times_out_is_tried_once_more(sshd_host: SshdHost, endpoint: SandboxEndpoint) -> None:
    """A busy endpoint (seen under CI load: the sandbox's endpoint answered after the 10 s timeout) costs one
    retry, not the run."""
    endpoint_port_fix(endpoint, sshd_host.port)
    front = SilentOnce(endpoint.port)
    try:
        where = TunnelEndpoint(id=endpoint.endpoint_id, region=REGION, url=front.url)
        started = time.monotonic()
        tunnel = open_tunnel(where, sshd_host.address, credentials=GOOD, timeout_s=1.0)
        assert time.monotonic() - started >= 1.0 + RETRY_PAUSE_S
        target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name)
        options = ConnectOptions(known_hosts=sshd_host.known_hosts, identity_file=str(sshd_host.identity))
        with SshSession.open(target, options, sock=tunnel.sock) as session:
            assert session.run("echo through")[:2] == (0, b"through\n")
        assert front.accepted == 2 and endpoint.opened == 1
    finally:
        front.close()


def test_a_refusal_is_final_and_a_dead_endpoint_is_named_after_the_retry(endpoint: SandboxEndpoint) -> None:
    front = SilentOnce(endpoint.port)
    try:
        where = TunnelEndpoint(id=endpoint.endpoint_id, region=REGION, url=front.url)
        front.accepted = 1  # no silent first connection: every one reaches the endpoint
        with pytest.raises(ConnectError, match=r"HTTP 403"):
            open_tunnel(where, "127.0.0.1", credentials=Credentials(GOOD.access_key, "wrong"), timeout_s=1.0)
        assert front.accepted == 2  # one request: a 403 is not retried
    finally:
        front.close()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    nowhere = TunnelEndpoint(id=endpoint.endpoint_id, region=REGION, url=f"ws://127.0.0.1:{closed}")
    with pytest.raises(ConnectError, match=rf"cannot open a tunnel .*in {OPEN_ATTEMPTS} tries") as caught:
        open_tunnel(nowhere, "127.0.0.1", credentials=GOOD, timeout_s=1.0)
    assert "describe-instance-connect-endpoints" in (caught.value.hint or "")
