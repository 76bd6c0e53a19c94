"""Bring a job's declared outputs home: from its machine, or from storage when the provider keeps a copy."""

from __future__ import annotations

from pathlib import Path

from ..errors import WbError
from ..sync.records import PullSummary
from .lookup import JobHandle
from .uploads import job_summary


def pull_job_outputs(handle: JobHandle, globs: list[str], destination: Path) -> tuple[PullSummary, str | None]:
    """What was pulled, and a warning when the agent's upload of these outputs to storage failed."""
    from ..sync.pull import pull_outputs

    provider = handle.provider
    try:
        summary = pull_outputs(handle.agent, handle.record.remote_root or _job_folder(handle), globs, destination)
    except WbError as machine_error:
        fallback = provider.pull_from_storage(handle.record, globs, destination)
        if fallback is None:
            raise machine_error from None
        failure = provider.stored_upload_failure(handle.record)
        if failure is None:
            return fallback, None
        if not fallback.files and not fallback.unchanged:
            raise WbError(
                f"job {handle.record.id}: its machine is unreachable ({machine_error}) and its outputs were {failure}",
                hint="outputs that never reached storage are gone with the machine",
            ) from None
        return fallback, f"storage may hold only part of them: the agent's last upload was {failure}"
    if not provider.stores_outputs:
        return summary, None
    job = job_summary(handle.agent, handle.record.id)
    failure = job.push.failure if job is not None and job.push is not None else None
    if failure is None:
        return summary, None
    return summary, f"pulled from the machine, but they were {failure}; once the machine ends they are gone"


def _job_folder(handle: JobHandle) -> str:
    """Where the job ran, as its agent says (a job found through the table, started on another laptop: its
    outputs are relative to that folder, as the agent's own upload takes them)."""
    job = job_summary(handle.agent, handle.record.id)
    if job is None or not job.cwd:
        raise WbError(
            f"job {handle.record.id}: its machine does not say where it ran", hint="is the job still there? wb jobs"
        )
    return job.cwd
