"""Signal names as users type them."""

from __future__ import annotations

import signal

import pytest
from weatherballoon.remote.jobs.signals import UnknownSignal, parse_signal


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("INT", signal.SIGINT),
        ("SIGINT", signal.SIGINT),
        ("int", signal.SIGINT),
        ("2", 2),
        ("TERM", signal.SIGTERM),
        ("KILL", signal.SIGKILL),
        ("HUP", signal.SIGHUP),
        ("USR1", signal.SIGUSR1),
        (" sigusr2 ", signal.SIGUSR2),
    ],
)
def test_known_signals(name: str, number: int) -> None:
    assert parse_signal(name) == number


@pytest.mark.parametrize("name", ["", "NOPE", "SIG_IGN", "SIG_DFL", "_IGN", "SIG_BLOCK", "0", "999", "-2", "INT2"])
def test_unknown_signals(name: str) -> None:
    with pytest.raises(UnknownSignal):
        parse_signal(name)
