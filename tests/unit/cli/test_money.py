"""Money on wb's tables and messages (`wb budget`, `wb costs`, `wb status`): a nonzero amount never reads $0.00."""

from __future__ import annotations

import pytest
from weatherballoon.cli.render.money import format_usd, format_usd_or


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "$0.00"),
        (0.0, "$0.00"),
        (42.5, "$42.50"),
        (1234.5, "$1,234.50"),
        (12.345, "$12.35"),
        (0.01, "$0.01"),
        (0.0001, "$0.0001"),
        (0.000123, "$0.00012"),
        (0.005, "$0.005"),
        (0.0049, "$0.0049"),
        (0.009999, "$0.01"),
        (1e-9, "$0.000000001"),
        (-0.25, "$-0.25"),
        (-0.0001, "$-0.0001"),
    ],
)
def test_amounts(value: float, shown: str) -> None:
    assert format_usd(value) == shown


@pytest.mark.parametrize("value", [1e-12, 3e-7, 0.0001, 0.00499, 0.0099])
def test_a_nonzero_amount_never_reads_zero(value: float) -> None:
    digits = format_usd(value).lstrip("$").replace("0", "").replace(".", "")
    assert digits, format_usd(value)
    assert float(format_usd(value).lstrip("$")) == pytest.approx(value, rel=0.06)


def test_a_missing_amount_reads_as_the_caller_says() -> None:
    assert format_usd_or(None, "none") == "none"
    assert format_usd_or(None, None) is None
    assert format_usd_or(0.0001, "none") == "$0.0001"
