"""The key contract (IAM conditions are written against it) and record round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from weatherballoon.lambdas import schema
from weatherballoon.lambdas.audit import AuditRecord, ReaperHeartbeat
from weatherballoon.lambdas.budgets import BudgetEntry, LedgerEntry
from weatherballoon.lambdas.errors import MalformedItemError
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow, Market
from weatherballoon.lambdas.schema import Scope

from .builders import T0, arn, job, row

ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"


def test_instance_key_has_exact_shape() -> None:
    assert schema.instance_pk("AIDAALICE", ARN) == "OWNER#AIDAALICE#INSTANCE#" + ARN
    assert schema.META_SK == "META"
    assert schema.parse_instance_pk("OWNER#AIDAALICE#INSTANCE#" + ARN) == ("AIDAALICE", ARN)


def test_assumed_role_userid_is_a_valid_owner() -> None:
    owner = "AROAEXAMPLE:alice@example.com"
    assert schema.parse_instance_pk(schema.instance_pk(owner, ARN)) == (owner, ARN)


def test_owner_prefix_matches_the_leading_keys_pattern() -> None:
    assert schema.instance_pk("AIDAALICE", ARN).startswith(schema.owner_key_prefix("AIDAALICE"))
    assert not schema.instance_pk("AIDAALICE2", ARN).startswith(schema.owner_key_prefix("AIDAALICE"))


def test_instance_arn_round_trip() -> None:
    assert schema.instance_arn("us-east-1", "123456789012", "i-0abc") == ARN
    assert schema.parse_instance_arn(ARN) == ("us-east-1", "123456789012", "i-0abc")
    assert schema.instance_arn("cn-north-1", "1", "i-1", partition="aws-cn").startswith("arn:aws-cn:ec2:")


@pytest.mark.parametrize("bad", ["", "arn:aws:s3:::bucket", "arn:aws:ec2:us-east-1:1:volume/vol-1", "i-0abc"])
def test_bad_arns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        schema.parse_instance_arn(bad)


@pytest.mark.parametrize("owner", ["", "a#b"])
def test_owner_must_be_nonempty_and_free_of_separator(owner: str) -> None:
    with pytest.raises(ValueError):
        schema.instance_pk(owner, ARN)


def test_other_keys() -> None:
    assert schema.job_sk("j-1") == "JOB#j-1"
    assert schema.parse_job_sk("JOB#j-1") == "j-1"
    assert schema.ledger_pk("2026-11") == "LEDGER#2026-11"
    assert schema.owner_sk("AIDAALICE") == "OWNER#AIDAALICE"
    assert schema.team_sk("ml") == "TEAM#ml"
    assert schema.parse_scope_sk("TEAM#ml") == (Scope.TEAM, "ml")
    assert schema.BUDGET_PK == "BUDGET"
    assert schema.audit_pk("2026-11-24") == "AUDIT#2026-11-24"
    assert schema.audit_sk("2026-11-24T00:00:00.000Z", "i-1") == "2026-11-24T00:00:00.000Z#i-1"
    assert (schema.REAPER_PK, schema.LAST_RUN_SK) == ("REAPER", "LAST_RUN")
    assert (schema.PK, schema.SK, schema.TTL_ATTRIBUTE) == ("pk", "sk", "expires_at")


@pytest.mark.parametrize(
    "call",
    [
        lambda: schema.ledger_pk("2026-1"),
        lambda: schema.audit_pk("20261124"),
        lambda: schema.parse_scope_sk("USER#x"),
        lambda: schema.parse_job_sk("META"),
    ],
)
def test_malformed_keys_are_refused(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_instance_record_round_trip_keeps_unknown_attributes() -> None:
    record = row(
        market=Market.SPOT,
        mark="down by AIDAALICE",
        accrued_until=T0 + 60,
        accrued_usd=0.5,
        extra={"private_ip": "10.0.0.5"},
    )
    item = record.to_item()
    assert item["pk"] == record.pk and item["sk"] == "META"
    assert item["instance_id"] == "i-0001" and item["region"] == "us-east-1"
    assert item["market"] == "spot" and item["state"] == "busy"
    assert isinstance(item["lease_until"], Decimal)
    assert "claim" not in item  # None is omitted
    assert InstanceRecord.from_item(item) == record


def test_floats_survive_the_decimal_round_trip_exactly() -> None:
    record = row(accrued_until=T0 + 0.1 + 0.2)
    assert InstanceRecord.from_item(record.to_item()).accrued_until == T0 + 0.1 + 0.2


def test_job_record_round_trip() -> None:
    record = job(max_time_s=90.0, max_cost_usd=2.5, ended_at=T0 + 50, exit_code=3, stop_reason="max-time")
    item = record.to_item()
    assert item["sk"] == "JOB#j1" and item["pk"] == row().pk
    assert JobRow.from_item(item) == record
    with_outputs = job(outputs=("out/**", "logs/*.txt"))
    assert with_outputs.to_item()["outputs"] == ["out/**", "logs/*.txt"] and "outputs" not in item
    assert JobRow.from_item(with_outputs.to_item()) == with_outputs


def test_ledger_budget_audit_heartbeat_round_trip() -> None:
    ledger = LedgerEntry("2026-11", Scope.OWNER, "AIDAALICE", 12.5, T0)
    assert (ledger.pk, ledger.sk) == ("LEDGER#2026-11", "OWNER#AIDAALICE")
    assert LedgerEntry.from_item(ledger.to_item()) == ledger
    budget = BudgetEntry(Scope.TEAM, "ml", 500.0)
    assert (budget.pk, budget.sk) == ("BUDGET", "TEAM#ml")
    assert BudgetEntry.from_item(budget.to_item()) == budget
    audit = AuditRecord(
        T0,
        "i-1",
        "terminate",
        "lease-expired",
        "enforce",
        "run1",
        "AIDAALICE",
        "ml",
        {"lease_until": T0 - 5, "detail": "x"},
        expires_at=int(T0) + 86400,
    )
    item = audit.to_item()
    assert item["pk"].startswith("AUDIT#") and item["sk"].endswith("#i-1") and item["expires_at"] == int(T0) + 86400
    assert AuditRecord.from_item(item) == audit
    beat = ReaperHeartbeat("run1", T0, T0 + 2, "enforce", {"seen": 3}, 0)
    assert (beat.pk, beat.sk) == ("REAPER", "LAST_RUN")
    assert ReaperHeartbeat.from_item(beat.to_item()) == beat
    assert beat.is_fresh(T0 + 2 + 300) and not beat.is_fresh(T0 + 2 + 301)


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        BudgetEntry(Scope.OWNER, "x", -1.0).to_item()


@pytest.mark.parametrize(
    "mutate, attribute",
    [
        (lambda i: i.pop("lease_until"), "lease_until"),
        (lambda i: i.update(state="exploded"), "state"),
        (lambda i: i.update(launched_at="yesterday"), "launched_at"),
        (lambda i: i.update(pk="OWNER#x"), "pk"),
    ],
)
def test_malformed_instance_items_name_the_attribute(mutate: object, attribute: str) -> None:
    item = row().to_item()
    mutate(item)  # type: ignore[operator]
    with pytest.raises(MalformedItemError, match=attribute):
        InstanceRecord.from_item(item)


def test_state_enum_values_are_the_documented_strings() -> None:
    assert [s.value for s in InstanceState] == ["launching", "idle", "busy", "terminating", "closed"]
    assert arn("i-9").endswith("instance/i-9")
