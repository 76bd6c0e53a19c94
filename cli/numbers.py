"""Number flags checked against the ranges of `lambdas/limits.py`: never nan or inf, never past a bound."""

from __future__ import annotations

import click
from weatherballoon.lambdas.limits import Range


class LimitedFloat(click.ParamType):
    """A float within `limit`; the error says what is allowed."""

    name = "number"

    def __init__(self, limit: Range) -> None:
        self.limit = limit

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            return self.limit.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
