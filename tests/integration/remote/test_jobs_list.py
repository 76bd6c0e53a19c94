"""`list` and `status`: one object per job, newest first, with the state its records and processes imply."""

from __future__ import annotations

import json
import time

from weatherballoon.remote.jobs.store import JobPaths, write_json_atomic

from .conftest import Agent

FIELDS = {
    "id", "command", "cwd", "state", "exit_code", "signal", "stop_reason", "started_at", "ended_at", "pid", "push",
    "gang",
}  # fmt: skip


def test_list_is_an_empty_array_before_any_job(agent: Agent) -> None:
    result = agent("list")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_list_shows_every_state_newest_first(agent: Agent) -> None:
    exited, _ = agent.follow_job("exit 2")
    killed, _ = agent.follow_job("kill -TERM $$")
    stopped, _ = agent.follow_job(["sleep", "30"], "--max-time", "0.1")
    running = agent.start(["sleep", "30"])
    jobs = json.loads(agent("list").stdout)
    assert [job["id"] for job in jobs] == [running, stopped, killed, exited]
    assert all(set(job) == FIELDS for job in jobs)
    by_id = {job["id"]: job for job in jobs}
    assert [by_id[j]["state"] for j in (exited, killed, stopped, running)] == ["exited", "killed", "stopped", "running"]
    assert (by_id[exited]["exit_code"], by_id[killed]["exit_code"], by_id[stopped]["exit_code"]) == (2, 143, 124)
    assert by_id[stopped]["stop_reason"] == "max-time"
    assert by_id[running]["exit_code"] is None and by_id[running]["ended_at"] is None
    assert by_id[running]["command"] == ["sleep", "30"] and by_id[running]["cwd"] == str(agent.workdir)


def test_status_prints_the_same_object_as_list(agent: Agent) -> None:
    job_id, _ = agent.follow_job("true")
    assert agent.summary(job_id) == json.loads(agent("list").stdout)[0]


def test_list_skips_strangers_in_the_jobs_dir(agent: Agent) -> None:
    job_id, _ = agent.follow_job("true")
    (agent.home / "jobs" / "not a job id!").mkdir()
    (agent.home / "jobs" / "stray-file").write_text("")
    (agent.home / "jobs" / "starting").mkdir()  # no meta.json yet
    assert [job["id"] for job in json.loads(agent("list").stdout)] == [job_id]


def test_list_of_three_hundred_jobs(agent: Agent) -> None:
    root = agent.home / "jobs"
    for number in range(300):
        paths = JobPaths(f"bulk-{number:03d}", str(root))
        root.joinpath(paths.id).mkdir(parents=True)
        write_json_atomic(
            paths.meta,
            {
                "id": paths.id,
                "command": ["true"],
                "cwd": "/",
                "pid": 1,
                "proc_start": -1,
                "started_at": 1000.0 + number,
            },
        )
        write_json_atomic(
            paths.status,
            {
                "exit_code": 0,
                "signal": None,
                "stop_reason": None,
                "ended_at": 1001.0 + number,
                "started_at": 1000.0 + number,
            },
        )
    started = time.perf_counter()
    result = agent("list")
    elapsed_ms = (time.perf_counter() - started) * 1000
    jobs = json.loads(result.stdout)
    assert len(jobs) == 300 and jobs[0]["id"] == "bulk-299" and jobs[-1]["id"] == "bulk-000"
    print(f"\nlist of 300 jobs: {elapsed_ms:.1f} ms (whole agent process)")
