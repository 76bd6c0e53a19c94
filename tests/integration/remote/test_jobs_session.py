"""A job outlives the session that started it: SIGHUP to the caller's session, and a real sshd session."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from weatherballoon.remote.agent_io import STREAM_HEADER
from weatherballoon.remote.procinfo import is_alive

from tests.support.sshd import SshdHost

from .conftest import SYSTEM_PYTHON, Agent


def test_a_job_survives_sighup_to_the_session_that_started_it(agent: Agent) -> None:
    job_id = agent.new_id()
    proc = agent.popen(
        *agent.run_args(job_id, "--follow"), "--", "sleep 0.4; printf survived; exit 6", start_new_session=True
    )
    agent.wait_for(lambda: (agent.job_dir(job_id) / "meta.json").exists())
    os.killpg(proc.pid, signal.SIGHUP)  # what a closing terminal does to its session's processes
    proc.wait(timeout=5)
    result = agent("follow", job_id)
    assert (result.returncode, result.stdout) == (6, b"survived")


def test_the_job_runs_in_its_own_process_group_and_session(agent: Agent) -> None:
    job_id = agent.start(["sleep", "30"])
    meta = agent.meta(job_id)
    assert os.getpgid(meta["pid"]) == meta["pid"]
    assert os.getsid(meta["supervisor_pid"]) == meta["supervisor_pid"] != os.getsid(0)


@pytest.fixture
def remote(sshd_host: SshdHost, agent_zip: Path) -> Iterator[SshOverAgent]:
    installed = sshd_host.user.home / agent_zip.name
    shutil.copy(agent_zip, installed)
    sshd_host.user.chown(installed)
    # A state dir of this test's own: the test user's ~/.weatherballoon belongs to the end-to-end tests.
    remote = SshOverAgent(sshd_host, installed, f".wb-agent-test-{uuid.uuid4().hex[:8]}")
    yield remote
    remote.kill_leftovers()
    shutil.rmtree(remote.home, ignore_errors=True)


class SshOverAgent:
    """The agent on the test user's account, reached with the OpenSSH client as the product does."""

    def __init__(self, host: SshdHost, installed: Path, state_dir_name: str) -> None:
        self.host = host
        self.installed = installed
        self.state_dir_name = state_dir_name
        self.home = host.user.home / state_dir_name

    def argv(self, *args: str, tty: bool = False) -> list[str]:
        ssh = [
            "ssh",
            "-p",
            str(self.host.port),
            "-i",
            str(self.host.identity),
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={self.host.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ControlMaster=no",
            "-o",
            "LogLevel=ERROR",
        ]
        if tty:
            ssh.append("-tt")
        quoted = " ".join("'" + arg.replace("'", "'\\''") + "'" for arg in args)
        agent = f'WB_AGENT_HOME="$HOME/{self.state_dir_name}" {SYSTEM_PYTHON} -I -S {self.installed}'
        return [*ssh, f"{self.host.user.name}@{self.host.address}", f"{agent} {quoted}"]

    def __call__(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args), capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )

    def meta_path(self, job_id: str) -> Path:
        return self.home / "jobs" / job_id / "meta.json"

    def kill_leftovers(self) -> None:
        for meta_path in (self.home / "jobs").glob("*/meta.json"):
            meta = json.loads(meta_path.read_text())
            with contextlib.suppress(OSError):
                if is_alive(meta.get("pid"), meta.get("proc_start")):
                    os.killpg(meta["pgid"], signal.SIGKILL)
                if is_alive(meta.get("supervisor_pid"), meta.get("supervisor_start")):
                    os.kill(meta["supervisor_pid"], signal.SIGKILL)


def test_a_detached_run_over_ssh_returns_at_once(remote: SshOverAgent) -> None:
    """The supervisor must not keep the SSH channel open (`&` would, FIELD-NOTES)."""
    started = time.monotonic()
    result = remote("run", "--job-id", "detached", "--cwd", "~/work", "--", "sleep 30")
    assert (result.returncode, result.stdout) == (0, b"detached\n"), result.stderr
    assert time.monotonic() - started < 5
    status = json.loads(remote("status", "detached").stdout)
    assert status["state"] == "running" and status["cwd"] == str(remote.host.user.home / "work")


def test_a_job_survives_the_death_of_its_ssh_client_and_is_followed_later(remote: SshOverAgent) -> None:
    client = subprocess.Popen(
        remote.argv(
            "run",
            "--job-id",
            "orphan",
            "--cwd",
            "~",
            "--follow",
            "--",
            "printf one; sleep 1; printf two; exit 9",
            tty=True,
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not remote.meta_path("orphan").exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    client.kill()  # the laptop goes away: sshd closes the session and hangs up its terminal
    client.wait()
    result = remote("follow", "orphan")
    assert (result.returncode, result.stdout) == (9, STREAM_HEADER + b"onetwo"), result.stderr
