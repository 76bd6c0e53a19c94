"""From a job id to a live agent on the job's machine: the local index first, then the provider's record of
my jobs (aws: the supervision table), so a job started on another laptop is found too."""

from __future__ import annotations

from dataclasses import dataclass

from ..app import App
from ..errors import AmbiguousJob, JobNotFound
from ..providers.base import Provider
from ..providers.records import Instance, RecordedJob, SshTarget
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


def open_job(app: App, job_id: str, *, rank: int = 0) -> JobHandle:
    """The job and its machine; `rank`: which machine of a job run on several (`wb run --nodes`)."""
    try:
        record = index.load(job_id)  # a malformed id is refused here, before any config or provider
    except JobNotFound:
        provider = app.provider()
        if not provider.records_jobs:
            raise
        record = _recorded_elsewhere(provider, job_id)
    else:
        provider = app.provider()
    if rank:
        record.node_instance(rank)  # a rank the job does not have fails here, before any connection
    instance = provider.instance_for_job(record) if rank == 0 else record.node_instance(rank)
    return JobHandle(record=record, provider=provider, instance=instance)


def _recorded_elsewhere(provider: Provider, job_id: str) -> index.LocalJob:
    """One of my jobs that this laptop did not start, by id or unique prefix, from the provider's record."""
    recorded = {job.id: job for job in provider.recorded_jobs()}
    matches = [job_id] if job_id in recorded else sorted(known for known in recorded if known.startswith(job_id))
    if not matches:
        raise JobNotFound(
            job_id,
            hint="wb jobs lists yours, from this laptop's index and the supervision table (a job whose machine "
            "ended over an hour ago is known only to the laptop that started it)",
        )
    if len(matches) > 1:
        raise AmbiguousJob(job_id, matches)
    return as_local(recorded[matches[0]], provider.name)


def as_local(job: RecordedJob, provider_name: str) -> index.LocalJob:
    """A recorded job as an index record: its remote folder is unknown here (`remote_root` ""; `wb pull`
    asks the agent for the job's folder), its target is found again through the provider."""
    return index.LocalJob(
        id=job.id,
        provider=provider_name,
        instance_id=job.instance_id,
        target=SshTarget(host=""),
        remote_root="",
        command=job.command,
        outputs=job.outputs,
        started_at=job.started_at,
    )
