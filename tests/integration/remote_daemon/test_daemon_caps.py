"""A job's --max-cost: the daemon stops its process group like --max-time does (exit 124, max-cost)."""

from __future__ import annotations

import json

from weatherballoon.remote.agent_io import STREAM_HEADER

from .conftest import Machine, record_overspend, wait_for

PRICE_PER_HOUR = 3600.0  # one dollar a second
CAP_USD = 1.5


def test_max_cost_stops_the_job_with_124_and_closes_its_row(machine: Machine) -> None:
    machine.create_row(price=PRICE_PER_HOUR)
    assert machine.boot().returncode == 0
    machine.ensure_daemon()
    machine.put_job_row("j1", max_cost_usd=CAP_USD)
    machine.start_job("j1", "trap 'echo got TERM; exit 1' TERM; sleep 30 & wait")

    status = wait_for(lambda: machine.job_status("j1"), 6, "the job to be stopped", machine)

    assert (status["exit_code"], status["stop_reason"]) == (124, "max-cost")
    started = json.loads((machine.home / "jobs" / "j1" / "meta.json").read_text())["started_at"]
    cap_reached = started + CAP_USD / PRICE_PER_HOUR * 3600
    record_overspend("job max-cost", status["ended_at"] - cap_reached, "job end minus when its cost reached the cap")
    assert 0 <= status["ended_at"] - cap_reached < 1.0
    follow = machine.agent("follow", "j1")
    assert follow.returncode == 124
    assert "stopped by supervision: max-cost" in follow.stderr
    assert follow.stdout == STREAM_HEADER.decode() + "got TERM\n"  # TERM first, so the job could save its work
    row = wait_for(lambda: machine.job_row("j1").ended_at and machine.job_row("j1"), 3, "the job row closed")
    assert (row.state, row.exit_code, row.stop_reason) == ("stopped", 124, "max-cost")
    assert "stop-job job=j1 reason=max-cost" in machine.log()


def test_a_job_that_ignores_term_is_killed_after_the_grace_period(machine: Machine) -> None:
    machine.create_row(price=PRICE_PER_HOUR)
    assert machine.boot().returncode == 0
    machine.put_job_row("j1", max_cost_usd=0.2)
    machine.start_job("j1", "trap '' TERM; while :; do sleep 0.05; done")
    machine.ensure_daemon()

    status = wait_for(lambda: machine.job_status("j1"), 10, "the job to be killed", machine)

    assert (status["exit_code"], status["signal"], status["stop_reason"]) == (124, 9, "max-cost")
