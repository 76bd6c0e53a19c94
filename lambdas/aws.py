"""boto3 clients for the reaper: built lazily from an injected session, one retry policy, and a call counter.

Nothing here runs at import time; boto3 is imported only when a client is built.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

DEFAULT_MAX_ATTEMPTS = 5


DEFAULT_POOL = 32  # HTTP connections per client; the reaper writes rows from up to WRITE_CONCURRENCY threads


def client_config(max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_pool_connections: int = DEFAULT_POOL) -> Any:
    """The one botocore Config: standard retry mode (exponential backoff with jitter, throttling aware).
    `max_attempts` counts every attempt, the first included (botocore's `total_max_attempts`; its
    `max_attempts` key would count retries only)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts}, max_pool_connections=max_pool_connections
    )


def make_client(
    service: str,
    *,
    session: Any | None = None,
    region: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = DEFAULT_POOL,
) -> Any:
    """A client from `session` (a boto3.Session; the default chain when None). `AWS_ENDPOINT_URL` is honoured
    by botocore itself, which is how tests reach the moto server through the production path."""
    if session is None:
        import boto3

        session = boto3.session.Session()
    client: Any = session.client(service, region_name=region, config=client_config(max_attempts, max_pool_connections))  # type: ignore[call-overload]
    return client


class CallCounter:
    """Counts API calls and HTTP attempts (retries included) of the clients attached to it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}", self._on_call)
        client.meta.events.register(f"before-send.{service}", self._on_send)
        return client

    def _on_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.attempts[event_name.rsplit(".", 1)[-1]] += 1

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()
