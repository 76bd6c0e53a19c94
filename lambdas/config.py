"""The reaper's settings, read once from the environment into a frozen dataclass.

| variable | meaning | default |
|---|---|---|
| `TABLE_NAME` | the supervision table | required |
| `MODE` | `enforce`, or `dry-run` (decide, audit and log; terminate and close nothing) | `enforce` |
| `ORPHAN_GRACE_SECONDS` | a tagged instance may lack a row this long after launch | 600 |
| `DEFAULT_OWNER_BUDGET_USD` | monthly budget of an owner without a budget row | none (no limit) |
| `TEAM_BUDGET_USD` | monthly budget of a team without a budget row | none (no limit) |
| `TEAM_NAME` | team of instances that carry no `wb:team` tag | `default` |
| `AUDIT_TTL_DAYS` | audit rows expire after this | 30 |
| `CLOSED_ROW_TTL_DAYS` | closed instance rows expire after this | 90 |
| `JOB_CAP_GRACE_SECONDS` | the reaper enforces job caps this late (the agent goes first) | 120 |
| `TERMINATE_BATCH_SIZE` | ids per TerminateInstances call, 1..1000 | 1000 |
| `WRITE_CONCURRENCY` | parallel table writes, 1..32 | 16 |
| `API_MAX_ATTEMPTS` | botocore standard-mode attempts per call, the first included | 5 |
| `MAX_HOURS` | lifetime cap counted from EC2's launch time, whatever a row says | none (rows' `max_until` only) |

A budget variable that is empty or `none` means no limit; `0` is a budget of zero. Every number must be
finite; budgets and `MAX_HOURS` must also lie in their ranges of `limits.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from . import limits
from .errors import InvalidSettingError, MissingSettingError


class Mode(str, Enum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise MissingSettingError(name)
    return default


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float | None = None) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= low and (high is None or value <= high)):
        bound = f"a number >= {low}" + (f" and <= {high}" if high is not None else "")
        raise InvalidSettingError(name, raw, bound)
    return value


def _limited(env: Mapping[str, str], name: str, limit: limits.Range) -> float | None:
    """A number in `limit`, or None when unset, empty or `none`."""
    raw = env.get(name, "").strip()
    if not raw or raw.lower() == "none":
        return None
    try:
        return limit.parse(raw)
    except ValueError:
        raise InvalidSettingError(name, raw, f"a number {limit.describe()}") from None


@dataclass(frozen=True)
class ReaperSettings:
    table_name: str
    mode: Mode = Mode.ENFORCE
    orphan_grace_s: float = 600.0
    default_owner_budget_usd: float | None = None
    team_budget_usd: float | None = None
    team_name: str = "default"
    audit_ttl_days: float = 30.0
    closed_row_ttl_days: float = 90.0
    job_cap_grace_s: float = 120.0
    terminate_batch_size: int = 1000
    write_concurrency: int = 16
    api_max_attempts: int = 5
    max_hours: float | None = None

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReaperSettings:
        if env is None:
            import os

            env = os.environ
        raw_mode = _text(env, "MODE", Mode.ENFORCE.value)
        try:
            mode = Mode(raw_mode.lower())
        except ValueError:
            raise InvalidSettingError("MODE", raw_mode, "enforce or dry-run") from None
        return cls(
            table_name=_text(env, "TABLE_NAME"),
            mode=mode,
            orphan_grace_s=_number(env, "ORPHAN_GRACE_SECONDS", 600.0, 0.0),
            default_owner_budget_usd=_limited(env, "DEFAULT_OWNER_BUDGET_USD", limits.BUDGET_USD),
            team_budget_usd=_limited(env, "TEAM_BUDGET_USD", limits.BUDGET_USD),
            team_name=_text(env, "TEAM_NAME", "default"),
            audit_ttl_days=_number(env, "AUDIT_TTL_DAYS", 30.0, 0.0),
            closed_row_ttl_days=_number(env, "CLOSED_ROW_TTL_DAYS", 90.0, 0.0),
            job_cap_grace_s=_number(env, "JOB_CAP_GRACE_SECONDS", 120.0, 0.0),
            terminate_batch_size=int(_number(env, "TERMINATE_BATCH_SIZE", 1000, 1, 1000)),
            write_concurrency=int(_number(env, "WRITE_CONCURRENCY", 16, 1, 32)),
            api_max_attempts=int(_number(env, "API_MAX_ATTEMPTS", 5, 1, 20)),
            max_hours=_limited(env, "MAX_HOURS", limits.MAX_HOURS),
        )
