"""`run`: exit codes, streams, stdin, environment, and how a job can fail to start."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from weatherballoon.remote.agent_io import STREAM_HEADER

from .conftest import Agent, oldest_python


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_code_is_the_commands_own(agent: Agent, code: int) -> None:
    job_id, result = agent.follow_job(f"exit {code}")
    assert result.returncode == code
    assert agent.status_record(job_id)["exit_code"] == code
    assert agent.status_record(job_id)["signal"] is None


@pytest.mark.parametrize(("name", "number"), [("KILL", 9), ("TERM", 15)])
def test_death_by_signal_is_128_plus_n(agent: Agent, name: str, number: int) -> None:
    job_id, result = agent.follow_job(f"kill -{name} $$")
    assert result.returncode == 128 + number
    assert agent.status_record(job_id) | {"ended_at": 0, "started_at": 0} == {
        "exit_code": 128 + number,
        "signal": number,
        "stop_reason": None,
        "ended_at": 0,
        "started_at": 0,
    }
    assert agent.summary(job_id)["state"] == "killed"


def test_stdout_and_stderr_stay_apart(agent: Agent) -> None:
    _, result = agent.follow_job("printf out1; printf err1 >&2; printf out2; printf err2 >&2")
    assert (result.stdout, result.stderr) == (b"out1out2", b"err1err2")


def test_five_megabytes_of_every_byte_value_come_back_exactly(agent: Agent, tmp_path: Path) -> None:
    rng = random.Random(5)
    data = bytes(range(256)) * 4096 + rng.randbytes(4 * 1024 * 1024)
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    job_id, result = agent.follow_job(["cat", str(source)])
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == len(data) and result.stdout == data
    assert (agent.job_dir(job_id) / "stdout").read_bytes() == data


def test_stdin_reaches_the_command(agent: Agent) -> None:
    data = random.Random(1).randbytes(3 * 1024 * 1024)
    _, result = agent.follow_job(["cat"], "--stdin", input=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_empty_stdin_is_eof_at_once(agent: Agent) -> None:
    _, result = agent.follow_job("wc -c", "--stdin", input=b"")
    assert result.stdout.strip() == b"0"


@pytest.mark.parametrize("command", ["true", "sleep 0.2", "head -c 5"])
def test_a_command_that_reads_little_or_no_stdin_does_not_block_the_agent(agent: Agent, command: str) -> None:
    data = b"x" * (8 * 1024 * 1024)
    _, result = agent.follow_job(command, "--stdin", input=data, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (b"xxxxx" if command.startswith("head") else b"")
    assert result.stderr == b""


def test_stdin_that_never_ends_does_not_keep_the_agent_after_the_job(agent: Agent) -> None:
    job_id = agent.new_id()
    proc = agent.popen(*agent.run_args(job_id, "--follow", "--stdin"), "--", "head -c 3; exit 4", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"abcdef")
    proc.stdin.flush()  # and never closed
    assert proc.wait(timeout=10) == 4
    assert proc.stdout is not None and proc.stdout.read() == STREAM_HEADER + b"abc"
    proc.stdin.close()


def test_without_stdin_flag_the_command_reads_dev_null(agent: Agent) -> None:
    _, result = agent.follow_job("cat", input=b"not for the job")
    assert (result.returncode, result.stdout) == (0, b"")


def test_one_argument_is_a_shell_line_several_are_an_argv(agent: Agent) -> None:
    _, shell = agent.follow_job("echo $((2 + 3)) && echo ok")
    assert shell.stdout == b"5\nok\n"
    _, argv = agent.follow_job(["printf", "%s|", "a b", "$HOME", "*"])
    assert argv.stdout == b"a b|$HOME|*|"


def test_env_pairs_and_a_new_working_directory(agent: Agent, tmp_path: Path) -> None:
    cwd = tmp_path / "made" / "for" / "the job"
    job_id = agent.new_id()
    result = agent(
        "run",
        "--job-id",
        job_id,
        "--cwd",
        str(cwd),
        "--env",
        "SECRET=s3cr3t value",
        "--env=EMPTY=",
        "--follow",
        "--",
        'printf "%s|%s|%s|%s" "$SECRET" "$EMPTY" "$WB_JOB_ID" "$(pwd)"',
    )
    assert result.stdout == f"s3cr3t value||{job_id}|{cwd}".encode()
    meta_text = (agent.job_dir(job_id) / "meta.json").read_text()
    assert "s3cr3t" not in meta_text
    meta = json.loads(meta_text)
    assert meta["cwd"] == str(cwd) and meta["command"] == [
        'printf "%s|%s|%s|%s" "$SECRET" "$EMPTY" "$WB_JOB_ID" "$(pwd)"'
    ]


def test_a_missing_program_exits_127_with_the_reason_on_stderr(agent: Agent) -> None:
    job_id, result = agent.follow_job(["no-such-program-wb", "arg"])
    assert result.returncode == 127
    assert result.stderr == b"wb-agent: cannot run no-such-program-wb: command not found\n"
    summary = agent.summary(job_id)
    assert (summary["state"], summary["exit_code"], summary["pid"]) == ("exited", 127, None)
    assert agent("signal", job_id, "INT").returncode == 1
    assert agent("follow", job_id).returncode == 127


def test_a_program_that_is_not_executable_exits_126(agent: Agent, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    _, result = agent.follow_job([str(script), "arg"])  # two words: exec'd directly, no shell
    assert result.returncode == 126
    assert result.stderr.startswith(f"wb-agent: cannot run {script}: Permission denied".encode())


def test_the_jobs_own_path_finds_its_programs(agent: Agent, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "wb-test-tool"
    tool.write_text("#!/bin/sh\nprintf found\n")
    tool.chmod(0o755)
    _, result = agent.follow_job(["wb-test-tool", "x"], "--env", f"PATH={bin_dir}:/usr/bin:/bin")
    assert (result.returncode, result.stdout) == (0, b"found")


def test_a_working_directory_that_cannot_exist_exits_125(agent: Agent, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    job_id = agent.new_id()
    result = agent("run", "--job-id", job_id, "--cwd", str(blocker / "sub"), "--follow", "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(b"wb-agent: cannot use working directory")


def test_detached_run_prints_the_id_and_returns_while_the_job_runs(agent: Agent) -> None:
    started = time.monotonic()
    job_id = agent.start(["sleep", "30"])
    assert time.monotonic() - started < 5
    meta = agent.meta(job_id)
    assert meta["pid"] == meta["pgid"] and meta["proc_start"] and meta["stdin"] is False
    assert agent.summary(job_id)["state"] == "running"


def test_max_time_stops_the_job_with_124_and_says_why(agent: Agent) -> None:
    started = time.monotonic()
    job_id, result = agent.follow_job(["sleep", "30"], "--max-time", "0.3")
    assert time.monotonic() - started < 5
    assert result.returncode == 124
    assert b"max-time" in result.stderr and result.stderr.startswith(b"wb-agent: ")
    status = agent.status_record(job_id)
    assert (status["exit_code"], status["signal"], status["stop_reason"]) == (124, 15, "max-time")
    assert agent.summary(job_id)["state"] == "stopped"


@pytest.mark.slow
def test_max_time_kills_a_job_that_ignores_sigterm_after_the_grace(agent: Agent) -> None:
    started = time.monotonic()
    job_id, result = agent.follow_job("trap '' TERM; sleep 30", "--max-time", "0.2")
    elapsed = time.monotonic() - started
    assert result.returncode == 124
    assert 5 <= elapsed < 9
    assert agent.status_record(job_id)["signal"] == signal.SIGKILL


def test_signal_int_reaches_the_process_group_and_gives_130(agent: Agent) -> None:
    job_id = agent.start("sleep 30; echo never")
    assert agent("signal", job_id, "INT").returncode == 0
    result = agent("follow", job_id)
    assert (result.returncode, result.stdout) == (130, b"")
    assert agent.status_record(job_id)["signal"] == signal.SIGINT


def test_sigint_sent_to_a_following_agent_is_forwarded_to_the_job(agent: Agent) -> None:
    job_id = agent.new_id()
    proc = agent.popen(*agent.run_args(job_id, "--follow"), "--", "sleep", "30")
    agent.wait_for(lambda: (agent.job_dir(job_id) / "meta.json").exists())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130


def test_signal_after_the_end_exits_1_and_unknown_ids_exit_3(agent: Agent) -> None:
    job_id, _ = agent.follow_job("true")
    ended = agent("signal", job_id, "TERM")
    assert ended.returncode == 1 and ended.stderr.startswith(b"wb-agent: ")
    unknown = agent("signal", "no-such-job", "TERM")
    assert unknown.returncode == 3 and unknown.stderr.startswith(b"wb-agent: ")
    bad_name = agent("signal", job_id, "NOPE")
    assert bad_name.returncode == 2 and b"unknown signal" in bad_name.stderr


def test_a_used_job_id_is_refused(agent: Agent) -> None:
    job_id, _ = agent.follow_job("true")
    again = agent(*agent.run_args(job_id), "--", "true")
    assert again.returncode == 2 and b"already used" in again.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--job-id", "../escape", "--cwd", "/tmp", "--", "true"],
        ["run", "--job-id", "a/b", "--cwd", "/tmp", "--", "true"],
        ["run", "--job-id", "ok", "--cwd", "/tmp"],
        ["run", "--job-id", "ok", "--", "true"],
        ["run", "--job-id", "ok", "--cwd", "/tmp", "--max-time", "0", "--", "true"],
        ["run", "--job-id", "ok", "--cwd", "/tmp", "--env", "NOEQUALS", "--", "true"],
        ["run", "--job-id", "ok", "--cwd", "/tmp", "--bogus", "--", "true"],
        ["follow", ".."],
        ["follow", "ok", "--stdout-offset", "-1"],
        ["status"],
    ],
)
def test_usage_errors_exit_2_and_create_nothing(agent: Agent, args: list[str]) -> None:
    result = agent(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(b"wb-agent: ") and result.stderr.count(b"\n") == 1
    assert not (agent.home / "jobs").exists() or not any((agent.home / "jobs").iterdir())


def test_runs_on_the_oldest_supported_python(agent: Agent) -> None:
    python = oldest_python()
    if python is None:
        pytest.skip("no python3.8 on this machine")
    old = type(agent)(agent.zip_path, agent.home, agent.workdir, python=python)
    _, result = old.follow_job("printf ok; exit 7", "--stdin", input=b"in")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"ok", b"")
    job_id = old.start(["sleep", "30"])
    assert old("signal", job_id, "TERM").returncode == 0
    assert old("follow", job_id).returncode == 143
    listed = json.loads(old("list").stdout)
    assert [job["state"] for job in listed] == ["killed", "exited"]


def test_agent_stdout_is_closed_when_a_detached_run_returns(agent: Agent) -> None:
    """The supervisor holds none of the caller's pipes: a reader of `run`'s stdout sees EOF at once."""
    job_id = agent.new_id()
    proc = agent.popen(*agent.run_args(job_id), "--", "sleep", "30")
    started = time.monotonic()
    out, _ = proc.communicate(timeout=10)  # returns only once every holder of the pipe closed it
    assert out == f"{job_id}\n".encode()
    assert time.monotonic() - started < 5
    assert subprocess.run(["kill", "-0", str(agent.meta(job_id)["pid"])], check=False).returncode == 0
