"""`agent sync-run` against the real agent in a local subprocess: the sync, then the job, in one process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from weatherballoon.cli.errors import SyncError, SyncRefused
from weatherballoon.cli.jobs.run_job import RunRequest, agent_run_args, job_spec_for
from weatherballoon.cli.providers.records import InstanceSpec
from weatherballoon.cli.sync.client import ThenRun, sync_up
from weatherballoon.remote.agent_io import STREAM_HEADER

from .conftest import LocalAgentRunner
from .trees import write

REMOTE = "~/wb/proj"


class _PipeChannel:
    """What `sync-run`'s client reads off a channel (stderr as it comes), over the local agent's pipe."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    def recv_stderr(self, size: int) -> bytes:
        assert self._proc.stderr is not None
        return os.read(self._proc.stderr.fileno(), size)


@pytest.fixture
def channel_runner(runner: LocalAgentRunner) -> LocalAgentRunner:
    original = runner.__class__.__call__

    class WithChannel(LocalAgentRunner):
        def __call__(self, args: list[str]) -> subprocess.Popen[bytes]:
            proc = original(self, args)
            proc.channel = _PipeChannel(proc)  # type: ignore[attr-defined]
            return proc

    return WithChannel(runner.agent, runner.home, runner.python)


def _job(job_id: str, *command: str) -> ThenRun:
    request = RunRequest(command=command, spec=InstanceSpec())
    args = agent_run_args(job_id, request)
    return ThenRun([*args, "--follow"], job_spec_for(request, REMOTE))


def _job_output(then: ThenRun) -> tuple[int, bytes, bytes]:
    assert then.proc is not None
    then.proc.stdin.close()
    out = then.proc.stdout.read()
    err = then.held_stderr + then.proc.stderr.read()
    status = then.proc.wait()
    assert out.startswith(STREAM_HEADER), (out, err)
    return status, out[len(STREAM_HEADER) :], err


def _job_dir(runner: LocalAgentRunner, job_id: str) -> Path:
    return runner.home / ".weatherballoon" / "jobs" / job_id


def test_the_job_sees_the_files_its_own_sync_sent_in_one_agent_process(
    project: Path, channel_runner: LocalAgentRunner
) -> None:
    write(project, "data.txt", "first\n")
    then = _job("20261207-000000-aaaaaa", "sh", "-c", "cat data.txt; echo to-stderr >&2; exit 3")
    summary = sync_up(channel_runner, project, REMOTE, then_run=then)
    assert summary.files_sent == 1
    assert _job_output(then) == (3, b"first\n", b"to-stderr\n")
    assert [args[0] for args in channel_runner.started] == ["sync-run"]


def test_with_nothing_to_send_the_job_starts_at_once_and_with_one_change_after_it(
    project: Path, channel_runner: LocalAgentRunner
) -> None:
    write(project, "data.txt", "first\n")
    sync_up(channel_runner, project, REMOTE)
    unchanged = _job("20261207-000000-bbbbbb", "cat", "data.txt")
    summary = sync_up(channel_runner, project, REMOTE, then_run=unchanged)
    assert (summary.files_sent, summary.unchanged) == (0, 1)
    assert _job_output(unchanged) == (0, b"first\n", b"")
    write(project, "data.txt", "second, longer\n")
    changed = _job("20261207-000000-cccccc", "cat", "data.txt")
    assert sync_up(channel_runner, project, REMOTE, then_run=changed).files_sent == 1
    assert _job_output(changed) == (0, b"second, longer\n", b"")
    assert [args[0] for args in channel_runner.started] == ["sync-scan", "sync-run", "sync-run"]


def test_a_refused_sync_starts_no_job(project: Path, channel_runner: LocalAgentRunner) -> None:
    write(project, "data.txt", "mine\n")
    write(channel_runner.home / "wb" / "proj", "data.txt", "someone else's\n")  # put there by no sync
    then = _job("20261207-000000-dddddd", "touch", "ran")
    with pytest.raises(SyncRefused, match="would replace 1 file"):
        sync_up(channel_runner, project, REMOTE, then_run=then)
    assert then.proc is None
    assert not _job_dir(channel_runner, "20261207-000000-dddddd").exists()
    assert (channel_runner.home / "wb" / "proj" / "data.txt").read_text() == "someone else's\n"


def test_a_sync_that_fails_on_the_machine_starts_no_job(project: Path, channel_runner: LocalAgentRunner) -> None:
    write(project, "data.txt", "x\n")
    (channel_runner.home / "wb").mkdir()
    (channel_runner.home / "wb" / "proj").write_text("a file where the root should be\n")
    then = _job("20261207-000000-eeeeee", "touch", "ran")
    with pytest.raises(SyncError, match="not a directory"):
        sync_up(channel_runner, project, REMOTE, then_run=then)
    assert then.proc is None
    assert not _job_dir(channel_runner, "20261207-000000-eeeeee").exists()
