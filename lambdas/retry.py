"""Backoff between tries: the one retry helper of the client, the reaper and the agent's daemon.

Every retry loop takes its pacing from a `Backoff`: the wait before retry N is base_s * 2**N, capped at
cap_s; with `jitter`, a uniform draw below that ("full jitter", AWS's recommended backoff for clients that
may retry in step). botocore's own retries (standard mode, lambdas/aws.py) cover each single call; these
cover what botocore does not: unprocessed batch items, transaction conflicts, a launch resent with its token.
Stdlib only, Python 3.8: the daemon imports it through the store.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator  # noqa: UP035 -- this runs on 3.8


@dataclass(frozen=True)
class Backoff:
    attempts: int  # in all, the first one included
    base_s: float
    cap_s: float = float("inf")
    jitter: bool = False

    def delay(self, retry: int, draw: Callable[[], float] = random.random) -> float:
        """The wait before retry number `retry` (0: the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2**retry)
        return draw() * ceiling if self.jitter else ceiling


def tries(backoff: Backoff, sleep: Callable[[float], None] = time.sleep) -> Iterator[int]:
    """Attempt numbers 0, 1, ... up to `backoff.attempts`, waiting the backoff's delay before each retry.
    Break out when done; a loop that runs to its end has used every attempt."""
    for attempt in range(backoff.attempts):
        if attempt:
            sleep(backoff.delay(attempt - 1))
        yield attempt
