"""Budgets and the month's ledger, read from the stack's table through the lambdas model (`DynamoStore`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weatherballoon.lambdas.budgets import BudgetEntry, Budgets, Ledger
from weatherballoon.lambdas.errors import SupervisionError
from weatherballoon.lambdas.schema import Scope

from ..errors import AwsError
from .errors import aws_error, is_aws_exception
from .parameters import OWNER_BUDGET, TEAM_BUDGET
from .stack import StackInfo

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore

    from .session import AwsSession

TABLE_OUTPUT = "TableName"
TEAM_OUTPUT = "WbTeam"


@contextmanager
def table_errors(denied_hint: str | None = None) -> Iterator[None]:
    """The model's `StoreError` (and friends) as `AwsError`, keeping AWS's own diagnosis when there is one."""
    try:
        yield
    except SupervisionError as exc:
        cause = exc.__cause__
        if cause is not None and is_aws_exception(cause):
            raise aws_error(cause, denied_hint=denied_hint) from exc
        raise AwsError(f"the supervision table: {exc}", code=getattr(exc, "code", None)) from exc


def open_store(aws: AwsSession, stack: StackInfo) -> DynamoStore:
    from weatherballoon.lambdas.dynamo_store import DynamoStore

    return DynamoStore(stack.output(TABLE_OUTPUT), client=aws.client("dynamodb"))


def _parameter_usd(stack: StackInfo, name: str) -> float | None:
    value = stack.parameters.get(name)
    try:
        return None if not value else float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Spend:
    scope: Scope
    name: str
    spent: float
    limit: float | None
    limit_source: str  # "budget row", "stack default" or "none"

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope.value.lower(),
            "name": self.name,
            "spent_usd": round(self.spent, 4),
            "budget_usd": self.limit,
            "budget_source": self.limit_source,
            "left_usd": None if self.left is None else round(self.left, 4),
        }


@dataclass(frozen=True)
class MonthReport:
    month: str
    team: str
    owners: list[Spend] = field(default_factory=list)
    teams: list[Spend] = field(default_factory=list)
    default_owner_limit: float | None = None

    def owner(self, name: str) -> Spend:
        """An owner's line; one with no spend and no budget row gets $0 against the stack default."""
        found = next((s for s in self.owners if s.name == name), None)
        return found or _spend(Scope.OWNER, name, 0.0, {}, self.default_owner_limit)


def month_report(store: Any, stack: StackInfo, month: str) -> MonthReport:
    """Every owner and team with spend this month or a budget row, each with its spend and its limit."""
    with table_errors():
        entries: list[BudgetEntry] = store.load_budgets()
        ledger = Ledger.from_entries(month, store.load_ledger(month))
    budgets = Budgets.from_entries(entries, _parameter_usd(stack, OWNER_BUDGET), _parameter_usd(stack, TEAM_BUDGET))
    team = stack.outputs.get(TEAM_OUTPUT) or stack.parameters.get("TeamName") or "default"
    owners = sorted(set(ledger.owners) | set(budgets.owners))
    teams = sorted(set(ledger.teams) | set(budgets.teams) | {team})
    return MonthReport(
        month,
        team,
        [_spend(Scope.OWNER, n, ledger.owner_usd(n), budgets.owners, budgets.default_owner_usd) for n in owners],
        [_spend(Scope.TEAM, n, ledger.team_usd(n), budgets.teams, budgets.default_team_usd) for n in teams],
        budgets.default_owner_usd,
    )


def _spend(scope: Scope, name: str, spent: float, rows: Any, default: float | None) -> Spend:
    if name in rows:
        return Spend(scope, name, spent, rows[name], "budget row")
    return Spend(scope, name, spent, default, "stack default" if default is not None else "none")
