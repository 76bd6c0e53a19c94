"""The agent as it runs on a machine: the shipped zipapp, started by the system python3 with -I -S."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from weatherballoon.cli.session.bundle import agent_bundle
from weatherballoon.remote.agent_io import STREAM_HEADER
from weatherballoon.remote.procinfo import is_alive

from tests.support import waiting

# The interpreter a bare host has; fall back to ours where there is no system python3.
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
_job_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def agent_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = agent_bundle()
    path = tmp_path_factory.mktemp("agent") / f"{bundle.name}.pyz"
    path.write_bytes(bundle.data)
    return path


class Agent:
    """Runs agent commands against one state dir (`WB_AGENT_HOME`)."""

    def __init__(self, zip_path: Path, home: Path, workdir: Path, python: str = SYSTEM_PYTHON) -> None:
        self.zip_path = zip_path
        self.home = home
        self.workdir = workdir
        self.python = python
        self.env = {**os.environ, "WB_AGENT_HOME": str(home)}

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-I", "-S", str(self.zip_path), *args]

    def __call__(
        self, *args: str, input: bytes | None = None, timeout: float = 20, raw: bool = False
    ) -> subprocess.CompletedProcess:
        """The finished agent command. Unless `raw`, the stream header that `follow` and `run --follow` put
        before the job's stdout (`agent_io`) is taken off, so stdout is the job's own bytes."""
        result = subprocess.run(
            self.argv(*args),
            input=input if input is not None else b"",
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if not raw and result.stdout.startswith(STREAM_HEADER):
            result.stdout = result.stdout[len(STREAM_HEADER) :]
        return result

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.argv(*args), env=self.env, **kwargs)  # type: ignore[call-overload]

    @staticmethod
    def new_id() -> str:
        return f"t{os.getpid()}-{next(_job_numbers)}"

    def run_args(self, job_id: str, *options: str) -> list[str]:
        return ["run", "--job-id", job_id, "--cwd", str(self.workdir), *options]

    def follow_job(
        self, command: str | list[str], *options: str, input: bytes | None = None, timeout: float = 20
    ) -> tuple[str, subprocess.CompletedProcess]:
        """`run --follow`: the job id and the finished agent process."""
        job_id = self.new_id()
        words = [command] if isinstance(command, str) else command
        result = self(*self.run_args(job_id, *options, "--follow"), "--", *words, input=input, timeout=timeout)
        return job_id, result

    def start(self, command: str | list[str], *options: str) -> str:
        """`run` without --follow; the job runs on."""
        job_id = self.new_id()
        words = [command] if isinstance(command, str) else command
        result = self(*self.run_args(job_id, *options), "--", *words)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{job_id}\n".encode()
        return job_id

    def job_dir(self, job_id: str) -> Path:
        return self.home / "jobs" / job_id

    def meta(self, job_id: str) -> dict:
        return json.loads((self.job_dir(job_id) / "meta.json").read_text())

    def status_record(self, job_id: str) -> dict:
        return json.loads((self.job_dir(job_id) / "status.json").read_text())

    def summary(self, job_id: str) -> dict:
        result = self("status", job_id)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10) -> None:
        waiting.wait_for(predicate, timeout, f"{predicate}", interval=0.01)

    def wait_ended(self, job_id: str, timeout: float = 10) -> dict:
        self.wait_for(lambda: (self.job_dir(job_id) / "status.json").exists(), timeout)
        return self.status_record(job_id)

    def kill_leftovers(self) -> None:
        """Kill every job (and supervisor) a test left running, so nothing outlives the test."""
        for meta_path in (self.home / "jobs").glob("*/meta.json"):
            with contextlib.suppress(ValueError, OSError):
                meta = json.loads(meta_path.read_text())
                if is_alive(meta.get("pid"), meta.get("proc_start")):
                    os.killpg(meta["pgid"], signal.SIGKILL)
                if is_alive(meta.get("supervisor_pid"), meta.get("supervisor_start")):
                    os.kill(meta["supervisor_pid"], signal.SIGKILL)


@pytest.fixture
def agent(agent_zip: Path, tmp_path: Path) -> Iterator[Agent]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    runner = Agent(agent_zip, tmp_path / "agent-home", workdir)
    yield runner
    runner.kill_leftovers()
