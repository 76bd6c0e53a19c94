"""Budget and ledger rows, and the arithmetic that says whether an owner or a team is over budget.

A budget is USD per calendar month (UTC). It is reached when the month's ledger total is >= the budget;
`None` means no limit. A budget row overrides the stack-parameter default for that owner or team.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import schema
from .items import Reader, put
from .schema import Scope


@dataclass(frozen=True)
class BudgetEntry:
    """`BUDGET` / `OWNER#<owner>` or `TEAM#<team>`: USD per month. Only admins write these."""

    scope: Scope
    name: str
    usd_per_month: float
    updated_at: float | None = None
    updated_by: str | None = None

    @property
    def pk(self) -> str:
        return schema.BUDGET_PK

    @property
    def sk(self) -> str:
        return schema.scope_sk(self.scope, self.name)

    def to_item(self) -> dict[str, Any]:
        if self.usd_per_month < 0:
            raise ValueError(f"a budget must be >= 0 USD, got {self.usd_per_month}")
        item: dict[str, Any] = {schema.PK: self.pk, schema.SK: self.sk}
        put(item, "usd", self.usd_per_month)
        put(item, "updated_at", self.updated_at)
        put(item, "updated_by", self.updated_by)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BudgetEntry:
        read = Reader(item)
        try:
            scope, name = schema.parse_scope_sk(read.text(schema.SK))
        except ValueError as exc:
            raise read.fail(schema.SK, str(exc)) from None
        return cls(scope, name, read.num("usd"), read.opt_num("updated_at"), read.opt_text("updated_by"))


@dataclass(frozen=True)
class LedgerEntry:
    """`LEDGER#<YYYY-MM>` / `OWNER#<owner>` or `TEAM#<team>`: USD accrued that month."""

    month: str
    scope: Scope
    name: str
    usd: float
    updated_at: float | None = None

    @property
    def pk(self) -> str:
        return schema.ledger_pk(self.month)

    @property
    def sk(self) -> str:
        return schema.scope_sk(self.scope, self.name)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {schema.PK: self.pk, schema.SK: self.sk}
        put(item, "usd", self.usd)
        put(item, "updated_at", self.updated_at)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LedgerEntry:
        read = Reader(item)
        pk = read.text(schema.PK)
        if not pk.startswith(schema.LEDGER_PREFIX):
            raise read.fail(schema.PK, "is not a ledger key")
        try:
            scope, name = schema.parse_scope_sk(read.text(schema.SK))
        except ValueError as exc:
            raise read.fail(schema.SK, str(exc)) from None
        month = pk[len(schema.LEDGER_PREFIX) :]
        return cls(month, scope, name, read.opt_num("usd") or 0.0, read.opt_num("updated_at"))


@dataclass(frozen=True)
class Budgets:
    """Monthly limits: explicit rows first, then the stack defaults. None = no limit."""

    owners: Mapping[str, float] = field(default_factory=dict)
    teams: Mapping[str, float] = field(default_factory=dict)
    default_owner_usd: float | None = None
    default_team_usd: float | None = None

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[BudgetEntry],
        default_owner_usd: float | None = None,
        default_team_usd: float | None = None,
    ) -> Budgets:
        rows = list(entries)
        owners = {e.name: e.usd_per_month for e in rows if e.scope is Scope.OWNER}
        teams = {e.name: e.usd_per_month for e in rows if e.scope is Scope.TEAM}
        return cls(owners, teams, default_owner_usd, default_team_usd)

    def owner_limit(self, owner: str) -> float | None:
        return self.owners.get(owner, self.default_owner_usd)

    def team_limit(self, team: str) -> float | None:
        return self.teams.get(team, self.default_team_usd)


@dataclass
class Ledger:
    """One month's spend so far, per owner and per team. Mutable: a run adds what it accrues."""

    month: str
    owners: dict[str, float] = field(default_factory=dict)
    teams: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, month: str, entries: Iterable[LedgerEntry]) -> Ledger:
        ledger = cls(month)
        for entry in entries:
            if entry.month == month:
                ledger.add(entry.scope, entry.name, entry.usd)
        return ledger

    def add(self, scope: Scope, name: str, usd: float) -> None:
        table = self.owners if scope is Scope.OWNER else self.teams
        table[name] = table.get(name, 0.0) + usd

    def owner_usd(self, owner: str) -> float:
        return self.owners.get(owner, 0.0)

    def team_usd(self, team: str) -> float:
        return self.teams.get(team, 0.0)


@dataclass(frozen=True)
class BudgetState:
    """Where one owner and their team stand this month."""

    owner_spent: float = 0.0
    owner_limit: float | None = None
    team_spent: float = 0.0
    team_limit: float | None = None

    @property
    def owner_exceeded(self) -> bool:
        return self.owner_limit is not None and self.owner_spent >= self.owner_limit

    @property
    def team_exceeded(self) -> bool:
        return self.team_limit is not None and self.team_spent >= self.team_limit

    @property
    def owner_left(self) -> float | None:
        return None if self.owner_limit is None else max(0.0, self.owner_limit - self.owner_spent)

    @property
    def team_left(self) -> float | None:
        return None if self.team_limit is None else max(0.0, self.team_limit - self.team_spent)


def budget_state(budgets: Budgets, ledger: Ledger, owner: str, team: str) -> BudgetState:
    return BudgetState(
        owner_spent=ledger.owner_usd(owner),
        owner_limit=budgets.owner_limit(owner),
        team_spent=ledger.team_usd(team),
        team_limit=budgets.team_limit(team),
    )
