"""Flag types that check a value where it is parsed: numbers against the ranges of `lambdas/limits.py`
(never nan or inf, never past a bound), and output globs that must stay inside the project's folder."""

from __future__ import annotations

import click
from weatherballoon.lambdas.limits import Range
from weatherballoon.remote.sync.globs import outside_root


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


class OutputGlob(click.ParamType):
    """An output glob (`-o`), relative to the project's remote folder and never reaching outside it."""

    name = "glob"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        why = outside_root(text)
        if why:
            self.fail(f"{text!r} {why}", param, ctx)
        return text
