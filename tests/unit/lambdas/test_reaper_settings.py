"""ReaperSettings.from_env: defaults, parsing, and named errors."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas.config import Mode, ReaperSettings
from weatherballoon.lambdas.errors import InvalidSettingError, MissingSettingError


def test_defaults() -> None:
    s = ReaperSettings.from_env({"TABLE_NAME": "wb"})
    assert s == ReaperSettings(table_name="wb")
    assert s.mode is Mode.ENFORCE and not s.dry_run
    assert s.default_owner_budget_usd is None and s.team_budget_usd is None


def test_everything_set() -> None:
    env = {
        "TABLE_NAME": "wb", "MODE": "dry-run", "ORPHAN_GRACE_SECONDS": "30", "DEFAULT_OWNER_BUDGET_USD": "100",
        "TEAM_BUDGET_USD": "0", "TEAM_NAME": "ml", "AUDIT_TTL_DAYS": "7", "CLOSED_ROW_TTL_DAYS": "1",
        "JOB_CAP_GRACE_SECONDS": "5", "TERMINATE_BATCH_SIZE": "200", "WRITE_CONCURRENCY": "4",
        "API_MAX_ATTEMPTS": "2", "MAX_HOURS": "12",
    }  # fmt: skip
    s = ReaperSettings.from_env(env)
    assert s.dry_run and s.orphan_grace_s == 30 and s.team_name == "ml"
    assert s.default_owner_budget_usd == 100 and s.team_budget_usd == 0  # 0 is a budget of zero
    assert (s.terminate_batch_size, s.write_concurrency, s.api_max_attempts, s.max_hours) == (200, 4, 2, 12)


def test_settings_are_frozen() -> None:
    s = ReaperSettings.from_env({"TABLE_NAME": "wb"})
    with pytest.raises(AttributeError):
        s.table_name = "other"


@pytest.mark.parametrize("value", ["", "none", "None"])
def test_budget_none_means_no_limit(value: str) -> None:
    assert ReaperSettings.from_env({"TABLE_NAME": "t", "TEAM_BUDGET_USD": value}).team_budget_usd is None


def test_missing_table_name_is_a_named_error() -> None:
    with pytest.raises(MissingSettingError, match="TABLE_NAME") as info:
        ReaperSettings.from_env({})
    assert info.value.name == "TABLE_NAME"


@pytest.mark.parametrize(
    "name, value",
    [("MODE", "yolo"), ("ORPHAN_GRACE_SECONDS", "-1"), ("TERMINATE_BATCH_SIZE", "1001"),
     ("DEFAULT_OWNER_BUDGET_USD", "ten"), ("API_MAX_ATTEMPTS", "0"), ("AUDIT_TTL_DAYS", "nan"),
     ("MAX_HOURS", "0"), ("MAX_HOURS", "inf"), ("DEFAULT_OWNER_BUDGET_USD", "inf"), ("TEAM_BUDGET_USD", "nan"),
     ("TEAM_BUDGET_USD", "1e400"), ("ORPHAN_GRACE_SECONDS", "inf"), ("CLOSED_ROW_TTL_DAYS", "Infinity")],
)  # fmt: skip
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InvalidSettingError, match=name) as info:
        ReaperSettings.from_env({"TABLE_NAME": "t", name: value})
    assert info.value.name == name
