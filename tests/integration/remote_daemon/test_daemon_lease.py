"""The lease while jobs run and after the last one, the dead-man timer, and power-off at the lease's end."""

from __future__ import annotations

import json
import time

from weatherballoon.lambdas import lease

from .conftest import BUCKET, IDLE_MIN, LEASE_MIN, Machine, record_overspend, wait_for


def test_renews_while_a_job_runs_then_idles_then_powers_off_at_the_lease_end(machine: Machine) -> None:
    machine.create_row(lease_s=3.0)
    assert machine.boot().returncode == 0
    machine.put_job_row("j1")
    machine.start_job("j1", f"mkdir -p out && echo result > out/a.txt && {machine.until_released}", "--outputs", "out")
    machine.ensure_daemon()

    # While the job runs: the lease keeps moving forward, to now + leaseMinutes; the job row is heartbeated.
    machine.wait_renewed()
    first = machine.row().renewed_at
    assert first is not None
    row = wait_for(
        lambda: (found := machine.row()).renewed_at is not None and found.renewed_at > first + 0.5 and found,
        5,
        "a renewal more than 0.5 s after the first",
        machine,
    )
    assert row.state.value == "busy"
    assert row.renewed_at + LEASE_MIN * 60 - 0.1 <= row.lease_until <= time.time() + LEASE_MIN * 60
    assert machine.status()["running"] is True

    # The job ends: its row is closed, its outputs are in S3, the lease becomes the warm window, state idle.
    machine.release()
    status = wait_for(lambda: machine.job_status("j1"), 5, "the job's end")
    idle = wait_for(lambda: machine.row().state.value == "idle" and machine.row(), 3, "idle", machine)
    assert status["ended_at"] <= idle.renewed_at
    assert idle.lease_until >= status["ended_at"] + IDLE_MIN * 60 - 0.1
    job = machine.job_row("j1")
    assert (job.state, job.exit_code, job.ended_at) == ("exited", 0, status["ended_at"])
    key = f"{machine.prefix}j1/out/a.txt"
    assert wait_for(lambda: key in machine.objects() and machine.objects(), 3, "the pushed outputs") == {key: 7}
    assert machine.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"result\n"
    # The push's outcome is on the job (push.json, so `status`) and on its row, with no error.
    note = json.loads(machine.agent("status", "j1").stdout)["push"]
    assert note["ok"] is True and note["uploaded"] == 1 and note["where"] == f"s3://{BUCKET}/{machine.prefix}j1/"
    pushed = wait_for(lambda: machine.job_row("j1").pushed_at and machine.job_row("j1"), 3, "the push on the row")
    assert pushed.push_error is None

    # Nobody renews the warm window: the machine powers itself off when it ends.
    reason, at = machine.wait_power_off(timeout=LEASE_MIN * 60 + IDLE_MIN * 60 + 5)
    assert reason == "lease-expired"
    final = machine.row()
    record_overspend("idle lease ended", at - final.lease_until, "power-off minus the row's lease_until")
    assert 0 <= at - final.lease_until < 1.0

    # Every good renewal re-armed the dead-man timer: the lease left (3 s at most), plus a minute of slack.
    arms = machine.arms()
    assert len(arms) >= 4
    least, most = lease.deadman_seconds(0, 0), lease.deadman_seconds(0, LEASE_MIN * 60)
    assert (least, most) == (60, 63) and all(least <= seconds <= most for seconds, _ in arms)
    decided = machine.status()
    assert decided["running"] is False and decided["power_off"]["reason"] == "lease-expired"
    assert "power-off reason=lease-expired" in machine.log()
