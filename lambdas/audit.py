"""Audit rows (one per acted-on decision, with a TTL) and the reaper's heartbeat row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import clock, schema
from .items import Reader, number, plain, put

HEARTBEAT_MAX_AGE_S = 300.0  # `wb doctor`: the reaper must have run within this


@dataclass(frozen=True)
class AuditRecord:
    """One decision with its reason and the facts it was made from.

    `action` is `terminate`, `would-terminate` (dry-run), `close` (instance gone) or `keep`.
    """

    at: float
    instance_id: str
    action: str
    reason: str
    mode: str
    run_id: str
    owner: str = ""
    team: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    expires_at: int | None = None

    @property
    def pk(self) -> str:
        return schema.audit_pk(clock.day_of(self.at))

    @property
    def sk(self) -> str:
        return schema.audit_sk(clock.iso(self.at), self.instance_id)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {schema.PK: self.pk, schema.SK: self.sk}
        put(item, "at", self.at)
        for name in ("instance_id", "action", "reason", "mode", "run_id"):
            put(item, name, getattr(self, name))
        put(item, "owner", self.owner or None)
        put(item, "team", self.team or None)
        put(item, "facts", _facts_item(self.facts))
        put(item, schema.TTL_ATTRIBUTE, self.expires_at)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AuditRecord:
        read = Reader(item)
        return cls(
            at=read.num("at"),
            instance_id=read.text("instance_id"),
            action=read.text("action"),
            reason=read.text("reason"),
            mode=read.text("mode"),
            run_id=read.text("run_id"),
            owner=read.opt_text("owner") or "",
            team=read.opt_text("team") or "",
            facts=read.mapping("facts"),
            expires_at=read.opt_int(schema.TTL_ATTRIBUTE),
        )


def _facts_item(facts: Mapping[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for key, value in facts.items():
        put(item, key, value if not isinstance(value, (list, tuple)) else [str(v) for v in value])
    return item


def audit_expiry(at: float, ttl_days: float) -> int:
    return int(at + ttl_days * clock.SECONDS_PER_DAY)


@dataclass(frozen=True)
class ReaperHeartbeat:
    """`REAPER` / `LAST_RUN`: when the reaper last ran and what it did. `wb doctor` reads it."""

    run_id: str
    started_at: float
    finished_at: float
    mode: str
    counts: Mapping[str, int] = field(default_factory=dict)
    failures: int = 0

    @property
    def pk(self) -> str:
        return schema.REAPER_PK

    @property
    def sk(self) -> str:
        return schema.LAST_RUN_SK

    def is_fresh(self, now: float, max_age_s: float = HEARTBEAT_MAX_AGE_S) -> bool:
        return now - self.finished_at <= max_age_s

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {schema.PK: self.pk, schema.SK: self.sk}
        put(item, "run_id", self.run_id)
        put(item, "started_at", self.started_at)
        put(item, "finished_at", self.finished_at)
        put(item, "mode", self.mode)
        put(item, "counts", {k: number(int(v)) for k, v in self.counts.items()})
        put(item, "failures", self.failures)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ReaperHeartbeat:
        read = Reader(item)
        return cls(
            run_id=read.text("run_id"),
            started_at=read.num("started_at"),
            finished_at=read.num("finished_at"),
            mode=read.text("mode"),
            counts={k: int(v) for k, v in plain(read.mapping("counts")).items()},
            failures=read.opt_int("failures") or 0,
        )
