"""RunInstances, retried safely (docs/aws.md, "Launching").

Each launch attempt (one zone, one market) gets its own ClientToken, and a throttle (RequestLimitExceeded
and the like) or a lost answer (connection reset, read timeout: EC2 may have started the machine already)
sends the very same request again, token included, after a backoff with full jitter. EC2 answers a repeated
token with the same parameters with the original result and starts nothing more, so a retry can never
launch a second machine. Capacity and quota errors are not retried here: the capacity search moves on to
the next zone with a new token.

The client that sends the request has botocore's own retries off (`max_attempts=0`): they would also repeat
the 5xx capacity errors in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from weatherballoon.lambdas.retry import Backoff

from ...aws_account.errors import error_code
from ...errors import ProvisionError

T = TypeVar("T")

# botocore's standard-mode list of throttling codes (EC2 answers RequestLimitExceeded)
THROTTLE_CODES = frozenset(
    {
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException",
        "RequestThrottledException", "TooManyRequestsException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException", "BandwidthLimitExceeded",
    }
)  # fmt: skip


DEFAULT_POLICY = Backoff(attempts=6, base_s=0.5, cap_s=8.0, jitter=True)


def lost_answer(exc: BaseException) -> bool:
    """No answer came back (the request may or may not have reached EC2): botocore's connection errors."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, (BotoConnectionError, HTTPClientError))


def call_idempotent(
    call: Callable[[], T],
    *,
    what: str,
    policy: Backoff = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] | None = None,
) -> T:
    """`call()` (a request that carries its ClientToken), again on a throttle or a lost answer."""
    from botocore.exceptions import ClientError

    for retry in range(policy.attempts):
        last = retry == policy.attempts - 1
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in THROTTLE_CODES or last:
                raise
            why = f"throttled ({error_code(exc)})"
        except Exception as exc:
            if not lost_answer(exc):
                raise
            if last:
                raise ProvisionError(
                    f"{what}: no answer from EC2 after {policy.attempts} tries ({type(exc).__name__}: {exc})",
                    hint="a machine may have started all the same: it carries wb's tags, so the reaper ends it "
                    "after its orphan grace if no row claims it; see it with: wb status",
                ) from None
            why = f"no answer ({type(exc).__name__})"
        pause = policy.delay(retry)
        if say is not None:
            say(f"{what}: {why}; trying again in {pause:.1f} s with the same client token")
        sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")
