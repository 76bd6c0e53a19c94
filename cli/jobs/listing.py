"""Join the local job index with what each machine's agent says about those jobs."""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..app import App
from ..durations import format_duration
from ..errors import WbError
from ..providers.base import Provider
from ..providers.records import Job, RecordedJob
from ..session.agent_jobs import list_jobs
from . import index


@dataclass
class JobLine:
    """One line of `wb jobs`."""

    id: str
    instance: str
    state: str
    exit_code: int | None
    started_at: float
    ended_at: float | None
    command: str
    stop_reason: str | None = None
    upload_error: str | None = None  # the agent's upload of its outputs to storage failed (aws)
    owner: str | None = None  # known for jobs found through the provider's record (aws: the table)

    def cells(self) -> list[object]:
        end = self.ended_at or (time.time() if self.state == "running" else None)
        duration = format_duration(end - self.started_at) if end else None
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        state = f"{self.state} ({self.stop_reason})" if self.stop_reason else self.state
        if self.upload_error:
            state += ", upload failed"
        return [self.id, self.instance, state, self.exit_code, started, duration, self.command[:60]]


def job_lines(app: App, *, limit: int, everyone: bool = False) -> list[JobLine]:
    """This laptop's jobs (their state from their machines), and the jobs the provider recorded that this
    laptop did not start (their state from that record): mine, or with `everyone` the team's."""
    local = [] if everyone else index.all_records()
    if not local and not everyone and not _records_jobs(app):
        return []  # nothing here, and nowhere else to look (as before: no config needed to list nothing)
    provider = app.provider()
    try:
        recorded = _recorded_jobs(app, provider, everyone) if provider.records_jobs else []
        known_here = {record.id for record in local}
        lines = _local_lines(provider, local[:limit]) + [
            _recorded_line(job) for job in recorded if job.id not in known_here
        ]
    finally:
        provider.close()
    lines.sort(key=lambda line: line.started_at, reverse=True)
    return lines[:limit]


def _recorded_jobs(app: App, provider: Provider, everyone: bool) -> list[RecordedJob]:
    """The provider's record; for my own jobs, a record that cannot be read leaves this laptop's list."""
    try:
        return provider.recorded_jobs(everyone=everyone)
    except WbError as exc:
        if everyone:
            raise
        app.warn(f"jobs started elsewhere are not listed: {exc.message}")
        return []


def _records_jobs(app: App) -> bool:
    from ..providers.registry import provider_class

    try:
        return provider_class(app.config().config.provisioner.kind).records_jobs
    except WbError:
        return False


def _recorded_line(job: RecordedJob) -> JobLine:
    return JobLine(
        id=job.id,
        instance=job.instance_id,
        state=job.state,
        exit_code=job.exit_code,
        started_at=job.started_at,
        ended_at=job.ended_at,
        command=shlex.join(job.command),
        stop_reason=job.stop_reason,
        upload_error=job.upload_error,
        owner=job.owner,
    )


def _local_lines(provider: Provider, records: list[index.LocalJob]) -> list[JobLine]:
    if not records:
        return []
    by_instance: dict[str, list[index.LocalJob]] = {}
    for record in records:
        by_instance.setdefault(record.instance_id, []).append(record)

    def remote_jobs(instance_id: str) -> dict[str, Job]:
        sample = by_instance[instance_id][0]
        try:
            jobs = list_jobs(provider.agent(provider.instance_for_job(sample)))
        except WbError:
            return {}
        return {job.id: job for job in jobs or ()}

    def upload_error(record: index.LocalJob, job: Job | None) -> str | None:
        if job is not None:
            return job.push.failure if job.push is not None else None
        if provider.stores_outputs and record.outputs:  # the machine did not answer: the control plane's record
            return provider.stored_upload_failure(record)
        return None

    with ThreadPoolExecutor(max_workers=min(8, len(by_instance))) as pool:
        known = dict(zip(by_instance, pool.map(remote_jobs, by_instance), strict=True))
    uploads = {record.id: upload_error(record, known.get(record.instance_id, {}).get(record.id)) for record in records}
    lines = []
    for record in records:
        job = known.get(record.instance_id, {}).get(record.id)
        lines.append(
            JobLine(
                id=record.id,
                instance=record.instance_id,
                state=job.state if job else "unknown",
                exit_code=job.exit_code if job else None,
                started_at=job.started_at if job and job.started_at else record.started_at,
                ended_at=job.ended_at if job and job.ended_at else None,
                command=shlex.join(record.command),
                stop_reason=job.stop_reason if job else None,
                upload_error=uploads[record.id],
            )
        )
    return lines
