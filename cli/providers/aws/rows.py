"""Instance and job rows as the client reads and writes them (lambdas model, keys in `lambdas.schema`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from weatherballoon.lambdas import schema
from weatherballoon.lambdas.dynamo_codec import from_wire, key
from weatherballoon.lambdas.errors import MalformedItemError, SupervisionError
from weatherballoon.lambdas.meter import MeterRecord
from weatherballoon.lambdas.records import InstanceRecord, JobRecord

from ...aws_account.errors import aws_error, is_aws_exception
from ...errors import AwsError

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore

BATCH_GET_MAX = 100


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


def get_rows(store: DynamoStore, keys: Sequence[tuple[str, str]]) -> dict[str, InstanceRecord]:
    """Instance rows by instance ARN for (owner, arn) pairs, with BatchGetItem (missing rows are absent)."""
    import time

    found: dict[str, InstanceRecord] = {}
    wanted = [key(schema.instance_pk(owner, arn), schema.META_SK) for owner, arn in dict.fromkeys(keys)]
    with table_errors("read instance rows"):
        for start in range(0, len(wanted), BATCH_GET_MAX):
            pending: dict[str, Any] = {store.table_name: {"Keys": wanted[start : start + BATCH_GET_MAX]}}
            for attempt in range(8):
                answer = _batch_get(store, pending)
                for item in answer.get("Responses", {}).get(store.table_name, []):
                    try:
                        row = InstanceRecord.from_item(from_wire(item))
                    except MalformedItemError:
                        continue
                    found[row.instance_arn] = row
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
    return found


def get_meters(store: DynamoStore, arns: Sequence[str]) -> dict[str, MeterRecord]:
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


def _batch_get(store: DynamoStore, request: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError
    from weatherballoon.lambdas.dynamo_codec import store_error

    try:
        answer: dict[str, Any] = store.client.batch_get_item(RequestItems=request)
        return answer
    except (ClientError, BotoCoreError) as exc:
        raise store_error(exc, "batch_get_item") from exc


def put_job(store: DynamoStore, job: JobRecord, outputs: Sequence[str]) -> None:
    """The job row with its caps (the agent and the reaper enforce them) and its output globs."""
    from weatherballoon.lambdas.dynamo_codec import to_wire

    from ...aws_account.errors import translated

    item = job.to_item()
    if outputs:
        item["outputs"] = list(outputs)
    with translated():
        store.client.put_item(TableName=store.table_name, Item=to_wire(item))


def running_jobs(store: DynamoStore, owner: str, arn: str) -> tuple[str, ...]:
    with table_errors("read job rows"):
        jobs = store.get_jobs(owner, arn)
    return tuple(job.job_id for job in jobs if job.running)
