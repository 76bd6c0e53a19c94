"""The renewal thread: renews every interval, keeps going through failures, stops on refusal or exit."""

from __future__ import annotations

import time

from botocore.exceptions import EndpointConnectionError
from weatherballoon.cli.providers.aws.leases import LeaseKeeper
from weatherballoon.cli.providers.aws.plane import Supervision
from weatherballoon.lambdas.errors import LeaseRefusedError, StoreError

from tests.support.waiting import wait_for


def test_renews_until_stopped_and_not_after() -> None:
    calls: list[float] = []
    keeper = LeaseKeeper(lambda: calls.append(time.monotonic()), 0.02).start()
    wait_for(lambda: len(calls) >= 3, 3, "three renewals", interval=0.01)
    keeper.stop()
    count = len(calls)
    time.sleep(0.1)  # nothing may happen: no renewal after stop()
    assert count >= 3 and len(calls) == count and not keeper.running and keeper.renewals == count


def test_failures_are_retried_and_a_refusal_ends_it() -> None:
    answers: list[BaseException | None] = [
        StoreError("throttled", operation="update_item"),
        EndpointConnectionError(endpoint_url="http://x"),
        None,
        LeaseRefusedError("pk", "marked: down"),
    ]
    refused: list[str] = []

    def renew() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    keeper = LeaseKeeper(renew, 0.01, on_refused=refused.append).start()
    wait_for(lambda: not keeper.running, 3, "the keeper to stop", interval=0.01)
    assert (keeper.failures, keeper.renewals, keeper.refused, refused) == (2, 1, "marked: down", ["marked: down"])
    keeper.stop()


def test_renewal_interval_is_30s_or_a_third_of_a_compressed_lease() -> None:
    assert Supervision(5, 10, 24, "t").renew_interval_s == 30.0
    assert Supervision(0.1, 0.1, 24, "t").renew_interval_s == 2.0
    assert Supervision(0.001, 0, 24, "t").renew_interval_s == 0.5
