"""The one retry helper: the waits between tries, with and without jitter."""

from __future__ import annotations

from weatherballoon.lambdas.retry import Backoff, tries


def test_tries_wait_the_doubling_delay_between_attempts_only() -> None:
    waits: list[float] = []
    done = [attempt for attempt in tries(Backoff(attempts=4, base_s=0.05), sleep=waits.append)]
    assert done == [0, 1, 2, 3]
    assert waits == [0.05, 0.1, 0.2]


def test_breaking_out_stops_the_waits() -> None:
    waits: list[float] = []
    for attempt in tries(Backoff(attempts=8, base_s=1.0), sleep=waits.append):
        if attempt == 1:
            break
    assert waits == [1.0]


def test_the_cap_and_full_jitter() -> None:
    capped = Backoff(attempts=6, base_s=0.5, cap_s=2.0)
    assert [capped.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = Backoff(attempts=6, base_s=0.5, cap_s=2.0, jitter=True)
    assert jittered.delay(4, draw=lambda: 0.25) == 0.5
    assert all(0.0 <= jittered.delay(n) <= 2.0 for n in range(10))
