"""The boto3 client of one service, held by a store or a fleet: the one passed in, or built on first use from
the injected session (`aws.make_client`: one retry policy). Nothing is built at import time."""

from __future__ import annotations

from typing import Any, ClassVar

from .aws import DEFAULT_MAX_ATTEMPTS, make_client


class LazyClient:
    """Mixin: `self.client` for `service` (set by the subclass). Pass `client` (a boto3 client) or `session`
    (a boto3.Session); else the default chain is used when the client is first needed."""

    service: ClassVar[str]

    def __init__(
        self, *, client: Any | None = None, session: Any | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> None:
        self._client = client
        self._session = session
        self._max_attempts = max_attempts

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.service, session=self._session, max_attempts=self._max_attempts)
        return self._client
