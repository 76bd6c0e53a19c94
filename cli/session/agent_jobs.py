"""The agent's word on jobs (`agent list`, `agent status ID`), read into `Job` records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..providers.records import Job, job_from_json, jobs_from_json


class RunsAgentCommands(Protocol):
    def run(self, args: list[str]) -> tuple[int, bytes, bytes]: ...


def list_jobs(agent: RunsAgentCommands) -> list[Job] | None:
    """The machine's jobs, newest first; None when the agent cannot say. WbError when it cannot be reached."""
    status, out, _ = agent.run(["list"])
    if status != 0:
        return None
    try:
        return jobs_from_json(out)
    except ValueError:
        return None


def job_status(agent: RunsAgentCommands, job_id: str) -> Job | None:
    """One job; None when the agent does not know it or cannot say. WbError when it cannot be reached."""
    status, out, _ = agent.run(["status", job_id])
    if status != 0:
        return None
    try:
        return job_from_json(out)
    except ValueError:
        return None


def may_be_running(agent: Callable[[], RunsAgentCommands]) -> bool:
    """Whether a job still runs on the machine (`agent()` reaches it); True when the agent cannot say."""
    from ..errors import WbError

    try:
        jobs = list_jobs(agent())
    except WbError:
        return True
    return jobs is None or any(job.running for job in jobs)
