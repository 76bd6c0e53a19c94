"""Condition operators for the offline IAM evaluator.

A block ANDs its operators and keys and ORs the values of one key. A key missing from the request fails
every operator except Null, the negated operators, `...IfExists` and `ForAllValues:` (true for an empty or
missing set). Anything else raises `UnsupportedPolicy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from weatherballoon.infra.policy_patterns import (
    Lookup,
    UnsupportedPolicy,
    arn_matches,
    literal_outside_variables,
    substituted_glob,
)

Matcher = Callable[[str, str, Lookup], bool]


def _string_equals(policy: str, actual: str, lookup: Lookup, *, ignore_case: bool = False) -> bool:
    compiled = substituted_glob(literal_outside_variables(policy), lookup, ignore_case=ignore_case)
    return compiled is not None and compiled.fullmatch(actual) is not None


def _string_equals_ignore_case(policy: str, actual: str, lookup: Lookup) -> bool:
    return _string_equals(policy, actual, lookup, ignore_case=True)


def _string_like(policy: str, actual: str, lookup: Lookup) -> bool:
    compiled = substituted_glob(policy, lookup)
    return compiled is not None and compiled.fullmatch(actual) is not None


def _bool(policy: str, actual: str, lookup: Lookup) -> bool:
    return policy.lower() == actual.lower()


def _numeric(compare: Callable[[float, float], bool]) -> Matcher:
    """Numeric operators compare the request's value with the policy's; either one not a number matches
    nothing (IAM then treats the condition as not met). No wildcards, no policy variables."""

    def matcher(policy: str, actual: str, lookup: Lookup) -> bool:
        try:
            wanted, got = float(policy), float(actual)
        except ValueError:
            return False
        return compare(got, wanted)

    return matcher


_MATCHERS: dict[str, Matcher] = {
    "StringEquals": _string_equals,
    "StringEqualsIgnoreCase": _string_equals_ignore_case,
    "StringLike": _string_like,
    "ArnEquals": arn_matches,
    "ArnLike": arn_matches,
    "Bool": _bool,
    "NumericEquals": _numeric(lambda got, wanted: got == wanted),
    "NumericLessThan": _numeric(lambda got, wanted: got < wanted),
    "NumericLessThanEquals": _numeric(lambda got, wanted: got <= wanted),
    "NumericGreaterThan": _numeric(lambda got, wanted: got > wanted),
    "NumericGreaterThanEquals": _numeric(lambda got, wanted: got >= wanted),
}
_NEGATIONS = {
    "NumericNotEquals": "NumericEquals",
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_SET_OPERATORS = ("", "ForAllValues", "ForAnyValue")


def conditions_hold(block: Mapping[str, Mapping[str, Any]], lookup: Lookup) -> bool:
    for operator, keys in block.items():
        for key, policy_values in keys.items():
            values = policy_values if isinstance(policy_values, list | tuple) else [policy_values]
            if not condition_holds(operator, key, [str(value) for value in values], lookup):
                return False
    return True


def condition_holds(operator: str, key: str, policy_values: list[str], lookup: Lookup) -> bool:
    set_operator, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    actual = lookup(key)
    present = _is_present(actual)

    if base == "Null":
        if set_operator or if_exists:
            raise UnsupportedPolicy(operator)
        wants_absent = {value.lower() for value in policy_values} == {"true"}
        return wants_absent != present

    negated = base in _NEGATIONS
    matcher = _MATCHERS.get(_NEGATIONS.get(base, base))
    if matcher is None or set_operator not in _SET_OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator}")

    def matches(value: str) -> bool:
        hit = any(matcher(policy, value, lookup) for policy in policy_values)
        return hit != negated

    if set_operator == "ForAllValues":
        return not present or all(matches(value) for value in _values(actual))
    if set_operator == "ForAnyValue":
        return any(matches(value) for value in _values(actual)) if present else if_exists
    if not present:
        return if_exists or negated
    if not isinstance(actual, str):
        raise UnsupportedPolicy(f"single-valued operator {operator} on multivalued key {key}")
    return matches(actual)


def _is_present(actual: object) -> bool:
    """An empty set counts as missing, as it does for IAM's multivalued keys."""
    if actual is None:
        return False
    return isinstance(actual, str) or len(actual) > 0  # type: ignore[arg-type]


def _values(actual: object) -> list[str]:
    if actual is None:
        return []
    return [actual] if isinstance(actual, str) else list(actual)  # type: ignore[call-overload]
