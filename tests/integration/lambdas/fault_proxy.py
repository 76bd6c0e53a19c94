"""A tiny HTTP proxy in front of the moto server that injects faults by rule (a real HTTP layer, no mocks).

Point one service at it with `AWS_ENDPOINT_URL_<SERVICE>`; every request is forwarded unless a rule
matches, in which case the rule's canned error response is returned instead.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    operation: str  # "TerminateInstances", "TransactWriteItems", ...
    body: bytes
    params: dict[str, list[str]]  # query-protocol form fields (EC2); empty for JSON protocols

    def instance_ids(self) -> list[str]:
        return [v[0] for k, v in sorted(self.params.items()) if k.startswith("InstanceId.")]


@dataclass
class Rule:
    """Answer matching requests with an error, or (`drop`) forward them and lose the answer: the connection
    closes with no response, as a reset after AWS accepted the request. `times` limits how often (None:
    always)."""

    operation: str
    status: int
    code: str
    when: Callable[[Request], bool] = lambda request: True
    times: int | None = None
    hits: int = 0
    drop: bool = False

    def matches(self, request: Request) -> bool:
        if request.operation != self.operation or not self.when(request):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


def ec2_error(code: str) -> tuple[bytes, str]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
        f"<Message>injected by the test proxy</Message></Error></Errors><RequestID>fault</RequestID></Response>"
    )
    return body.encode(), "text/xml"


def dynamodb_error(code: str) -> tuple[bytes, str]:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected by the test proxy"}
    return json.dumps(body).encode(), "application/x-amz-json-1.0"


@dataclass
class FaultProxy:
    upstream: str  # http://localhost:PORT of the moto server
    rules: list[Rule] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    url: str = ""
    # Forward one request at a time. moto applies each request atomically only when requests do not
    # overlap: its TransactWriteItems rollback restores a table snapshot, erasing writes that landed
    # meanwhile. DynamoDB itself is serializable, so serializing here restores the real semantics.
    serialize: bool = False
    # operation -> condition on the proxy: such requests wait (up to 30 s) until it holds
    holds: dict[str, Callable[[FaultProxy], bool]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, operation: str) -> list[Request]:
        return [r for r in self.seen if r.operation == operation]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        target = handler.headers.get("X-Amz-Target", "")
        if target:
            request = Request(target.rsplit(".", 1)[-1], body, {})
        else:
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            request = Request(params.get("Action", ["?"])[0], body, params)
        self.seen.append(request)
        hold = self.holds.get(request.operation)
        deadline = time.monotonic() + 30
        while hold is not None and not hold(self) and time.monotonic() < deadline:
            time.sleep(0.01)
        drop = False
        for rule in self.rules:
            if rule.matches(request):
                if rule.drop:
                    drop = True
                    break
                payload, content_type = (dynamodb_error if target else ec2_error)(rule.code)
                self._reply(handler, rule.status, payload, {"Content-Type": content_type})
                return
        if self.serialize:
            with self._lock:
                self._forward(handler, body, drop)
        else:
            self._forward(handler, body, drop)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes, drop: bool = False) -> None:
        parsed = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parsed.hostname or "localhost", parsed.port, timeout=120)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if drop:
                handler.close_connection = True
                return
            passed = {k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection")}
            self._reply(handler, response.status, payload, passed)
        finally:
            connection.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@contextmanager
def running(proxy: FaultProxy) -> Iterator[FaultProxy]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            proxy.handle(self)

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://localhost:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
