"""The stack's allowed types (IAM StringLike patterns), alternatives to suggest, and prices."""

from __future__ import annotations

import pytest
from weatherballoon.cli.errors import UsageError
from weatherballoon.cli.providers.aws.catalog import alternatives, check_allowed, on_demand_price

ALLOWED = ["g4dn.xlarge", "g5.*", "t3.micro", "g6.xlarge"]


def test_allowed_types_take_iam_patterns_and_an_empty_list_allows_everything() -> None:
    check_allowed("g5.12xlarge", ALLOWED, "us-west-2")
    check_allowed("p5.48xlarge", [], "us-west-2")
    with pytest.raises(UsageError, match=r"does not allow p5.48xlarge; allowed: g4dn.xlarge, g5\.\*") as caught:
        check_allowed("p5.48xlarge", ALLOWED, "us-west-2")
    assert "wb bootstrap --allowed-types" in (caught.value.hint or "")


def test_alternatives_are_exact_allowed_names_nearest_first() -> None:
    assert alternatives("g5.xlarge", ALLOWED) == ["g6.xlarge", "g4dn.xlarge", "t3.micro"]
    assert alternatives("g5.xlarge", ["g5.xlarge"]) == []


def test_prices_come_from_the_shipped_table_and_an_unpriced_type_is_refused() -> None:
    assert on_demand_price("us-west-2", "g5.xlarge") == 1.006
    with pytest.raises(UsageError, match=r"no price for instance type 'x9.huge'.*budgets could not count its cost"):
        on_demand_price("us-west-2", "x9.huge")
