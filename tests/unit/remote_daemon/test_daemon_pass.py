"""The daemon's pass over the in-memory store, a hand-moved clock and real job records on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from weatherballoon.lambdas import schema
from weatherballoon.lambdas.errors import StoreError
from weatherballoon.lambdas.in_memory_store import InMemoryStore
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow
from weatherballoon.remote import procinfo
from weatherballoon.remote.daemon.agent_env import AgentEnv
from weatherballoon.remote.daemon.loop import Daemon
from weatherballoon.remote.daemon.poweroff import CommandResult
from weatherballoon.remote.daemon.state import DaemonLog

T0 = 1_800_000_000.0
OWNER = "AIDAX"
ARN = schema.instance_arn("us-west-2", "123456789012", "i-0abc")


class AgentMemoryStore(InMemoryStore):
    """The in-memory store; `down` makes the daemon's reads and heartbeats fail like a dead network."""

    down = False

    def touch_job(self, job: JobRow, now: float) -> bool:
        self._check()
        return super().touch_job(job, now)

    def _check(self) -> None:
        if self.down:
            raise StoreError("DynamoDB get_item failed: connection refused", operation="get_item")

    def get_instance(self, owner: str, arn: str) -> InstanceRecord | None:
        self._check()
        return super().get_instance(owner, arn)

    def get_jobs(self, owner: str, arn: str) -> list[JobRow]:
        self._check()
        return super().get_jobs(owner, arn)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.store = AgentMemoryStore()
        self.jobs = tmp_path / "jobs"
        self.jobs.mkdir()
        self.armed = tmp_path / "armed"
        values = {
            "WB_ROW_PK": schema.instance_pk(OWNER, ARN), "WB_TABLE": "t", "WB_REGION": "us-west-2",
            "WB_LEASE_MINUTES": "1", "WB_IDLE_MINUTES": "2", "WB_RENEW_SECONDS": "10",
            "WB_ARM_SHUTDOWN_COMMAND": f"echo {{seconds}} >> {self.armed}",
        }  # fmt: skip
        self.env = AgentEnv.from_values(values, environ={})
        self.powered: list[str] = []
        self.daemon = Daemon(
            self.env, self.store, None, str(tmp_path / "daemon.json"), DaemonLog(str(tmp_path / "daemon.log")),
            jobs_root=str(self.jobs), clock=self.clock, power_off=self.power_off,
        )  # fmt: skip
        self.store.create_instance(
            InstanceRecord(owner=OWNER, instance_arn=ARN, instance_type="g5.xlarge", launched_at=T0,
                           lease_until=T0 + 60, max_until=T0 + 3600, price_usd_hour=1.0, state=InstanceState.BUSY)
        )  # fmt: skip

    def power_off(self, reason: str, env: Any) -> CommandResult:
        self.powered.append(reason)
        return CommandResult("poweroff", 0, "")

    def job(self, job_id: str, *, ended: bool = False) -> None:
        """A job record as the supervisor writes it; 'running' is this test process (alive, same boot)."""
        folder = self.jobs / job_id
        folder.mkdir()
        pid = os.getpid()
        meta = {"id": job_id, "command": ["x"], "cwd": "/nonexistent", "pid": pid, "pgid": pid, "started_at": T0,
                "proc_start": procinfo.proc_start(pid), "boot_id": procinfo.boot_id(), "outputs": []}  # fmt: skip
        (folder / "meta.json").write_text(json.dumps(meta))
        if ended:
            self.end(job_id, exit_code=0)

    def end(self, job_id: str, exit_code: int) -> None:
        status = {"exit_code": exit_code, "signal": None, "stop_reason": None, "ended_at": self.clock.now,
                  "started_at": T0}  # fmt: skip
        (self.jobs / job_id / "status.json").write_text(json.dumps(status))

    def row(self) -> InstanceRecord:
        found = self.store.get_instance(OWNER, ARN)
        assert found is not None
        return found

    def arms(self) -> list[str]:
        return self.armed.read_text().split() if self.armed.exists() else []


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_busy_then_idle_with_the_job_row_closed_first(rig: Rig) -> None:
    rig.store.put_job(JobRow(OWNER, ARN, "j1", ("x",), T0))
    rig.job("j1")
    assert rig.daemon.one_pass() == T0 + 10
    assert (rig.row().state, rig.row().lease_until) == (InstanceState.BUSY, T0 + 60)

    rig.clock.now += 10
    rig.daemon.one_pass()
    assert rig.row().lease_until == T0 + 70

    rig.clock.now += 5
    rig.end("j1", exit_code=3)
    rig.daemon.one_pass()
    row, job = rig.row(), rig.store.get_jobs(OWNER, ARN)[0]
    assert (row.state, row.lease_until) == (InstanceState.IDLE, T0 + 15 + 120)
    assert (job.state, job.exit_code, job.ended_at) == ("exited", 3, T0 + 15)
    assert rig.daemon.state.finished == ["j1"] and rig.daemon.state.busy is False

    rig.clock.now += 10  # idle: nothing more is written, and it wakes at the lease's end
    assert rig.daemon.one_pass() == T0 + 25 + 10
    assert rig.row().lease_until == T0 + 135 and rig.powered == []


