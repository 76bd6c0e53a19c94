"""Claims through the daemon (`agent claim`), and the daemon woken by a job's start and end.

The daemon here has a 30 s period, so anything that happens within a second or two of a job's start or
end happened because the job woke it (jobs.wake_daemon), not because a pass came round.
"""

from __future__ import annotations

import time

from weatherballoon.lambdas.records import InstanceState

from .conftest import OWNER, Machine, wait_for

SLOW = {"WB_RENEW_SECONDS": "30"}
MINUTES = {"WB_LEASE_MINUTES": "1", "WB_IDLE_MINUTES": "1"}
WOKEN_WITHIN_S = 3.0


def idle_machine(machine: Machine) -> None:
    """A booted machine with its daemon running and its row idle (a warm machine after its last job)."""
    machine.create_row(lease_s=60.0)
    assert machine.boot(extra=SLOW, **MINUTES).returncode == 0
    machine.ensure_daemon()
    now = time.time()
    assert machine.store.release_instance(OWNER, machine.arn, None, now + 60, now)
    assert machine.row().state is InstanceState.IDLE


def test_claim_is_exclusive_the_job_row_is_written_and_the_machine_released_when_the_job_ends(
    machine: Machine,
) -> None:
    idle_machine(machine)

    taken = machine.agent("claim", "tok1", "--margin", "5")
    assert taken.returncode == 0, taken.stderr
    row = machine.row()
    assert (row.state, row.claim) == (InstanceState.BUSY, "tok1")
    assert abs(float(taken.stdout) - row.lease_until) < 0.01
    assert row.lease_until >= time.time() + 50  # now + leaseMinutes

    second = machine.agent("claim", "tok2")
    assert second.returncode == 3
    assert "not claimable (state busy" in second.stderr
    assert machine.row().claim == "tok1"

    started = time.time()
    machine.start_job("j1", machine.until_released, "--claim", "tok1", "--max-cost", "5")
    job = wait_for(
        lambda: _job_row(machine, "j1"), WOKEN_WITHIN_S, "the job's row, written by the woken daemon", machine
    )
    assert (job.command, job.max_cost_usd, job.running) == ((machine.until_released,), 5.0, True)
    assert abs(job.started_at - started) < 2

    assert machine.agent("claim", "tok3").returncode == 3  # a job runs there
    machine.release()
    idle = wait_for(
        lambda: machine.row().state is InstanceState.IDLE and machine.row(),
        WOKEN_WITHIN_S,
        "idle after the job",
        machine,
    )
    assert idle.lease_until >= time.time() + 50  # the warm window, idleMinutes
    ended = machine.job_row("j1")
    assert (ended.state, ended.exit_code) == ("exited", 0)


def test_a_late_release_never_undoes_a_newer_claim(machine: Machine) -> None:
    idle_machine(machine)
    assert machine.agent("claim", "old").returncode == 0
    assert machine.agent("claim", "old", "--release").returncode == 0
    assert machine.row().state is InstanceState.IDLE
    assert machine.agent("claim", "new").returncode == 0

    late = machine.agent("claim", "old", "--release")
    assert late.returncode == 3
    assert "not busy under this claim" in late.stderr
    assert (machine.row().state, machine.row().claim) == (InstanceState.BUSY, "new")


def test_a_job_under_an_old_claim_does_not_release_a_machine_claimed_again(machine: Machine) -> None:
    idle_machine(machine)
    assert machine.agent("claim", "first").returncode == 0
    machine.start_job("j1", "true", "--claim", "first")
    wait_for(lambda: machine.row().state is InstanceState.IDLE, WOKEN_WITHIN_S, "idle after j1", machine)
    assert machine.agent("claim", "second").returncode == 0
    # j1's end is still the daemon's latest job; woken again it must not hand the new claim back
    machine.start_job("j0", "true")  # a job without a claim (as if started by hand), ended at once
    time.sleep(1.0)  # nothing may happen: j0's end does not release the second claim
    assert (machine.row().state, machine.row().claim) == (InstanceState.BUSY, "second")


def test_without_a_daemon_a_claim_says_so(machine: Machine) -> None:
    machine.create_row(lease_s=60.0)
    assert machine.boot(extra=SLOW, **MINUTES).returncode == 0
    result = machine.agent("claim", "tok")
    assert result.returncode == 4
    assert "no daemon to ask" in result.stderr


def test_a_busy_renewal_never_turns_an_idle_row_busy(machine: Machine) -> None:
    """The race of a renewal made while the job ran landing after the client released the machine."""
    machine.create_row(lease_s=60.0)
    assert machine.boot(**MINUTES).returncode == 0  # the tests' fast period: renewals every 0.25 s
    machine.start_job("j1", machine.until_released)
    machine.ensure_daemon()
    machine.wait_renewed()
    now = time.time()
    assert machine.store.release_instance(OWNER, machine.arn, None, now + 60, now)
    before = machine.log().count(" renew state=busy")
    wait_for(lambda: machine.log().count(" renew state=busy") >= before + 3, 5, "three more renewals", machine)
    row = machine.row()
    assert row.state is InstanceState.IDLE
    assert row.lease_until >= time.time() + 50
    machine.release()


def _job_row(machine: Machine, job_id: str) -> object:
    return next((job for job in machine.store.get_jobs(OWNER, machine.arn) if job.job_id == job_id), None)
