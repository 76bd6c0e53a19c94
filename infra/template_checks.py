"""Value checks for `template_rules`: each returns None, or what is wrong with the value it was given."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], "str | None"]


def text(chars: str | None = None, *, max_len: int, min_len: int = 0, unit: str = "characters") -> Check:
    """A string of `min_len`..`max_len` characters (or UTF-8 bytes), each from the class `chars`."""
    allowed = None if chars is None else re.compile(f"[{chars}]*")

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"is {type(value).__name__}, not a string"
        size = len(value.encode("utf-8")) if unit == "bytes" else len(value)
        if not min_len <= size <= max_len:
            return f"is {size} {unit} long, allowed {min_len}..{max_len}"
        if allowed is not None and not allowed.fullmatch(value):
            bad = sorted({char for char in value if not allowed.fullmatch(char)})
            return f"contains {''.join(bad)!r}, outside [{chars}]"
        return None

    return check


def pattern(regex: str) -> Check:
    compiled = re.compile(regex)

    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            return f"{value!r} does not match {regex}"
        return None

    return check


def number(low: float, high: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        try:
            number_value = float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a number"
        if number_value < low or (high is not None and number_value > high):
            return f"{number_value:g} is outside {low:g}..{'' if high is None else f'{high:g}'}"
        return None

    return check


def one_of(*allowed: Any) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"{value!r} is not one of {', '.join(map(str, allowed))}"

    return check


def one_or_many(item_check: Check) -> Check:
    """A condition value: one item, or a list of them, each passing `item_check`."""

    def check(value: Any) -> str | None:
        for item in value if isinstance(value, list) else [value]:
            problem = item_check(item)
            if problem:
                return problem
        return None

    return check


def each_key(key_check: Check) -> Check:
    def check(value: Any) -> str | None:
        problems = [f"key {key!r}: {problem}" for key in value if (problem := key_check(key))]
        return "; ".join(problems) or None

    return check


def at_most(count: int) -> Check:
    def check(value: Any) -> str | None:
        return None if len(value) <= count else f"has {len(value)} entries, at most {count} allowed"

    return check


def no_reserved_keys(reserved: frozenset[str]) -> Check:
    def check(value: Any) -> str | None:
        clash = sorted(set(value) & reserved)
        return f"sets reserved {', '.join(clash)}" if clash else None

    return check


def environment_size(limit: int) -> Check:
    """Lambda counts every key and value of the variables map against 4 KB."""

    def check(value: Any) -> str | None:
        size = sum(len(str(key).encode()) + len(str(item).encode()) for key, item in value.items())
        return None if size <= limit else f"variables take {size} bytes, more than {limit}"

    return check


def policy_characters(limit: int) -> Check:
    """IAM counts a policy's characters without white space."""

    def check(value: Any) -> str | None:
        size = len(re.sub(r"\s", "", json.dumps(value, separators=(",", ":"))))
        return None if size <= limit else f"the policy has {size} non-white-space characters, more than {limit}"

    return check


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((\S+ ){5}\S+\)")


def schedule_expression(value: Any) -> str | None:
    """rate(value unit) with a positive value and the singular unit for 1, or cron() with six fields."""
    if not isinstance(value, str) or len(value) > 256:
        return f"{value!r} is not a schedule expression of at most 256 characters"
    rate = _RATE.fullmatch(value)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2)
        if amount < 1:
            return f"{value!r}: the rate must be a positive whole number"
        if (amount == 1) == unit.endswith("s"):
            return f"{value!r}: use the singular unit for 1 and the plural otherwise"
        return None
    if _CRON.fullmatch(value):
        return None
    return f"{value!r} is neither rate(value unit) nor cron(six fields)"


def default_fits_its_parameter(declaration: Any) -> str | None:
    """CloudFormation validates a parameter's default against its own constraints."""
    default = declaration.get("Default")
    if default is None:
        return None
    values = default.split(",") if declaration.get("Type") == "CommaDelimitedList" else [default]
    for value in values:
        allowed_pattern = declaration.get("AllowedPattern")
        if allowed_pattern and not re.fullmatch(allowed_pattern, str(value)):
            return f"default {value!r} does not match its AllowedPattern"
        allowed_values = declaration.get("AllowedValues")
        if allowed_values and value not in allowed_values:
            return f"default {value!r} is not among its AllowedValues"
        if declaration.get("Type") == "Number":
            low, high = declaration.get("MinValue"), declaration.get("MaxValue")
            if (low is not None and float(value) < float(low)) or (high is not None and float(value) > float(high)):
                return f"default {value!r} is outside MinValue..MaxValue"
    return None
