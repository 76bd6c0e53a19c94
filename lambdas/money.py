"""Money as wb shows it: dollars and cents with thousands separators ($1,234.50), and never a nonzero amount
shown as zero: an amount under a cent gets the digits it takes, two significant ($0.0001, not $0.00).

Shared by the client's tables and the reaper's reasons. Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import math

SIGNIFICANT = 2  # digits shown of an amount under a cent


def format_usd(value: float) -> str:
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.01:
        return f"${value:,.2f}"
    decimals = SIGNIFICANT - 1 - math.floor(math.log10(abs(value)))
    text = f"{value:.{decimals}f}".rstrip("0")
    return f"${text}"
