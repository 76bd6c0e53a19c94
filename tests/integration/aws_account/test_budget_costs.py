"""`wb budget show|set` and `wb costs` over the stack's table, with rows written in the lambdas model's format."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import pytest
from weatherballoon.cli.aws_account.stack import StackInfo
from weatherballoon.lambdas.budgets import LedgerEntry
from weatherballoon.lambdas.clock import month_of, system_clock
from weatherballoon.lambdas.dynamo_codec import to_wire
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.schema import Scope

from tests.integration.aws_account.conftest import InProcess

ME = "AKIAIOSFODNN7EXAMPLE"  # moto's aws:userid for the dummy credentials
THIS_MONTH = month_of(system_clock())


def seed_ledger(table: str, month: str, rows: dict[tuple[Scope, str], float]) -> None:
    client = boto3.client("dynamodb")
    for (scope, name), usd in rows.items():
        client.put_item(TableName=table, Item=to_wire(LedgerEntry(month, scope, name, usd).to_item()))


@pytest.fixture
def table(deployed: StackInfo) -> str:
    return deployed.outputs["TableName"]


def test_budget_set_writes_model_rows_and_show_reads_them(wb_here: Callable[..., InProcess], table: str) -> None:
    assert wb_here("budget", "set", "AIDAALICE", "42.5").code == 0
    result = wb_here("budget", "set", "default", "900", "--team")
    assert result.code == 0 and "team default" in result.err
    entries = {(e.scope, e.name): e for e in DynamoStore(table, client=boto3.client("dynamodb")).load_budgets()}
    assert entries[(Scope.OWNER, "AIDAALICE")].usd_per_month == 42.5
    assert entries[(Scope.OWNER, "AIDAALICE")].updated_by == "arn:aws:sts::123456789012:user/moto"
    assert entries[(Scope.TEAM, "default")].usd_per_month == 900

    seed_ledger(
        table,
        THIS_MONTH,
        {(Scope.OWNER, "AIDAALICE"): 12.5, (Scope.OWNER, "AIDABOB"): 3, (Scope.TEAM, "default"): 15.5},
    )
    shown = wb_here("budget", "show", "--json")
    assert shown.code == 0, shown.err
    lines = {(b["scope"], b["name"]): b for b in json.loads(shown.out)["budgets"]}
    assert lines[("owner", "AIDAALICE")] | {} == {
        "scope": "owner", "name": "AIDAALICE", "spent_usd": 12.5, "budget_usd": 42.5,
        "budget_source": "budget row", "left_usd": 30.0,
    }  # fmt: skip
    assert lines[("owner", "AIDABOB")]["budget_usd"] == 100.0  # the stack's OwnerBudgetUsd
    assert lines[("owner", "AIDABOB")]["budget_source"] == "stack default"
    assert lines[("team", "default")]["spent_usd"] == 15.5 and lines[("team", "default")]["budget_usd"] == 900

    table_text = wb_here("budget", "show")
    assert "AIDAALICE" in table_text.out and "$42.50" in table_text.out and "(anyone else)" in table_text.out


def test_budget_set_resolves_a_user_arn_and_rejects_bad_owners(wb_here: Callable[..., InProcess], table: str) -> None:
    user_id = boto3.client("iam").create_user(UserName="carol")["User"]["UserId"]
    assert wb_here("budget", "set", "arn:aws:iam::123456789012:user/carol", "7").code == 0
    names = {e.name for e in DynamoStore(table, client=boto3.client("dynamodb")).load_budgets()}
    assert user_id in names
    bad = wb_here("budget", "set", "a#b", "7")
    assert bad.code == 2 and "must not contain '#'" in bad.err
    negative = wb_here("budget", "set", "AIDAX", "-1")
    assert negative.code == 2


def test_costs_mine_and_everyone(wb_here: Callable[..., InProcess], table: str) -> None:
    seed_ledger(
        table,
        THIS_MONTH,
        {(Scope.OWNER, ME): 4.25, (Scope.OWNER, "AIDABOB"): 10.0, (Scope.TEAM, "default"): 14.25},
    )
    seed_ledger(table, "2026-01", {(Scope.OWNER, ME): 99.0})

    mine = wb_here("costs", "--json")
    assert mine.code == 0, mine.err
    report = json.loads(mine.out)
    assert report["month"] == THIS_MONTH and report["teams"] == []
    assert [(o["name"], o["spent_usd"], o["budget_usd"]) for o in report["owners"]] == [(ME, 4.25, 100.0)]

    everyone = json.loads(wb_here("costs", "--all", "--json").out)
    assert {o["name"]: o["spent_usd"] for o in everyone["owners"]} == {ME: 4.25, "AIDABOB": 10.0}
    assert [(t["name"], t["spent_usd"], t["budget_usd"]) for t in everyone["teams"]] == [("default", 14.25, 1000.0)]

    january = json.loads(wb_here("costs", "--month", "2026-01", "--json").out)
    assert january["owners"][0]["spent_usd"] == 99.0

    text = wb_here("costs", "--all")
    assert f"{ME} (me)" in text.out and "team default" in text.out and "$14.25" in text.out


def test_costs_of_an_owner_without_spend_is_zero(wb_here: Callable[..., InProcess], table: str) -> None:
    report = json.loads(wb_here("costs", "--json").out)
    assert report["owners"] == [
        {
            "scope": "owner",
            "name": ME,
            "spent_usd": 0.0,
            "budget_usd": 100.0,
            "budget_source": "stack default",
            "left_usd": 100.0,
        }
    ]


def test_costs_rejects_a_bad_month(wb_here: Callable[..., InProcess], moto_endpoint: str) -> None:
    result = wb_here("costs", "--month", "2026-13")
    assert result.code == 2 and "YYYY-MM" in result.err


def test_costs_without_a_stack_says_bootstrap(wb_here: Callable[..., InProcess], moto_endpoint: str) -> None:
    result = wb_here("costs")
    assert result.code == 1 and "no weatherballoon stack" in result.err and "wb bootstrap" in result.err
