"""Jobs through the supervision table, from any laptop: the job rows beside the rows of the machines EC2
lists (mine, or with `everyone` the team's). EC2 lists a terminated instance for about an hour after it
ends; a job whose machine ended before that is found only in the index of the laptop that started it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...errors import AwsError
from ..records import RecordedJob

if TYPE_CHECKING:
    from weatherballoon.lambdas.records import JobRow

    from .plane import ControlPlane

QUERY_THREADS = 8
DENIED_CODES = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")


def recorded_jobs(plane: ControlPlane, *, everyone: bool) -> list[RecordedJob]:
    """Newest first."""
    from . import rows
    from .instances import describe

    machines = describe(plane.ec2, owner=None if everyone else plane.me.user_id)
    keys = list(
        dict.fromkeys((item.owner, item.arn(plane.region, plane.me.account)) for item in machines if item.owner)
    )

    def jobs_of(key: tuple[str, str]) -> list[JobRow]:
        with rows.table_errors("read job rows"):
            return plane.store.get_jobs(*key)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(QUERY_THREADS, len(keys)))) as pool:
            found = [job for jobs in pool.map(jobs_of, keys) for job in jobs]
    except AwsError as exc:
        if everyone and exc.code in DENIED_CODES:
            raise AwsError(
                f"IAM refused reading other owners' job rows: {exc.message}",
                code=exc.code,
                hint="`wb jobs --all` needs dynamodb:Query on the whole table (the admin policy grants it); "
                "`wb jobs` lists your own",
            ) from exc
        raise
    return sorted((_recorded(job) for job in found), key=lambda job: job.started_at, reverse=True)


def _recorded(row: JobRow) -> RecordedJob:
    return RecordedJob(
        id=row.job_id,
        instance_id=row.instance_id,
        owner=row.owner,
        command=tuple(row.command),
        started_at=row.started_at,
        state=row.state,
        exit_code=row.exit_code,
        ended_at=row.ended_at,
        stop_reason=row.stop_reason,
        outputs=tuple(row.outputs),
        upload_error=f"not uploaded: {row.push_error}" if row.push_error else None,
    )
