"""Join the local job index with what each machine's agent says about those jobs."""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..app import App
from ..durations import format_duration
from ..errors import WbError
from ..providers.records import Job
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

    def cells(self) -> list[object]:
        end = self.ended_at or (time.time() if self.state == "running" else None)
        duration = format_duration(end - self.started_at) if end else None
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        state = f"{self.state} ({self.stop_reason})" if self.stop_reason else self.state
        if self.upload_error:
            state += ", upload failed"
        return [self.id, self.instance, state, self.exit_code, started, duration, self.command[:60]]


def job_lines(app: App, *, limit: int) -> list[JobLine]:
    records = index.all_records()[:limit]
    if not records:
        return []
    provider = app.provider()
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

    try:
        with ThreadPoolExecutor(max_workers=min(8, len(by_instance))) as pool:
            known = dict(zip(by_instance, pool.map(remote_jobs, by_instance), strict=True))
        uploads = {
            record.id: upload_error(record, known.get(record.instance_id, {}).get(record.id)) for record in records
        }
    finally:
        provider.close()
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
