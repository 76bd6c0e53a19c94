"""Exit codes from wait statuses, and job states from records: the shell's conventions."""

from __future__ import annotations

import signal

import pytest
from weatherballoon.remote.jobs import state as jobstate


def exited(code: int) -> int:
    return code << 8  # a waitpid status for a normal exit


def killed_by(signo: int) -> int:
    return signo


@pytest.mark.parametrize("code", [0, 1, 3, 124, 255])
def test_an_exit_is_its_own_code(code: int) -> None:
    assert jobstate.outcome(exited(code), None) == (code, None)


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGKILL, signal.SIGTERM, signal.SIGPIPE])
def test_death_by_signal_n_is_128_plus_n(signo: int) -> None:
    assert jobstate.outcome(killed_by(signo), None) == (128 + signo, signo)


def test_a_supervision_stop_is_124_whatever_the_job_did() -> None:
    assert jobstate.outcome(killed_by(signal.SIGTERM), "max-time") == (124, signal.SIGTERM)
    assert jobstate.outcome(killed_by(signal.SIGKILL), "max-time") == (124, signal.SIGKILL)
    assert jobstate.outcome(exited(0), "max-time") == (124, None)


@pytest.mark.parametrize(
    ("status", "running", "state"),
    [
        (None, True, "running"),
        (None, False, "lost"),
        ({"exit_code": 0, "signal": None, "stop_reason": None}, False, "exited"),
        ({"exit_code": 130, "signal": 2, "stop_reason": None}, False, "killed"),
        ({"exit_code": 124, "signal": 15, "stop_reason": "max-time"}, False, "stopped"),
        ({"exit_code": 124, "signal": None, "stop_reason": "budget"}, True, "stopped"),
    ],
)
def test_state_of(status: dict | None, running: bool, state: str) -> None:
    assert jobstate.state_of(status, running) == state


def test_summary_has_exactly_the_contract_fields() -> None:
    meta = {"id": "j", "command": ["true"], "cwd": "/w", "pid": 42, "started_at": 10.0, "proc_start": 7}
    status = {"exit_code": 0, "signal": None, "stop_reason": None, "ended_at": 11.0, "started_at": 10.0}
    summary = jobstate.summary("j", meta, status, running=False)
    assert tuple(summary) == jobstate.SUMMARY_FIELDS
    assert summary == {
        "id": "j",
        "command": ["true"],
        "cwd": "/w",
        "state": "exited",
        "exit_code": 0,
        "signal": None,
        "stop_reason": None,
        "started_at": 10.0,
        "ended_at": 11.0,
        "pid": 42,
        "push": None,
        "gang": None,
    }


def test_summary_of_a_job_without_records_is_lost_with_nulls() -> None:
    summary = jobstate.summary("j", None, None, running=False)
    assert summary["state"] == "lost" and summary["exit_code"] is None and summary["command"] is None


def test_stop_message_names_the_reason_and_the_limit() -> None:
    line = jobstate.stop_message("j1", "max-time", {"max_time_s": 90.0})
    assert line == "job j1 stopped by supervision: max-time (ran past --max-time 90s); exit code 124"
    assert "budget" in jobstate.stop_message("j1", "budget")
