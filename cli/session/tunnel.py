"""A TCP stream to a machine's port 22 through an EC2 Instance Connect Endpoint (the `open-tunnel` protocol).

The endpoint is an identity-aware TCP proxy inside the VPC. A client opens a WebSocket to

    wss://<endpoint DnsName>/openTunnel?instanceConnectEndpointId=<id>&remotePort=22
        &privateIpAddress=<machine's private IPv4>&maxTunnelDuration=<seconds>

presigned with SigV4 in the query string (signing name `ec2-instance-connect`, the endpoint's region, the URL
valid for 60 s), and then every binary message carries the TCP stream's bytes, both ways. IAM decides with
`ec2-instance-connect:OpenTunnel` on the endpoint, its condition keys being the query's parameters
(`remotePort`, `privateIpAddress`, `maxTunnelDuration`). The endpoint ends a tunnel when its duration is up
(at most 3600 s) and serves at most `MAX_CONNECTIONS_PER_ENDPOINT` at once; a command holds one per machine,
and a job followed past the duration is resumed on a fresh tunnel (`jobs/attach.py`, `reconnect`).

The API, for paramiko and for `wb proxy`:

    tunnel = open_tunnel(endpoint, private_ip, credentials=creds)   # TunnelEndpoint, "10.0.3.7", botocore creds
    transport = paramiko.Transport(tunnel.sock)                     # a real socket: timeouts, select, shutdown
    ...
    tunnel.close()

`tunnel.sock` is one end of a local socket pair; two threads copy between its other end and the WebSocket, so
paramiko (and anything else) sees an ordinary socket. When the endpoint ends the tunnel, the socket reads EOF.

The WebSocket is `websockets`' synchronous client: maintained, pure Python, no dependency of its own, and its
server half is what the sandbox's endpoint serves (`sandbox/eice/`), checked here by a second implementation.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from ..errors import ConnectError

if TYPE_CHECKING:
    from botocore.credentials import Credentials

SIGNING_NAME = "ec2-instance-connect"  # the service model's signingName
OPERATION_PATH = "/openTunnel"
URL_VALID_S = 60  # how long the presigned URL may be used to open the tunnel
MAX_TUNNEL_DURATION_S = 3600  # the endpoint's limit, and the top of IAM's maxTunnelDuration condition
MAX_CONNECTIONS_PER_ENDPOINT = 20  # the endpoint's concurrent connections (docs/aws.md)
SUPPORTED_PORTS = (22, 3389)  # the only remote ports an endpoint forwards to
CHUNK = 1 << 16
# A handshake that times out, breaks off or meets a 5xx is tried once more after a pause (a busy endpoint, a
# blip on the path); a 4xx is the endpoint's or IAM's answer and is final.
OPEN_ATTEMPTS = 2
RETRY_PAUSE_S = 1.0


@dataclass(frozen=True)
class TunnelEndpoint:
    """Where tunnels open: an endpoint's id, its region, and the base URL its WebSockets answer on
    (`wss://<DnsName>` on AWS; `AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT` overrides it, as it does for the SDK's
    calls to the service)."""

    id: str
    region: str
    url: str

    @classmethod
    def of(cls, endpoint_id: str, region: str, dns_name: str) -> TunnelEndpoint:
        return cls(id=endpoint_id, region=region, url=f"wss://{dns_name}")


def presigned_url(
    endpoint: TunnelEndpoint,
    private_ip: str,
    credentials: Credentials,
    *,
    port: int = 22,
    max_duration_s: int = MAX_TUNNEL_DURATION_S,
) -> str:
    """The openTunnel URL, signed in its query (SigV4, valid `URL_VALID_S`)."""
    if port not in SUPPORTED_PORTS:
        raise ValueError(f"an Instance Connect Endpoint forwards only to ports {SUPPORTED_PORTS}, not {port}")
    if not 1 <= max_duration_s <= MAX_TUNNEL_DURATION_S:
        raise ValueError(f"maxTunnelDuration must be 1..{MAX_TUNNEL_DURATION_S} s, not {max_duration_s}")
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    query = urlencode(
        {
            "instanceConnectEndpointId": endpoint.id,
            "remotePort": str(port),
            "privateIpAddress": private_ip,
            "maxTunnelDuration": str(max_duration_s),
        }
    )
    url = f"{endpoint.url.rstrip('/')}{OPERATION_PATH}?{query}"
    request = AWSRequest(method="GET", url=url, headers={"host": urlsplit(url).netloc})
    SigV4QueryAuth(credentials, SIGNING_NAME, endpoint.region, expires=URL_VALID_S).add_auth(request)
    return str(request.url)


class Tunnel:
    """One open tunnel; `sock` is the local end to hand to paramiko (or to copy to stdin/stdout)."""

    def __init__(self, websocket: Any, max_duration_s: int) -> None:
        self._websocket = websocket
        self.sock, self._inner = socket.socketpair()
        self.max_duration_s = max_duration_s
        self.ended_by_endpoint = False
        self.close_reason = ""
        self._closed = threading.Event()
        self._done = 0
        self._done_lock = threading.Lock()
        threading.Thread(target=self._downstream, name="tunnel-down", daemon=True).start()
        threading.Thread(target=self._upstream, name="tunnel-up", daemon=True).start()

    def _downstream(self) -> None:
        """Endpoint to us. Only binary messages carry the stream; a text message is a protocol error."""
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self._websocket:
                if isinstance(message, str):
                    self.close_reason = f"the endpoint sent text: {message[:200]}"
                    break
                self._inner.sendall(message)
        except ConnectionClosed as exc:
            self.close_reason = str(exc)
        except OSError:
            pass
        if not self._closed.is_set():
            self.ended_by_endpoint = True
            if not self.close_reason:
                code, reason = (
                    getattr(self._websocket, "close_code", None),
                    getattr(self._websocket, "close_reason", ""),
                )
                self.close_reason = f"closed by the endpoint ({code} {reason})".replace(" )", ")")
        with contextlib.suppress(OSError):
            self._inner.shutdown(socket.SHUT_WR)  # our reader sees EOF, as when a TCP peer goes away
        self._close_inner_when_both_done()

    def _upstream(self) -> None:
        """Us to the endpoint, one message per read."""
        try:
            while True:
                data = self._inner.recv(CHUNK)
                if not data:
                    break
                self._websocket.send(data)
        except Exception:  # the WebSocket ended (ConnectionClosed) or the local end went away
            pass
        with contextlib.suppress(Exception):
            self._websocket.close()
        self._close_inner_when_both_done()

    def _close_inner_when_both_done(self) -> None:
        with self._done_lock:
            self._done += 1
            if self._done == 2:
                self._inner.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._websocket.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def open_tunnel(
    endpoint: TunnelEndpoint,
    private_ip: str,
    *,
    credentials: Credentials,
    port: int = 22,
    max_duration_s: int = MAX_TUNNEL_DURATION_S,
    timeout_s: float = 10.0,
    host_label: str | None = None,
) -> Tunnel:
    """Open a tunnel to `private_ip:port`; a ConnectError (exit 255) that says why when the endpoint refuses."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    url = presigned_url(endpoint, private_ip, credentials, port=port, max_duration_s=max_duration_s)
    tls = None
    if url.startswith("wss://") and os.environ.get("AWS_CA_BUNDLE"):
        import ssl  # the SDKs' own variable for a private CA (a TLS-inspecting proxy; the sandbox's endpoint)

        tls = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    label = host_label or f"{private_ip}:{port}"
    failure = ConnectError("no attempt made")
    for attempt in range(OPEN_ATTEMPTS):
        if attempt:
            time.sleep(RETRY_PAUSE_S)
        try:
            websocket = connect(
                url,
                ssl=tls,
                open_timeout=timeout_s,
                compression=None,  # the SSH stream is encrypted: nothing to gain
                max_size=None,
                ping_interval=None,  # SSH's own keepalives (heartbeat.py) watch the path end to end
                close_timeout=2,
                user_agent_header="weatherballoon",
                legacy=True,  # the connection itself, closed by Tunnel.close, not a context manager
            )
            return Tunnel(websocket, max_duration_s)
        except InvalidStatus as exc:
            failure = _refused(exc.response.status_code, _body(exc.response), endpoint, label)
            failure.__cause__ = exc
            if exc.response.status_code < 500:
                raise failure from exc
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            failure = ConnectError(
                f"cannot open a tunnel through EC2 Instance Connect Endpoint {endpoint.id} "
                f"({urlsplit(endpoint.url).netloc}) in {OPEN_ATTEMPTS} tries: {exc or type(exc).__name__}",
                host=label,
                hint="check the network path to the endpoint (HTTPS, port 443), and that it exists: "
                "aws ec2 describe-instance-connect-endpoints",
            )
            failure.__cause__ = exc
    raise failure


def _body(response: Any) -> str:
    body = getattr(response, "body", b"") or b""
    return body.decode("utf-8", "replace").strip()[:300]


# What an endpoint's refusal of the WebSocket upgrade means, as the user reads it: status -> hint.
REFUSALS: Mapping[int, str] = {
    403: "either your credentials were not accepted (check the AWS profile and this machine's clock), or IAM "
    "denies ec2-instance-connect:OpenTunnel to this machine's port 22 (an admin attaches the stack's member "
    "policy, docs/iam.md; other machines than wb's are not open to members)",
    429: f"the endpoint has its maximum of {MAX_CONNECTIONS_PER_ENDPOINT} open tunnels: end some connections "
    "(other wb commands, wb proxy sessions) and retry",
}


def _refused(status: int, body: str, endpoint: TunnelEndpoint, label: str) -> ConnectError:
    detail = f": {body}" if body else ""
    return ConnectError(
        f"EC2 Instance Connect Endpoint {endpoint.id} refused the tunnel (HTTP {status}){detail}",
        host=label,
        hint=REFUSALS.get(
            status, "retry; if it persists, check the endpoint: aws ec2 describe-instance-connect-endpoints"
        ),
    )
