"""The ranges every supervision number must fall in, wherever it is read.

One table, checked at each door a number comes through: the config schema and the WB_* variables, the CLI
flags, the stack parameters `wb bootstrap` sets (the template's MinValue/MaxValue), the stack outputs the
client reads back, the reaper's environment, and the agent's own arguments and agent.env. Each door checks
again rather than trusting the one before it: a hand-edited stack or agent.env must fail as clearly as a
bad flag does.

`nan` and `inf` are in no range. The upper bounds keep every derived figure finite and usable: a lease
time stamp, a `shutdown +N` timer, a `sigtimedwait` timeout (which overflows past about 9.2e9 s), a
DynamoDB number.

| range | unit | low | high |
|---|---|---|---|
| LEASE_MINUTES | minutes | > 0 | 1440 (a day) |
| IDLE_MINUTES | minutes | >= 0 | 1440 (a day) |
| MAX_HOURS | hours | > 0 | 8760 (a year) |
| JOB_MAX_TIME_S | seconds | > 0 | 31,622,400 (366 days) |
| JOB_MAX_COST_USD | USD | > 0 | 1,000,000 |
| BUDGET_USD | USD | >= 0 | 1,000,000,000 |
| MAX_OUTPUT_MB | MiB | > 0 | 1,073,741,824 (1 PiB) |
| MAX_OUTPUT_BYTES | bytes | > 0 | 2**50 |
| MAX_VOLUME_GIB | GiB | >= 8 | 99,999 (the MaxVolumeGiB parameter's pattern) |
| GRACE_S | seconds | > 0 | 3600 (the agent's SIGTERM-after grace) |

Runs on python3 >= 3.8, stdlib only (the agent imports it), and imports nothing costly.
"""

from __future__ import annotations

import math


class Range:
    """A closed interval of finite numbers, optionally open at its low end."""

    __slots__ = ("high", "low", "low_open", "unit")

    def __init__(self, low: float, high: float, unit: str, *, low_open: bool = False) -> None:
        self.low = low
        self.high = high
        self.unit = unit
        self.low_open = low_open

    def contains(self, value: float) -> bool:
        if not math.isfinite(value) or value > self.high:
            return False
        return value > self.low if self.low_open else value >= self.low

    def describe(self) -> str:
        """e.g. `more than 0 and at most 1440 minutes`."""
        low = f"more than {_number(self.low)}" if self.low_open else f"at least {_number(self.low)}"
        return f"{low} and at most {_number(self.high)} {self.unit}"

    def parse(self, value: object) -> float:
        """`value` (a number or its text) as a float in range, else ValueError saying what is allowed."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{value!r} is not a number; it must be {self.describe()}") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number; it must be {self.describe()}")
        if not self.contains(number):
            raise ValueError(f"{value!r} is out of range; it must be {self.describe()}")
        return number


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else repr(value)


LEASE_MINUTES = Range(0, 1440, "minutes", low_open=True)
IDLE_MINUTES = Range(0, 1440, "minutes")
MAX_HOURS = Range(0, 8760, "hours", low_open=True)
JOB_MAX_TIME_S = Range(0, 366 * 86400, "seconds", low_open=True)
JOB_MAX_COST_USD = Range(0, 1_000_000, "USD", low_open=True)
BUDGET_USD = Range(0, 1_000_000_000, "USD")
MAX_OUTPUT_MB = Range(0, 1 << 30, "MiB", low_open=True)
MAX_OUTPUT_BYTES = Range(0, 1 << 50, "bytes", low_open=True)
GRACE_S = Range(0, 3600, "seconds", low_open=True)
MAX_VOLUME_GIB = Range(8, 99_999, "GiB")
