"""An HTTP proxy in front of the moto server that answers chosen EC2 RunInstances calls with AWS errors.

    with FaultProxy(moto_url, subnet_zones) as proxy:     # point AWS_ENDPOINT_URL_EC2 at proxy.url
        proxy.rules.append(lambda call: "InsufficientInstanceCapacity" if call.market == "spot" else None)

Each rule sees a RunInstances call as a `RunCall` (market, zone, instance type) and returns an error code
to answer with, or None; the first code wins, and with none the call goes on to moto. Everything else is
relayed unchanged. Errors are EC2's XML, with the status AWS uses: 500 for capacity (a server error), 400
for the rest. Nothing in boto3 is patched: the client under test speaks HTTP to this proxy as to EC2.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

SERVER_ERRORS = frozenset({"InsufficientInstanceCapacity", "InternalError", "Unavailable"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class RunCall:
    market: str  # "spot" or "on-demand"
    zone: str | None
    instance_type: str
    answered: str | None = None  # the injected error code, None when moto answered


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
    return RunCall(market=market, zone=zone, instance_type=form.get("InstanceType", [""])[0])


class FaultProxy:
    def __init__(self, upstream: str, subnet_zones: dict[str, str]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules: list[Rule] = []
        self.subnet_zones = subnet_zones
        self.calls: list[RunCall] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
                call = run_call(form, proxy.subnet_zones)
                if call is not None:
                    code = next((found for rule in proxy.rules if (found := rule(call))), None)
                    proxy.calls.append(RunCall(call.market, call.zone, call.instance_type, code))
                    if code is not None:
                        return self._answer(500 if code in SERVER_ERRORS else 400, _error_xml(code))
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname or "localhost", proxy.upstream.port, timeout=30
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    connection.close()

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

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
