"""Durations as users write them: 90s, 45m, 2h, 1h30m, or plain seconds."""

from __future__ import annotations

import re

import click
from weatherballoon.lambdas.limits import JOB_MAX_TIME_S

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 45m, 2h or 1h30m")
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class DurationType(click.ParamType):
    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value) if isinstance(value, (int, float)) else parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if not JOB_MAX_TIME_S.contains(seconds):
            self.fail(f"{value!r} is out of range: a duration must be more than 0 and at most 366d", param, ctx)
        return seconds
