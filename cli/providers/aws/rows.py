"""Instance and job rows as the client reads and writes them: through the `SupervisionStore` interface
(lambdas/store.py), with the model's errors as `AwsError`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from weatherballoon.lambdas import schema
from weatherballoon.lambdas.errors import MalformedItemError, SupervisionError
from weatherballoon.lambdas.meter import MeterRecord
from weatherballoon.lambdas.records import InstanceRecord, JobRow

from ...aws_account.errors import aws_error, is_aws_exception
from ...errors import AwsError

if TYPE_CHECKING:
    from weatherballoon.lambdas.store import SupervisionStore


@contextmanager
def table_errors(what: str) -> Iterator[None]:
    """The model's errors as `AwsError`, keeping AWS's own diagnosis (a denied write names its action)."""
    try:
        yield
    except SupervisionError as exc:
        cause = exc.__cause__
        if cause is not None and is_aws_exception(cause):
            raise aws_error(cause) from exc
        raise AwsError(f"the supervision table ({what}): {exc}", code=getattr(exc, "code", None)) from exc


def get_rows(store: SupervisionStore, keys: Sequence[tuple[str, str]]) -> dict[str, InstanceRecord]:
    """Instance rows by instance ARN for (owner, arn) pairs (missing or unreadable rows are absent)."""
    found: dict[str, InstanceRecord] = {}
    wanted = [(schema.instance_pk(owner, arn), schema.META_SK) for owner, arn in dict.fromkeys(keys)]
    with table_errors("read instance rows"):
        items = store.get_items(wanted)
    for item in items.values():
        try:
            row = InstanceRecord.from_item(item)
        except MalformedItemError:
            continue
        found[row.instance_arn] = row
    return found


def get_meters(store: SupervisionStore, arns: Sequence[str]) -> dict[str, MeterRecord]:
    """The reaper's meters (what it charges, at which price) by instance ARN; missing ones are absent."""
    wanted = [schema.meter_key(arn) for arn in dict.fromkeys(arns)]
    found: dict[str, MeterRecord] = {}
    with table_errors("read meters"):
        for item in store.get_items(wanted).values():
            try:
                meter = MeterRecord.from_item(item)
            except MalformedItemError:
                continue
            found[meter.instance_arn] = meter
    return found


def put_job(store: SupervisionStore, job: JobRow) -> None:
    """The job row with its caps (the agent and the reaper enforce them) and its output globs."""
    with table_errors("write the job row"):
        store.put_job(job)


def running_jobs(store: SupervisionStore, owner: str, arn: str) -> tuple[str, ...]:
    with table_errors("read job rows"):
        jobs = store.get_jobs(owner, arn)
    return tuple(job.job_id for job in jobs if job.running)
