"""The job commands' arguments (the parser itself: test_agent_io.py)."""

from __future__ import annotations

import os

import pytest
from weatherballoon.remote.agent_io import UsageError
from weatherballoon.remote.jobs.args import FollowArgs, RunArgs, job_and_rest


def test_run_args_full() -> None:
    args = RunArgs(
        [
            "--job-id",
            "j-1",
            "--cwd",
            "~/wb/p",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--max-time",
            "1.5",
            "--stdin",
            "--follow",
            "--",
            "python",
            "train.py",
        ]
    )
    assert (args.job_id, args.cwd) == ("j-1", os.path.expanduser("~/wb/p"))
    assert args.env == {"A": "1", "B": "x=y"}
    assert (args.max_time_s, args.stdin, args.follow, args.command) == (1.5, True, True, ["python", "train.py"])


def test_run_args_defaults_and_relative_cwd() -> None:
    args = RunArgs(["--job-id", "j", "--cwd", "rel", "--", "true"])
    assert args.cwd == os.path.join(os.getcwd(), "rel")
    assert (args.env, args.max_time_s, args.stdin, args.follow) == ({}, None, False, False)


@pytest.mark.parametrize(
    "argv",
    [
        ["--cwd", "/", "--", "true"],
        ["--job-id", "j", "--", "true"],
        ["--job-id", "j", "--cwd", "/"],
        ["--job-id", "j", "--cwd", "/", "--"],
        ["--job-id", "j", "--cwd", "/", "stray", "--", "true"],
        ["--job-id", "../j", "--cwd", "/", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--env", "=v", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-time", "-1", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-time", "inf", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-time", "nan", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-time", "5m", "--", "true"],
        # past about 9.2e9 s the supervisor's sigtimedwait overflowed and the job showed as lost
        ["--job-id", "j", "--cwd", "/", "--max-time", "1e10", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-cost", "inf", "--", "true"],
        ["--job-id", "j", "--cwd", "/", "--max-cost", "1e400", "--", "true"],
    ],
)
def test_run_args_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        RunArgs(argv)


def test_follow_args() -> None:
    args = FollowArgs(["j", "--stdout-offset", "10", "--stderr-offset=3", "--no-wait"])
    assert (args.job_id, args.stdout_offset, args.stderr_offset, args.wait) == ("j", 10, 3, False)
    assert FollowArgs(["j"]).wait is True


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["j", "--stdout-offset", "x"], ["j", "--stderr-offset", "-2"]])
def test_follow_args_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        FollowArgs(argv)


def test_positional_commands() -> None:
    assert job_and_rest(["j", "INT"], ("ID", "SIGNAME")) == ["j", "INT"]
    assert job_and_rest([], ()) == []
    with pytest.raises(UsageError, match="expected ID"):
        job_and_rest([], ("ID",))
    with pytest.raises(UsageError, match="expected no arguments"):
        job_and_rest(["x"], ())


def test_run_args_with_the_spec_on_stdin_take_no_command_cwd_or_env() -> None:
    args = RunArgs(["--job-id", "j", "--spec-stdin", "--follow", "--max-output", "1048576"])
    assert (args.spec_stdin, args.command, args.cwd, args.max_output_bytes) == (True, [], "", 1 << 20)
    args.take_spec("~/wb/p", ["python", "x.py"], {"A": "1"})
    assert (args.cwd, args.command, args.env) == (os.path.expanduser("~/wb/p"), ["python", "x.py"], {"A": "1"})
    for extra in (["--cwd", "/"], ["--env", "A=1"], ["--", "true"]):
        with pytest.raises(UsageError, match="job spec"):
            RunArgs(["--job-id", "j", "--spec-stdin", *extra])
    with pytest.raises(UsageError, match="no command"):
        args.take_spec("/", [], {})
