"""Typed instance and job rows, with `to_item` / `from_item` for the table (see `schema` for the keys)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from . import schema
from .items import Reader, put


class InstanceState(str, Enum):
    """Lifecycle of an instance row. Only the reaper writes `terminating` (with `reap_reason`) and `closed`."""

    LAUNCHING = "launching"
    IDLE = "idle"
    BUSY = "busy"
    TERMINATING = "terminating"
    CLOSED = "closed"


class Market(str, Enum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"


def _enum(reader: Reader, name: str, kind: type[Enum], default: Enum) -> Any:
    value = reader.opt_text(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise reader.fail(name, f"is {value!r}, not one of {allowed}") from None


_INSTANCE_FIELDS = [
    "instance_id",
    "owner",
    "team",
    "project",
    "instance_type",
    "region",
    "market",
    "price_usd_hour",
    "launched_at",
    "lease_until",
    "max_until",
    "state",
    "claim",
    "mark",
    "host_key_fingerprint",
    "accrued_until",
    "accrued_usd",
    "reap_reason",
    "reaped_at",
    "closed_at",
    "renewed_at",
    "expires_at",
]


@dataclass(frozen=True)
class InstanceRecord:
    """The instance row (`sk = META`). Times are epoch seconds; money is USD.

    `price_usd_hour` is what the machine costs: the on-demand table price, or the spot price at launch.
    `extra` keeps attributes this model does not know (a provider's own), so a round trip loses nothing.
    """

    owner: str
    instance_arn: str
    instance_type: str
    launched_at: float
    lease_until: float
    max_until: float
    price_usd_hour: float
    market: Market = Market.ON_DEMAND
    team: str = ""
    project: str = ""
    state: InstanceState = InstanceState.LAUNCHING
    claim: str | None = None
    mark: str | None = None  # termination requested, with the reason (e.g. "down by AIDA...")
    host_key_fingerprint: str | None = None
    accrued_until: float | None = None  # cost is accrued up to here; None means from launched_at
    accrued_usd: float = 0.0
    reap_reason: str | None = None
    reaped_at: float | None = None
    closed_at: float | None = None
    renewed_at: float | None = None
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        schema.instance_pk(self.owner, self.instance_arn)  # validates both

    @property
    def pk(self) -> str:
        return schema.instance_pk(self.owner, self.instance_arn)

    @property
    def sk(self) -> str:
        return schema.META_SK

    @property
    def instance_id(self) -> str:
        return schema.parse_instance_arn(self.instance_arn)[2]

    @property
    def region(self) -> str:
        return schema.parse_instance_arn(self.instance_arn)[0]

    @property
    def accrual_start(self) -> float:
        return self.launched_at if self.accrued_until is None else self.accrued_until

    @property
    def closed(self) -> bool:
        return self.state is InstanceState.CLOSED

    def replace(self, **changes: Any) -> InstanceRecord:
        return dataclasses.replace(self, **changes)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = dict(self.extra)
        item[schema.PK] = self.pk
        item[schema.SK] = self.sk
        for name in _INSTANCE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, Enum):
                value = value.value
            put(item, name, value if value != "" else None)
        item.pop(schema.LIVE_ATTRIBUTE, None)
        if not self.closed:
            item[schema.LIVE_ATTRIBUTE] = schema.LIVE_VALUE
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> InstanceRecord:
        read = Reader(item)
        try:
            owner, arn = schema.parse_instance_pk(read.text(schema.PK))
        except ValueError as exc:
            raise read.fail(schema.PK, str(exc)) from None
        known = {schema.PK, schema.SK, schema.LIVE_ATTRIBUTE, "instance_arn", *_INSTANCE_FIELDS}
        return cls(
            owner=owner,
            instance_arn=arn,
            instance_type=read.text("instance_type"),
            launched_at=read.num("launched_at"),
            lease_until=read.num("lease_until"),
            max_until=read.num("max_until"),
            price_usd_hour=read.opt_num("price_usd_hour") or 0.0,
            market=_enum(read, "market", Market, Market.ON_DEMAND),
            team=read.opt_text("team") or "",
            project=read.opt_text("project") or "",
            state=_enum(read, "state", InstanceState, InstanceState.LAUNCHING),
            claim=read.opt_text("claim"),
            mark=read.opt_text("mark"),
            host_key_fingerprint=read.opt_text("host_key_fingerprint"),
            accrued_until=read.opt_num("accrued_until"),
            accrued_usd=read.opt_num("accrued_usd") or 0.0,
            reap_reason=read.opt_text("reap_reason"),
            reaped_at=read.opt_num("reaped_at"),
            closed_at=read.opt_num("closed_at"),
            renewed_at=read.opt_num("renewed_at"),
            expires_at=read.opt_int("expires_at"),
            extra={k: v for k, v in item.items() if k not in known},
        )


_JOB_FIELDS = [
    "job_id",
    "state",
    "started_at",
    "ended_at",
    "exit_code",
    "max_time_s",
    "max_cost_usd",
    "stop_reason",
    "expires_at",
    "pushed_at",
    "push_error",
]


@dataclass(frozen=True)
class JobRow:
    """A job row (`sk = JOB#<job_id>`), beside its instance's row. Caps are enforced by the agent first."""

    owner: str
    instance_arn: str
    job_id: str
    command: tuple[str, ...]
    started_at: float
    state: str = "running"
    ended_at: float | None = None
    exit_code: int | None = None
    max_time_s: float | None = None
    max_cost_usd: float | None = None
    stop_reason: str | None = None
    expires_at: int | None = None
    pushed_at: float | None = None  # when the agent last pushed the job's outputs to S3 (aws)
    push_error: str | None = None  # why that push failed; None when it went through
    outputs: tuple[str, ...] = ()  # the job's output globs, as the client that started it declared them

    def __post_init__(self) -> None:
        schema.instance_pk(self.owner, self.instance_arn)
        schema.job_sk(self.job_id)

    @property
    def pk(self) -> str:
        return schema.instance_pk(self.owner, self.instance_arn)

    @property
    def sk(self) -> str:
        return schema.job_sk(self.job_id)

    @property
    def instance_id(self) -> str:
        return schema.parse_instance_arn(self.instance_arn)[2]

    @property
    def running(self) -> bool:
        return self.ended_at is None

    @property
    def capped(self) -> bool:
        return self.max_time_s is not None or self.max_cost_usd is not None

    def replace(self, **changes: Any) -> JobRow:
        return dataclasses.replace(self, **changes)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {schema.PK: self.pk, schema.SK: self.sk, "command": list(self.command)}
        for name in _JOB_FIELDS:
            put(item, name, getattr(self, name))
        if self.outputs:
            item["outputs"] = list(self.outputs)
        if self.running and self.capped:  # the reaper enforces caps as a backstop: it must find this row
            item[schema.LIVE_ATTRIBUTE] = schema.LIVE_VALUE
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> JobRow:
        read = Reader(item)
        try:
            owner, arn = schema.parse_instance_pk(read.text(schema.PK))
            job_id = schema.parse_job_sk(read.text(schema.SK))
        except ValueError as exc:
            raise read.fail("key", str(exc)) from None
        return cls(
            owner=owner,
            instance_arn=arn,
            job_id=job_id,
            command=read.texts("command"),
            started_at=read.num("started_at"),
            state=read.opt_text("state") or "running",
            ended_at=read.opt_num("ended_at"),
            exit_code=read.opt_int("exit_code"),
            max_time_s=read.opt_num("max_time_s"),
            max_cost_usd=read.opt_num("max_cost_usd"),
            stop_reason=read.opt_text("stop_reason"),
            expires_at=read.opt_int("expires_at"),
            pushed_at=read.opt_num("pushed_at"),
            push_error=read.opt_text("push_error"),
            outputs=read.texts("outputs"),
        )


