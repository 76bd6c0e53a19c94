"""Waiting in tests for something that happens elsewhere (a process, a server, a sandbox host)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
    *,
    error: type[Exception] = AssertionError,
) -> T:
    """The first truthy value of `check()`, looked at every `interval` s; after `timeout` s, `error` naming
    `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"not within {timeout:g} s: {what}")
        time.sleep(interval)
