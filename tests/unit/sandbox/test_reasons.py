"""How a sandbox host's end reads in `wb sandbox status`: the instance's shutdown behaviour in plain words."""

from __future__ import annotations

from weatherballoon.sandbox.hosts import power_off_reason

ASKED = "powered itself off (lease-expired)"


def test_terminate_behaviour_reads_terminated() -> None:
    assert power_off_reason(ASKED, "terminate") == f"{ASKED}; instance terminated"


def test_stop_behaviour_reads_stopped() -> None:
    assert power_off_reason(ASKED, "stop") == f"{ASKED}; instance stopped"


def test_an_ec2_error_reads_as_unknown_with_the_error_never_unknownd() -> None:
    text = power_off_reason(ASKED, None, RuntimeError("InvalidInstanceID.NotFound"))
    assert text.startswith(f"{ASKED}; the instance's state is unknown")
    assert "RuntimeError: InvalidInstanceID.NotFound" in text
    for each in (text, power_off_reason(ASKED, "terminate"), power_off_reason(ASKED, "stop")):
        assert "unknownd" not in each and "stopd" not in each
