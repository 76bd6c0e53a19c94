"""`SupervisionStore` on the DynamoDB table (key contract in `schema`). boto3 is imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import schema
from .accrual import Accrual
from .audit import AuditRecord, ReaperHeartbeat
from .budgets import BudgetEntry, LedgerEntry
from .dynamo_codec import (
    NOT_CLOSED,
    RETRYABLE_CODES,
    accrual_transaction,
    error_code,
    from_wire,
    key,
    store_error,
    to_wire,
    values,
)
from .dynamo_table import DynamoTable
from .errors import LeaseRefusedError, RowExistsError, RowNotFoundError
from .meter import MeterRecord
from .records import InstanceRecord, InstanceState, JobRow
from .retry import Backoff, tries
from .store import Key, SupervisionStore, TransactionRetry

BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
UNPROCESSED = Backoff(attempts=8, base_s=0.05)  # batch items DynamoDB left unprocessed (throttled), tried again


class DynamoStore(DynamoTable, SupervisionStore):
    """The supervision table on DynamoDB."""

    # --- the reaper --------------------------------------------------------------------------------

    def live_keys(self) -> list[Key]:
        items = self._pages(
            "query",
            IndexName=schema.LIVE_INDEX,
            KeyConditionExpression="#live = :live",
            ExpressionAttributeNames={"#live": schema.LIVE_ATTRIBUTE},
            ExpressionAttributeValues=values(live=schema.LIVE_VALUE),
        )
        return [(str(item[schema.PK]), str(item[schema.SK])) for item in items]

    def get_items(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[Key, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_MAX):
            pending: dict[str, Any] = {
                self.table_name: {"Keys": [key(pk, sk) for pk, sk in unique[start : start + BATCH_GET_MAX]]}
            }
            for _ in tries(UNPROCESSED):
                try:
                    answer = self.client.batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise store_error(exc, "batch_get_item") from exc
                for wire in answer.get("Responses", {}).get(self.table_name, []):
                    item = from_wire(wire)
                    found[(str(item[schema.PK]), str(item[schema.SK]))] = item
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise store_error(RuntimeError("keys stayed unprocessed"), "batch_get_item")
        return found

    def meter_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for shard in range(schema.METER_SHARDS):
            items.extend(self._query(schema.meter_pk(shard)))
        return items

    def load_budgets(self) -> list[BudgetEntry]:
        return [BudgetEntry.from_item(item) for item in self._query(schema.BUDGET_PK)]

    def load_ledger(self, month: str) -> list[LedgerEntry]:
        return [LedgerEntry.from_item(item) for item in self._query(schema.ledger_pk(month))]

    def _transact_accruals(self, batch: Sequence[Accrual], now: float) -> set[Key]:
        from botocore.exceptions import BotoCoreError, ClientError

        items = accrual_transaction(self.table_name, list(batch), now)
        try:
            self.client.transact_write_items(TransactItems=items)
            return set()
        except ClientError as exc:
            code = error_code(exc)
            if code in RETRYABLE_CODES:
                raise TransactionRetry(code) from exc
            if code != "TransactionCanceledException":
                raise store_error(exc, "transact_write_items") from exc
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(r.get("Code", "None")) for r in reasons]
            # one reason per item, rows first (zip(strict=) is 3.10+; this module runs on 3.8)
            stale = {(a.pk, a.sk) for a, c in zip(batch, codes) if c == "ConditionalCheckFailed"}  # noqa: B905
            if stale:
                return stale
            raise TransactionRetry(",".join(sorted(set(codes))) or code) from exc
        except BotoCoreError as exc:
            raise store_error(exc, "transact_write_items") from exc

    def delete_meter(self, meter: MeterRecord) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        condition = "attribute_exists(pk) AND " + (
            "attribute_not_exists(accrued_until)" if meter.accrued_until is None else "accrued_until = :read"
        )
        extra = {} if meter.accrued_until is None else {"ExpressionAttributeValues": values(read=meter.accrued_until)}
        try:
            self.client.delete_item(
                TableName=self.table_name, Key=key(meter.pk, meter.sk), ConditionExpression=condition, **extra
            )
            return True
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise store_error(exc, "delete_item") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "delete_item") from exc

    def mark_terminating(self, row: InstanceRecord, reason: str, now: float) -> bool:
        return self._update(
            row.pk,
            row.sk,
            "SET #state = :terminating, reap_reason = :reason, reaped_at = :now",
            "attribute_exists(pk) AND " + NOT_CLOSED,
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values(terminating="terminating", reason=reason, now=now, closed="closed"),
        )

    def close_instance(self, row: InstanceRecord, reason: str, now: float, expires_at: int | None) -> bool:
        expression = "SET #state = :closed, closed_at = :now, reap_reason = if_not_exists(reap_reason, :reason)"
        vals = values(closed="closed", now=now, reason=reason)
        if expires_at is not None:
            expression += ", expires_at = :expires"
            vals.update(values(expires=expires_at))
        expression += " REMOVE " + schema.LIVE_ATTRIBUTE
        return self._update(
            row.pk,
            row.sk,
            expression,
            "attribute_exists(pk) AND " + NOT_CLOSED,
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=vals,
        )

    def close_job(self, job: JobRow, reason: str, now: float) -> bool:
        return self._update(
            job.pk,
            job.sk,
            f"SET ended_at = :now, stop_reason = :reason, #state = :lost REMOVE {schema.LIVE_ATTRIBUTE}",
            "attribute_exists(pk) AND attribute_not_exists(ended_at)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values(now=now, reason=reason, lost="lost"),
        )

    def put_audits(self, records: Sequence[AuditRecord]) -> None:
        requests = [{"PutRequest": {"Item": to_wire(r.to_item())}} for r in records]
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            self._batch_write(requests[start : start + BATCH_WRITE_MAX])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = requests
        for _ in tries(UNPROCESSED):
            try:
                response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "batch_write_item") from exc
            pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            if not pending:
                return
        raise store_error(RuntimeError(f"{len(pending)} items stayed unprocessed"), "batch_write_item")

    def put_heartbeat(self, heartbeat: ReaperHeartbeat) -> None:
        self._call("put_item", Item=to_wire(heartbeat.to_item()))

    def get_heartbeat(self) -> ReaperHeartbeat | None:
        item = self._get(schema.REAPER_PK, schema.LAST_RUN_SK)
        return None if item is None else ReaperHeartbeat.from_item(item)

    # --- the client and the agent ------------------------------------------------------------------

    def create_instance(self, row: InstanceRecord) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.put_item(
                TableName=self.table_name, Item=to_wire(row.to_item()), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise RowExistsError(row.pk, row.sk) from None
            raise store_error(exc, "put_item") from exc

    def get_instance(self, owner: str, arn: str) -> InstanceRecord | None:
        item = self._get(schema.instance_pk(owner, arn), schema.META_SK)
        return None if item is None else InstanceRecord.from_item(item)

    def _require(self, owner: str, arn: str) -> InstanceRecord:
        row = self.get_instance(owner, arn)
        if row is None:
            raise RowNotFoundError(schema.instance_pk(owner, arn), schema.META_SK)
        return row

    def renew_lease(
        self, owner: str, arn: str, lease_until: float, now: float, state: InstanceState | None = None
    ) -> InstanceRecord:
        pk = schema.instance_pk(owner, arn)
        alive = "attribute_exists(pk) AND attribute_not_exists(mark) AND NOT (#state IN (:terminating, :closed))"
        names = {"#state": "state"}
        for extend in (True, False):
            expression = "SET renewed_at = :now" + (", lease_until = :lease" if extend else "")
            vals = values(now=now, terminating="terminating", closed="closed")
            if extend:
                vals.update(values(lease=lease_until))
            if state is not None:
                expression += ", #state = :new_state"
                vals.update(values(new_state=state.value))
            condition = alive + (" AND lease_until < :lease" if extend else "")
            if self._update(
                pk,
                schema.META_SK,
                expression,
                condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=vals,
            ):
                return self._require(owner, arn)
            row = self._require(owner, arn)
            if row.mark:
                raise LeaseRefusedError(pk, f"marked: {row.mark}")
            if row.state in (InstanceState.TERMINATING, InstanceState.CLOSED):
                raise LeaseRefusedError(pk, f"state {row.state.value}")
            # the lease already reaches past `lease_until`: record the contact without shortening it
        raise LeaseRefusedError(pk, "the row changed under every attempt")

    def claim_instance(
        self,
        owner: str,
        arn: str,
        token: str,
        lease_until: float,
        now: float,
        margin_s: float = 0.0,
        known_lease: float | None = None,
    ) -> bool:
        claimable = "#state = :idle AND attribute_not_exists(mark) AND lease_until > :fresh AND max_until > :fresh"
        return self._take_or_give(
            owner,
            arn,
            "SET claim = :token, #state = :busy, renewed_at = :now",
            claimable,
            lease_until,
            values(token=token, busy="busy", idle="idle", now=now, fresh=now + margin_s),
            known_lease,
        )

    def release_instance(
        self, owner: str, arn: str, claim: str | None, lease_until: float, now: float, known_lease: float | None = None
    ) -> bool:
        held = "attribute_not_exists(claim)" if claim is None else "claim = :claim"
        vals = values(busy="busy", idle="idle", now=now)
        if claim is not None:
            vals.update(values(claim=claim))
        return self._take_or_give(
            owner,
            arn,
            "SET #state = :idle, renewed_at = :now",
            f"#state = :busy AND attribute_not_exists(mark) AND {held}",
            lease_until,
            vals,
            known_lease,
        )

    def _take_or_give(
        self,
        owner: str,
        arn: str,
        expression: str,
        condition: str,
        lease_until: float,
        vals: dict[str, Any],
        known_lease: float | None = None,
    ) -> bool:
        """One conditional UpdateItem that also extends the lease, or one that leaves a lease reaching further
        alone (a lease is never shortened): the likelier one first (by `known_lease`), the other only when
        that one's condition failed. False when the condition holds for neither."""
        pk = schema.instance_pk(owner, arn)
        names = {"#state": "state"}
        extended = dict(vals, **values(lease=lease_until))
        attempts = [
            (expression + ", lease_until = :lease", condition + " AND lease_until < :lease"),
            (expression, condition + " AND lease_until >= :lease"),
        ]
        if known_lease is not None and known_lease >= lease_until:
            attempts.reverse()
        for update, check in attempts:
            if self._update(
                pk, schema.META_SK, update, check, ExpressionAttributeNames=names, ExpressionAttributeValues=extended
            ):
                return True
        return False

    def _set(self, owner: str, arn: str, name: str, value: str) -> None:
        pk = schema.instance_pk(owner, arn)
        if not self._update(
            pk,
            schema.META_SK,
            f"SET {name} = :value",
            "attribute_exists(pk)",
            ExpressionAttributeValues=values(value=value),
        ):
            raise RowNotFoundError(pk, schema.META_SK)

    def mark_instance(self, owner: str, arn: str, reason: str) -> None:
        self._set(owner, arn, "mark", reason)

    def set_host_key(self, owner: str, arn: str, fingerprint: str) -> None:
        self._set(owner, arn, "host_key_fingerprint", fingerprint)

    def put_job(self, job: JobRow) -> None:
        self._call("put_item", Item=to_wire(job.to_item()))

    def finish_job(
        self, job: JobRow, ended_at: float, state: str, exit_code: int | None, stop_reason: str | None
    ) -> None:
        expression = "SET ended_at = :ended, #state = :state"
        vals = values(ended=ended_at, state=state)
        for name, value in (("exit_code", exit_code), ("stop_reason", stop_reason)):
            if value is not None:
                expression += f", {name} = :{name}"
                vals.update(values(**{name: value}))
        expression += " REMOVE " + schema.LIVE_ATTRIBUTE
        if not self._update(
            job.pk,
            job.sk,
            expression,
            "attribute_exists(pk)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=vals,
        ):
            raise RowNotFoundError(job.pk, job.sk)

    def record_push(self, owner: str, arn: str, job_id: str, at: float, error: str | None) -> bool:
        if error is None:
            expression, vals = "SET pushed_at = :at REMOVE push_error", values(at=at)
        else:
            expression, vals = "SET pushed_at = :at, push_error = :error", values(at=at, error=error)
        pk, sk = schema.instance_pk(owner, arn), schema.job_sk(job_id)
        return self._update(pk, sk, expression, "attribute_exists(pk)", ExpressionAttributeValues=vals)

    def get_jobs(self, owner: str, arn: str) -> list[JobRow]:
        items = self._query(schema.instance_pk(owner, arn), schema.JOB_PREFIX)
        return sorted((JobRow.from_item(i) for i in items), key=lambda j: j.started_at)

    def touch_job(self, job: JobRow, now: float) -> bool:
        return self._update(
            job.pk,
            job.sk,
            "SET renewed_at = :now",
            "attribute_exists(pk) AND attribute_not_exists(ended_at)",
            ExpressionAttributeValues=values(now=now),
        )

    # --- admins ------------------------------------------------------------------------------------

    def set_budget(self, entry: BudgetEntry) -> None:
        self._call("put_item", Item=to_wire(entry.to_item()))
