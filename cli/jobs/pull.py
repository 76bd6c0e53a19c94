"""Bring a job's declared outputs home: from its machine, or from storage when the provider keeps a copy."""

from __future__ import annotations

from pathlib import Path

from ..errors import WbError
from ..sync.records import PullSummary
from .lookup import JobHandle


def pull_job_outputs(handle: JobHandle, globs: list[str], destination: Path) -> PullSummary:
    from ..sync.pull import pull_outputs

    try:
        return pull_outputs(handle.agent, handle.record.remote_root, globs, destination)
    except WbError as machine_error:
        fallback = handle.provider.pull_from_storage(handle.record, globs, destination)
        if fallback is None:
            raise machine_error from None
        return fallback
