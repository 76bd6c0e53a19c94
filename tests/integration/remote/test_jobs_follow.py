"""`follow`: replay from offsets, follow to the end, survive the loss of the first follower, detect loss."""

from __future__ import annotations

import os
import signal
import time

from .conftest import Agent


def test_follow_replays_from_byte_offsets(agent: Agent) -> None:
    job_id, _ = agent.follow_job("printf 0123456789; printf abcdef >&2; exit 4")
    result = agent("follow", job_id, "--stdout-offset", "4", "--stderr-offset=2")
    assert (result.returncode, result.stdout, result.stderr) == (4, b"456789", b"cdef")
    past_the_end = agent("follow", job_id, "--stdout-offset", "99", "--stderr-offset", "99")
    assert (past_the_end.returncode, past_the_end.stdout, past_the_end.stderr) == (4, b"", b"")


def test_follow_waits_for_the_end_and_returns_the_code(agent: Agent) -> None:
    job_id = agent.start("printf a; sleep 0.3; printf b >&2; printf c; exit 7")
    result = agent("follow", job_id)
    assert (result.returncode, result.stdout, result.stderr) == (7, b"ac", b"b")


def test_no_wait_replays_what_is_there_and_exits_0_while_running(agent: Agent) -> None:
    job_id = agent.start("printf early; sleep 30")
    agent.wait_for(lambda: (agent.job_dir(job_id) / "stdout").read_bytes() == b"early")
    running = agent("follow", job_id, "--no-wait")
    assert (running.returncode, running.stdout) == (0, b"early")
    agent("signal", job_id, "KILL")
    agent.wait_ended(job_id)
    ended = agent("follow", job_id, "--no-wait")
    assert (ended.returncode, ended.stdout) == (137, b"early")


def test_the_job_survives_kill_9_of_the_following_agent(agent: Agent) -> None:
    job_id = agent.new_id()
    proc = agent.popen(*agent.run_args(job_id, "--follow"), "--", "printf first; sleep 0.5; printf second; exit 5")
    agent.wait_for(
        lambda: (
            (agent.job_dir(job_id) / "stdout").exists() and (agent.job_dir(job_id) / "stdout").read_bytes() == b"first"
        )
    )
    proc.kill()
    proc.wait(timeout=5)
    result = agent("follow", job_id)
    assert (result.returncode, result.stdout) == (5, b"firstsecond")


def test_the_job_runs_on_when_the_reader_of_our_stdout_goes_away(agent: Agent) -> None:
    job_id = agent.new_id()
    proc = agent.popen(*agent.run_args(job_id, "--follow"), "--", "while :; do echo tick; sleep 0.02; done")
    assert proc.stdout is not None
    proc.stdout.read(5)
    proc.stdout.close()  # like an SSH channel that closed
    assert proc.wait(timeout=5) == 255
    assert agent.summary(job_id)["state"] == "running"


def test_a_job_whose_supervisor_and_process_vanished_is_lost(agent: Agent) -> None:
    job_id = agent.start("printf partial; sleep 30")
    agent.wait_for(lambda: (agent.job_dir(job_id) / "stdout").read_bytes() == b"partial")
    meta = agent.meta(job_id)
    os.kill(meta["supervisor_pid"], signal.SIGKILL)  # first, so it cannot record the job's death
    os.killpg(meta["pgid"], signal.SIGKILL)
    started = time.monotonic()
    result = agent("follow", job_id)
    assert time.monotonic() - started < 5
    assert (result.returncode, result.stdout) == (255, b"partial")
    assert result.stderr.startswith(b"wb-agent: ") and b"lost" in result.stderr
    assert agent("follow", job_id, "--no-wait").returncode == 255
    assert agent.summary(job_id)["state"] == "lost"


def test_a_job_outlives_its_killed_supervisor_and_is_followed_until_it_ends(agent: Agent) -> None:
    """Without a supervisor there is no exit status to report, but following must not stop early."""
    job_id = agent.start("sleep 0.5; printf done")
    os.kill(agent.meta(job_id)["supervisor_pid"], signal.SIGKILL)
    result = agent("follow", job_id)
    assert (result.returncode, result.stdout) == (255, b"done")
    assert b"lost" in result.stderr


def test_unknown_job_exits_3(agent: Agent) -> None:
    for args in (["follow", "nope"], ["status", "nope"], ["signal", "nope", "INT"]):
        result = agent(*args)
        assert result.returncode == 3, args
        assert result.stderr == b"wb-agent: no job nope on this machine\n"


def test_run_follow_and_follow_give_identical_bytes(agent: Agent) -> None:
    job_id, first = agent.follow_job("seq 1 20000; seq 1 5000 >&2")
    again = agent("follow", job_id)
    assert (again.stdout, again.stderr) == (first.stdout, first.stderr)
    assert (first.stdout.count(b"\n"), first.stderr.count(b"\n")) == (20000, 5000)
