"""From a job id to a live agent on the job's machine."""

from __future__ import annotations

from dataclasses import dataclass

from ..app import App
from ..providers.base import Provider
from ..providers.records import Instance
from ..session.agent import RemoteAgent
from . import index


@dataclass
class JobHandle:
    record: index.LocalJob
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
