"""An HTTP proxy in front of the moto server that answers chosen EC2 calls with AWS errors, or loses answers.

    with FaultProxy(moto_url, subnet_zones) as proxy:     # point AWS_ENDPOINT_URL_EC2 at proxy.url
        proxy.rules.append(lambda call: "InsufficientInstanceCapacity" if call.market == "spot" else None)
        proxy.faults["TerminateInstances"] = ["RequestLimitExceeded", DROP]

Each rule sees a RunInstances call as a `RunCall` (market, zone, instance type, client token) and returns an
error code to answer with, `DROP`, or None; the first answer wins, and with none the call goes on to moto.
`faults` holds, per action, what its next calls get, one entry per call. `DROP` forwards the call to moto
(so it takes effect) and then closes the connection without an answer, as a reset after EC2 accepted the
request. Everything else is relayed unchanged. Errors are EC2's XML, with the status AWS uses: 500 for
capacity (a server error), 503 for RequestLimitExceeded, 403 for AuthFailure.*, 400 for the rest.

RunInstances with a ClientToken gets EC2's idempotency, which moto lacks: a token seen before, with the same
parameters, is answered with the first answer and launches nothing; with other parameters it is answered
IdempotentParameterMismatch. TerminateInstances repeated with the same parameters gets its first answer
again (EC2's is idempotent; moto's fails on the instances' network interfaces). Nothing in boto3 is patched:
the client under test speaks HTTP to this proxy as to EC2.
"""

from __future__ import annotations

import dataclasses
import http.client
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

SERVER_ERRORS = frozenset({"InsufficientInstanceCapacity", "InternalError", "Unavailable"})
THROTTLES = frozenset({"RequestLimitExceeded"})
DROP = "<drop the answer>"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class RunCall:
    market: str  # "spot" or "on-demand"
    zone: str | None
    instance_type: str
    answered: str | None = None  # the injected error code (or DROP), None when moto answered
    token: str | None = None
    count: int = 1  # MinCount (a gang launches all its machines in one call)
    placement_group: str | None = None
    groups: tuple[str, ...] = ()  # the security groups of the first network interface


Rule = Callable[[RunCall], "str | None"]


def _error_xml(code: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code} (fault proxy)</Message></Error>"
        "</Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    ).encode()


def run_call(form: dict[str, list[str]], subnet_zones: dict[str, str]) -> RunCall | None:
    if form.get("Action", [""])[0] != "RunInstances":
        return None
    zone = form.get("Placement.AvailabilityZone", [None])[0]
    subnet = form.get("NetworkInterface.1.SubnetId", form.get("SubnetId", [None]))[0]
    if zone is None and subnet is not None:
        zone = subnet_zones.get(subnet)
    market = form.get("InstanceMarketOptions.MarketType", ["on-demand"])[0]
    token = form.get("ClientToken", [None])[0]
    groups = tuple(v[0] for k, v in sorted(form.items()) if k.startswith("NetworkInterface.1.SecurityGroupId."))
    return RunCall(
        market=market, zone=zone, instance_type=form.get("InstanceType", [""])[0], token=token,
        count=int(form.get("MinCount", ["1"])[0]), placement_group=form.get("Placement.GroupName", [None])[0],
        groups=groups,
    )  # fmt: skip


def status_of(code: str) -> int:
    if code.startswith(("AuthFailure", "UnauthorizedOperation")):
        return 403
    return 500 if code in SERVER_ERRORS else 503 if code in THROTTLES else 400


class FaultProxy:
    def __init__(self, upstream: str, subnet_zones: dict[str, str]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules: list[Rule] = []
        self.faults: dict[str, list[str]] = {}
        self.subnet_zones = subnet_zones
        self.calls: list[RunCall] = []
        self.actions: list[tuple[str, str | None]] = []  # every EC2 call: (action, what it got; None: moto's answer)
        self.launches = 0  # RunInstances that reached moto
        self._answers: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], int, list[tuple[str, str]], bytes]] = {}
        self._terminated: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[int, list[tuple[str, str]], bytes]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
                action = form.get("Action", [""])[0]
                call = run_call(form, proxy.subnet_zones)
                with proxy._lock:
                    if call is not None:
                        code = next((found for rule in proxy.rules if (found := rule(call))), None)
                        proxy.calls.append(dataclasses.replace(call, answered=code))
                    else:
                        queued = proxy.faults.get(action) or []
                        code = queued.pop(0) if queued else None
                    proxy.actions.append((action, code))
                if code is not None and code != DROP:
                    return self._answer(status_of(code), _error_xml(code))
                params = tuple(sorted((k, tuple(v)) for k, v in form.items()))
                if call is not None and call.token:
                    seen = proxy._answers.get(call.token)
                    if seen is not None:  # EC2's idempotency: the first answer again, nothing launched
                        if seen[0] != params:
                            return self._answer(400, _error_xml("IdempotentParameterMismatch"))
                        return self._lose() if code == DROP else self._send(seen[1], seen[2], seen[3])
                if action == "TerminateInstances" and params in proxy._terminated:
                    # EC2's TerminateInstances is idempotent; moto's fails on a second one (its ENIs are gone)
                    return self._lose() if code == DROP else self._send(*proxy._terminated[params])
                status, headers, payload = self._forward(body)
                if call is not None:
                    proxy.launches += status == 200
                    if call.token and status == 200:
                        proxy._answers[call.token] = (params, status, headers, payload)
                if action == "TerminateInstances" and status == 200:
                    proxy._terminated[params] = (status, headers, payload)
                return self._lose() if code == DROP else self._send(status, headers, payload)

            def _lose(self) -> None:
                self.close_connection = True  # accepted upstream (or before), and the answer is lost

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname or "localhost", proxy.upstream.port, timeout=30
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    passed = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                    return response.status, passed, response.read()
                finally:
                    connection.close()

            def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, status: int, payload: bytes) -> None:
                self._send(status, [("Content-Type", "text/xml")], payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
