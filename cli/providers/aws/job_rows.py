"""A job's traces in the control plane: its row in the table, and its outputs in S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from weatherballoon.lambdas.records import InstanceRecord

    from ...jobs.index import LocalJob
    from ...sync.records import PullSummary
    from ..records import InstanceSpec
    from .plane import ControlPlane


def put_job_row(plane: ControlPlane, row: InstanceRecord, record: LocalJob, spec: InstanceSpec, now: float) -> None:
    """The job's row, with its caps (the agent and the reaper enforce them) and its output globs."""
    from weatherballoon.lambdas.records import JobRow

    from . import rows

    job = JobRow(
        owner=row.owner,
        instance_arn=row.instance_arn,
        job_id=record.id,
        command=tuple(record.command),
        started_at=now,
        max_time_s=spec.max_time_s,
        max_cost_usd=spec.max_cost_usd,
        outputs=tuple(record.outputs),
    )
    rows.put_job(plane.store, job)


def pull_from_storage(plane: ControlPlane, record: LocalJob, globs: list[str], destination: Path) -> PullSummary:
    from weatherballoon.lambdas.schema import instance_arn

    from . import storage

    arn = instance_arn(plane.region, plane.me.account, record.instance_id)
    prefix = storage.job_prefix(plane.me.user_id, arn, record.id)
    return storage.pull(plane.s3, plane.bucket, prefix, globs, destination)


def stored_upload_failure(plane: ControlPlane, record: LocalJob) -> str | None:
    """Why the agent's last push of the job's outputs failed, as its row says; None when it did not fail,
    or the row cannot be read."""
    from weatherballoon.lambdas.schema import instance_arn

    from ...errors import WbError
    from . import rows, storage

    try:
        arn = instance_arn(plane.region, plane.me.account, record.instance_id)
        with rows.table_errors("read job rows"):
            jobs = plane.store.get_jobs(plane.me.user_id, arn)
        row = next((job for job in jobs if job.job_id == record.id), None)
        if row is None or row.push_error is None:
            return None
        where = f"s3://{plane.bucket}/{storage.job_prefix(plane.me.user_id, arn, record.id)}"
    except (WbError, ValueError):
        return None
    return f"not uploaded to {where}: {row.push_error}"
