"""Stack parameters: what the shipped template declares, what the admin asked for, what changes.

Names come from the template (`infra/parameters.py` declares them); the constants below are the ones
`wb bootstrap` sets, and a unit test proves the shipped template declares each of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

OWNER_BUDGET = "OwnerBudgetUsd"
TEAM_BUDGET = "TeamBudgetUsd"
TEAM_NAME = "TeamName"
ALLOWED_TYPES = "AllowedInstanceTypes"
ADMINS = "AdminPrincipalArns"
LEASE_MINUTES = "LeaseMinutes"
IDLE_MINUTES = "IdleMinutes"
MAX_HOURS = "MaxHours"
REAPER_SCHEDULE = "ReaperSchedule"
REAPER_MODE = "ReaperMode"
CODE_BUCKET = "ReaperCodeBucket"
CODE_KEY = "ReaperCodeKey"
SSH_CIDR = "SshIngressCidr"
VPC_ID = "VpcId"
SSH_ACCESS = "SshAccess"
EICE_ID = "InstanceConnectEndpointId"
EICE_GROUP = "InstanceConnectEndpointSecurityGroupId"
EICE_SUBNET = "InstanceConnectSubnetId"
POWERTOOLS_LAYER = "PowertoolsLayerVersion"
MAX_VOLUME_GIB = "MaxVolumeGiB"
EXTRA_BUCKET = "ExtraOutputBucket"
SET_BY_BOOTSTRAP = (
    OWNER_BUDGET, TEAM_BUDGET, TEAM_NAME, ALLOWED_TYPES, ADMINS, LEASE_MINUTES, IDLE_MINUTES, MAX_HOURS,
    REAPER_SCHEDULE, REAPER_MODE, CODE_BUCKET, CODE_KEY, SSH_CIDR, VPC_ID, POWERTOOLS_LAYER, MAX_VOLUME_GIB,
    EXTRA_BUCKET, SSH_ACCESS, EICE_ID, EICE_GROUP, EICE_SUBNET,
)  # fmt: skip


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of the template's `Parameters` section."""

    name: str
    type: str
    default: str | None = None
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None
    min_value: float | None = None
    max_value: float | None = None

    @classmethod
    def from_template(cls, name: str, declaration: Mapping[str, Any]) -> ParameterSpec:
        default = declaration.get("Default")
        return cls(
            name=name,
            type=str(declaration.get("Type", "String")),
            default=None if default is None else str(default),
            allowed_values=tuple(str(v) for v in declaration.get("AllowedValues", ())),
            allowed_pattern=declaration.get("AllowedPattern"),
            min_value=_float_or_none(declaration.get("MinValue")),
            max_value=_float_or_none(declaration.get("MaxValue")),
        )

    @property
    def is_number(self) -> bool:
        return self.type == "Number"

    @property
    def is_list(self) -> bool:
        return self.type == "CommaDelimitedList" or self.type.startswith("List<")

    def check(self, value: str, *, flag: str) -> str:
        """The value as CloudFormation should get it, or a UsageError naming the flag (checked before any call)."""
        if self.is_number:
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"{flag}: {value!r} is not a number") from None
            if not math.isfinite(number):
                raise UsageError(f"{flag}: {value!r} is not a finite number")
            if self.min_value is not None and number < self.min_value:
                raise UsageError(f"{flag}: {value} is below the minimum {format_number(self.min_value)}")
            if self.max_value is not None and number > self.max_value:
                raise UsageError(f"{flag}: {value} is above the maximum {format_number(self.max_value)}")
            value = format_number(number)
        if self.allowed_values and value not in self.allowed_values:
            raise UsageError(f"{flag}: {value!r} is not one of {', '.join(self.allowed_values)}")
        if self.allowed_pattern and not re.fullmatch(self.allowed_pattern, value):
            raise UsageError(f"{flag}: {value!r} does not match {self.allowed_pattern}")
        return value

    def same(self, a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return a == b
        if self.is_number:
            try:
                return float(a) == float(b)
            except ValueError:
                return a == b
        if self.is_list:
            return split_list(a) == split_list(b)
        return a == b


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def split_list(value: str) -> list[str]:
    """A CommaDelimitedList's items. moto describes one as a Python list (`['a', 'b']`); read that alike."""
    if value.startswith("[") and value.endswith("]"):
        return [part.strip().strip("'\"") for part in value[1:-1].split(",") if part.strip().strip("'\"")]
    return [part.strip() for part in value.split(",") if part.strip()]


def template_specs(template: Mapping[str, Any]) -> dict[str, ParameterSpec]:
    return {name: ParameterSpec.from_template(name, decl) for name, decl in template.get("Parameters", {}).items()}


@dataclass(frozen=True)
class ParameterChange:
    name: str
    old: str | None  # None: the stack does not exist yet
    new: str


@dataclass(frozen=True)
class ParameterPlan:
    """`api` is CreateStack/UpdateStack's `Parameters`; `values` what each parameter will be afterwards."""

    api: list[dict[str, Any]]
    values: dict[str, str]
    changes: list[ParameterChange]


def plan_parameters(
    specs: Mapping[str, ParameterSpec], requested: Mapping[str, str], current: Mapping[str, str] | None
) -> ParameterPlan:
    """Requested values win; otherwise an existing stack keeps its value (`UsePreviousValue`); otherwise the
    template default applies, passed explicitly. `current` is None when the stack is being created."""
    unknown = sorted(set(requested) - set(specs))
    if unknown:
        raise UsageError(
            f"the shipped template declares no parameter {', '.join(unknown)}",
            hint="this wb and its template disagree: reinstall weatherballoon",
        )
    api: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    changes: list[ParameterChange] = []
    for name, spec in specs.items():
        old = None if current is None else current.get(name)
        if name in requested:
            new = requested[name]
            api.append({"ParameterKey": name, "ParameterValue": new})
        elif old is not None:
            new = old
            api.append({"ParameterKey": name, "UsePreviousValue": True})
        elif spec.default is not None:
            # Explicit, so the stack records every value and a later UsePreviousValue always has one to use
            # (moto keeps only the values passed in; CloudFormation behaves the same either way).
            new = spec.default
            api.append({"ParameterKey": name, "ParameterValue": new})
        else:
            raise UsageError(f"the stack parameter {name} has no value and no default")
        values[name] = new
        if current is None or not spec.same(old, new):
            changes.append(ParameterChange(name, old, new))
    return ParameterPlan(api, values, changes)
