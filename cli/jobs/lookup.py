"""From a job id to a live agent on the job's machine."""

from __future__ import annotations

from dataclasses import dataclass

from ..app import App
from ..errors import JobNotFound
from ..providers.base import Provider
from ..providers.records import Instance
from ..session.agent import RemoteAgent
from . import index

AGENT_UNKNOWN_JOB = 3


@dataclass
class JobHandle:
    record: index.JobRecord
    provider: Provider
    instance: Instance

    @property
    def agent(self) -> RemoteAgent:
        """The agent on the job's machine; connects on first use."""
        return self.provider.agent(self.instance)


def open_job(app: App, job_id: str) -> JobHandle:
    record = index.load(job_id)
    provider = app.provider()
    return JobHandle(record=record, provider=provider, instance=provider.instance_for_job(record))


def check_agent_status(status: int, job_id: str, err: bytes) -> None:
    if status == AGENT_UNKNOWN_JOB:
        raise JobNotFound(job_id, hint="the machine has no record of it (it may have been replaced); see wb jobs")
