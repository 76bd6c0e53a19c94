"""The agent's own outcomes never look like a job's: the stream header, the job spec on stdin, and the
codes that only mean something without the header (`remote/agent_io.py`)."""

from __future__ import annotations

import os

import pytest
from weatherballoon.remote.agent_io import STREAM_HEADER, TOO_LONG_EXIT, UNKNOWN_JOB_EXIT, USAGE_EXIT
from weatherballoon.remote.jobs.spec import encode_spec

from tests.support.requirements import require_python38

from .conftest import Agent


def spec(cwd: str | bytes, argv: list[bytes], env: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return encode_spec(os.fsencode(cwd), argv, env or [])


@pytest.mark.parametrize("code", [0, 2, 3, 125, 255])
def test_a_followed_job_streams_after_the_header_and_exits_with_its_own_code(agent: Agent, code: int) -> None:
    job_id, result = agent.follow_job(f"printf out; exit {code}")
    assert result.returncode == code
    again = agent("follow", job_id, raw=True)
    assert (again.returncode, again.stdout) == (code, STREAM_HEADER + b"out")


def test_an_unknown_job_has_no_header(agent: Agent) -> None:
    result = agent("follow", "nope", raw=True)
    assert (result.returncode, result.stdout) == (UNKNOWN_JOB_EXIT, b"")
    assert b"no job nope" in result.stderr


def test_the_spec_on_stdin_carries_argv_environment_and_cwd_as_bytes(agent: Agent) -> None:
    cwd = os.fsencode(agent.workdir) + b"/d\xe9j\xe0"
    show = (
        b"import os,sys; sys.stdout.buffer.write(os.fsencode(sys.argv[1]) + b'|' + os.environb[b'X'] + b'|'"
        b" + os.getcwdb())"
    )
    frame = spec(cwd, [b"python3", b"-c", show, b"\xff\xfe arg"], [(b"X", b"\xfa=v")])
    job_id = agent.new_id()
    result = agent("run", "--job-id", job_id, "--spec-stdin", "--follow", input=frame + b"ignored: no --stdin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"\xff\xfe arg|\xfa=v|" + cwd
    assert agent.meta(job_id)["command"][3] == os.fsdecode(b"\xff\xfe arg")


def test_what_follows_the_spec_is_the_jobs_stdin(agent: Agent) -> None:
    frame = spec(agent.workdir, [b"wc -c"])
    result = agent("run", "--job-id", agent.new_id(), "--spec-stdin", "--stdin", "--follow", input=frame + b"12345")
    assert (result.returncode, result.stdout.strip()) == (0, b"5")


def test_an_empty_argument_survives(agent: Agent) -> None:
    frame = spec(agent.workdir, [b"python3", b"-c", b"import sys; print(sys.argv[1:])", b"", b"x"])
    result = agent("run", "--job-id", agent.new_id(), "--spec-stdin", "--follow", input=frame)
    assert result.stdout == b"['', 'x']\n"


@pytest.mark.parametrize(
    "frame",
    [b"", b"\x05\x00\x00\x00abc", spec("/tmp", []), b"\xff\xff\xff\x7f" + b"x" * 10],
)
def test_a_missing_or_broken_spec_is_a_usage_error_and_starts_nothing(agent: Agent, frame: bytes) -> None:
    job_id = agent.new_id()
    result = agent("run", "--job-id", job_id, "--spec-stdin", "--follow", input=frame, raw=True)
    assert (result.returncode, result.stdout) == (USAGE_EXIT, b"")
    assert result.stderr.startswith(b"wb-agent: run: ")
    assert not agent.job_dir(job_id).exists()


def test_an_argv_over_the_exec_limit_is_refused_with_the_agents_own_code(agent: Agent) -> None:
    # Linux takes at most 128 KiB (MAX_ARG_STRLEN) in one argument: this one cannot be exec'd anywhere.
    frame = spec(agent.workdir, [b"echo", b"x" * 200_000])
    job_id = agent.new_id()
    result = agent("run", "--job-id", job_id, "--spec-stdin", "--follow", input=frame, raw=True)
    assert (result.returncode, result.stdout) == (TOO_LONG_EXIT, b"")
    assert b"exec limit" in result.stderr and b"200000 bytes" in result.stderr
    assert agent.status_record(job_id)["exit_code"] == 126  # what `wb logs` shows, as a shell would
    detached = agent("run", "--job-id", agent.new_id(), "--spec-stdin", input=frame)
    assert (detached.returncode, detached.stdout) == (TOO_LONG_EXIT, b"")


def test_no_job_state_dir_is_the_agents_own_code(agent: Agent, tmp_path: os.PathLike[str]) -> None:
    agent.env["WB_AGENT_HOME"] = "/proc/wb-cannot-be-here"
    result = agent(
        "run", "--job-id", agent.new_id(), "--spec-stdin", "--follow", input=spec("/tmp", [b"true"]), raw=True
    )
    assert (result.returncode, result.stdout) == (125, b"")
    assert result.stderr.startswith(b"wb-agent: run: cannot create job")


def test_the_spec_and_the_guard_work_on_the_oldest_supported_python(agent: Agent) -> None:
    python = require_python38()
    agent.python = python
    frame = spec(agent.workdir, [b"sh", b"-c", b"printf '\\377'; head -c 300000 /dev/zero; sleep 1; echo never"])
    result = agent("run", "--job-id", agent.new_id(), "--spec-stdin", "--max-output", "100000", "--follow", input=frame)
    assert result.returncode == 124, result.stderr
    assert result.stdout.startswith(b"\xff") and b"never" not in result.stdout
    assert b"output-cap" in result.stderr
