"""The daemon's small parts: --outputs, the stop request, the commands, its state file, its own command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from weatherballoon.remote.agent import COMMANDS
from weatherballoon.remote.daemon import commands as daemon
from weatherballoon.remote.daemon.poweroff import arm_command, run_command
from weatherballoon.remote.daemon.s3push import JobOutputs, object_key, planned
from weatherballoon.remote.daemon.state import DaemonLog, DaemonState
from weatherballoon.remote.jobs import supervisor
from weatherballoon.remote.jobs.args import RunArgs
from weatherballoon.remote.jobs.store import JobPaths


def test_run_records_repeatable_outputs_globs() -> None:
    args = RunArgs(["--job-id", "j", "--cwd", "/w", "--outputs", "out", "--outputs=ckpt/*.pt", "--", "true"])
    assert args.outputs == ["out", "ckpt/*.pt"]
    assert RunArgs(["--job-id", "j", "--cwd", "/w", "--", "true"]).outputs == []


def test_the_supervisor_records_a_requested_stop_reason(tmp_path: Path) -> None:
    paths = JobPaths("j1", str(tmp_path))
    Path(paths.dir).mkdir()
    assert supervisor.requested_stop(paths) is None
    (Path(paths.dir) / supervisor.STOP_REQUEST).write_text(json.dumps({"reason": "max-cost"}))
    assert supervisor.requested_stop(paths) == "max-cost"
    (Path(paths.dir) / supervisor.STOP_REQUEST).write_text(json.dumps({"reason": "whim"}))
    assert supervisor.requested_stop(paths) is None


def test_the_daemon_is_an_agent_command() -> None:
    assert COMMANDS["daemon"] == "weatherballoon.remote.daemon.commands:main"


def test_arm_command_fills_in_seconds_or_whole_minutes() -> None:
    assert arm_command("sudo -n /opt/wb/bin/wb-power arm {seconds}", 361) == "sudo -n /opt/wb/bin/wb-power arm 361"
    assert arm_command("echo {minutes}", 361) == "echo 7"  # rounded up: never earlier than asked


def test_run_command_reports_exit_and_output() -> None:
    ok = run_command('echo "$WB_X"', {"WB_X": "hello"})
    assert (ok.ok, ok.output, ok.describe()) == (True, "hello\n", "ok: hello")
    failed = run_command("echo oops; exit 3")
    assert not failed.ok and failed.describe() == "FAILED (exit 3) `echo oops; exit 3`: oops"


def test_state_round_trips_and_forgets_contact_from_another_boot(tmp_path: Path) -> None:
    path = str(tmp_path / "daemon.json")
    state = DaemonState(pid=7, boot_id="another-boot", last_contact=123.0, busy=True, finished=["a"])
    state.save(path)
    loaded = DaemonState.load(path)
    assert (loaded.pid, loaded.busy, loaded.finished, loaded.last_contact) == (7, True, ["a"], 0.0)
    assert DaemonState.load(str(tmp_path / "missing.json")) == DaemonState()


def test_log_lines_have_a_time_an_event_and_fields(tmp_path: Path) -> None:
    log = DaemonLog(str(tmp_path / "daemon.log"), clock=lambda: 0.0)
    log.write("renew", state="busy", left="3.0s", why="1 job(s) running")
    assert (tmp_path / "daemon.log").read_text() == (
        '1970-01-01T00:00:00.000Z renew state=busy left=3.0s why="1 job(s) running"\n'
    )


def test_planned_outputs_are_regular_files_under_the_globs(tmp_path: Path) -> None:
    (tmp_path / "out" / "d").mkdir(parents=True)
    (tmp_path / "out" / "d" / "m.pt").write_bytes(b"12")
    (tmp_path / "out" / "link").symlink_to("d/m.pt")
    (tmp_path / "other.txt").write_text("x")
    found = planned(JobOutputs("j", str(tmp_path), ["out"]))
    assert [(rel, size) for rel, size, _ in found] == [("out/d/m.pt", 2)]
    assert planned(JobOutputs("j", str(tmp_path / "gone"), ["out"])) == []
    assert planned(JobOutputs("j", str(tmp_path), [])) == []
    assert object_key("AIDAX/arn:aws:ec2:r:1:instance/i-1/", "j", "out/d/m.pt") == (
        "AIDAX/arn:aws:ec2:r:1:instance/i-1/j/out/d/m.pt"
    )


def test_the_daemon_restarts_itself_from_the_installed_package() -> None:
    command = daemon.self_command()
    assert command[0] == sys.executable and command[-2:] == ["daemon", "--foreground"]


@pytest.mark.parametrize("argv", [[], ["--ensure", "--status"], ["--nope"]])
def test_usage(argv: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    assert daemon.main(argv) == 2
    said = capfd.readouterr().err
    assert said.startswith("wb-agent: daemon: ") and said.count("\n") == 1
    assert "usage: agent daemon --ensure | --foreground | --status" in said