def test_a_job_that_started_and_ended_between_passes_still_gets_the_warm_window(rig: Rig) -> None:
    rig.daemon.one_pass()
    rig.job("quick", ended=True)
    rig.clock.now += 10
    rig.daemon.one_pass()
    assert (rig.row().state, rig.row().lease_until) == (InstanceState.IDLE, T0 + 10 + 120)


def test_the_dead_man_timer_is_rearmed_only_when_the_lease_moved(rig: Rig) -> None:
    rig.job("j1")
    rig.daemon.one_pass()
    rig.clock.now += 10
    rig.daemon.one_pass()
    assert rig.arms() == ["120", "120"]  # 60 s of lease left, plus a minute of slack
    rig.end("j1", exit_code=0)
    rig.clock.now += 10
    rig.daemon.one_pass()  # idle lease: moved
    rig.clock.now += 10
    rig.daemon.one_pass()  # nothing moved
    assert rig.arms() == ["120", "120", "180"]  # the warm window: 120 s left, plus a minute of slack


def test_an_unreachable_table_powers_off_after_lease_minutes_without_another_slow_call(rig: Rig) -> None:
    rig.job("j1")
    rig.daemon.one_pass()
    rig.store.down = True
    for _ in range(5):
        rig.clock.now += 10
        rig.daemon.one_pass()
    assert rig.powered == []
    rig.clock.now += 10  # 60 s since the last answer
    rig.daemon.one_pass()
    assert rig.powered == ["control-plane-lost"]
    assert rig.daemon.state.power_off["reason"] == "control-plane-lost"


def test_a_fresh_daemon_tries_the_table_before_judging_an_old_silence(rig: Rig) -> None:
    rig.daemon.state.last_contact = T0 - 3600  # saved by a daemon that died an hour ago, same boot
    rig.job("j1")
    rig.daemon.one_pass()
    assert rig.powered == [] and rig.daemon.state.last_contact == T0


def test_a_refused_renewal_looks_again_at_once_and_then_powers_off(rig: Rig) -> None:
    rig.job("j1")
    rig.daemon.one_pass()
    real_get = rig.store.get_instance
    rig.store.mark_instance(OWNER, ARN, "down")
    stale = rig.row().replace(mark=None)
    rig.store.get_instance = lambda owner, arn: stale  # type: ignore[method-assign]  # the read missed the mark
    rig.clock.now += 10
    assert rig.daemon.one_pass() == rig.clock.now  # renewal refused: look again now
    rig.store.get_instance = real_get  # type: ignore[method-assign]
    rig.daemon.one_pass()
    assert rig.powered == ["marked"]


def test_a_failing_power_command_is_tried_again_a_period_later_not_at_once(rig: Rig) -> None:
    rig.store.mark_instance(OWNER, ARN, "down")
    rig.daemon.power_off = lambda reason, env: CommandResult("poweroff", 1, "sudo: no tty")
    assert rig.daemon.one_pass() == T0 + 10
    assert rig.daemon.done is False and rig.daemon.state.power_off["ok"] is False
    assert "FAILED (exit 1) `poweroff`: sudo: no tty" in (Path(rig.daemon.log.path)).read_text()
