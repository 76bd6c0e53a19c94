"""Process identity: a pid plus its start time, so a reused pid is never mistaken for the job."""

from __future__ import annotations

import os
import subprocess

from weatherballoon.remote import procinfo


def test_our_own_process_is_alive_with_its_start_time() -> None:
    start = procinfo.proc_start(os.getpid())
    assert start is not None and start > 0
    assert procinfo.is_alive(os.getpid(), start)
    assert procinfo.is_alive(os.getpid(), None)


def test_a_reused_pid_has_another_start_time() -> None:
    start = procinfo.proc_start(os.getpid())
    assert start is not None
    assert not procinfo.is_alive(os.getpid(), start + 1)


def test_a_zombie_and_a_reaped_process_are_not_alive() -> None:
    child = subprocess.Popen(["true"])
    start = procinfo.proc_start(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: a zombie
    assert not procinfo.is_alive(child.pid, start)
    child.wait()
    assert not procinfo.is_alive(child.pid, start)
    assert procinfo.proc_start(child.pid) is None


def test_no_pid_is_not_alive() -> None:
    assert not procinfo.is_alive(None, None)
    assert not procinfo.is_alive(0, None)


def test_a_job_is_live_while_either_its_process_or_its_supervisor_is() -> None:
    me = {"pid": os.getpid(), "proc_start": procinfo.proc_start(os.getpid())}
    gone = {"pid": 0, "proc_start": None}
    assert procinfo.job_is_live({**me, "supervisor_pid": 0})
    assert procinfo.job_is_live({**gone, "supervisor_pid": me["pid"], "supervisor_start": me["proc_start"]})
    assert not procinfo.job_is_live({**gone, "supervisor_pid": 0})


def test_a_job_recorded_in_another_boot_is_not_live() -> None:
    me = {"pid": os.getpid(), "proc_start": procinfo.proc_start(os.getpid())}
    assert procinfo.boot_id()
    assert procinfo.job_is_live({**me, "boot_id": procinfo.boot_id()})
    assert not procinfo.job_is_live({**me, "boot_id": "00000000-0000-0000-0000-000000000000"})
