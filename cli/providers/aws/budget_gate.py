"""Refuse to launch for an owner or team already over budget: the reaper would end the machine anyway."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ...errors import SupervisionStop

if TYPE_CHECKING:
    from .plane import ControlPlane


def check_budget(plane: ControlPlane, *, now: float | None = None) -> None:
    """Raise SupervisionStop (exit 124) naming the budget when mine or my team's is spent this month."""
    from ...aws_account.ledger import month_report
    from ...render.money import format_usd

    month = time.strftime("%Y-%m", time.gmtime(now))
    report = month_report(plane.store, plane.stack, month)
    mine = report.owner(plane.me.user_id)
    if mine.left is not None and mine.left <= 0:
        raise SupervisionStop(
            f"owner-budget: you have spent {format_usd(mine.spent)} of your {format_usd(mine.limit or 0.0)} "
            f"budget for {month}; no new machine is launched",
            reason="owner-budget",
            hint="ask an admin to raise it (wb budget set OWNER USD), or wait for next month; see wb costs",
        )
    team = next((line for line in report.teams if line.name == plane.supervision.team), None)
    if team is not None and team.left is not None and team.left <= 0:
        raise SupervisionStop(
            f"team-budget: team {team.name} has spent {format_usd(team.spent)} of {format_usd(team.limit or 0.0)} "
            f"for {month}; no new machine is launched",
            reason="team-budget",
            hint="ask an admin to raise it (wb budget set --team TEAM USD); see wb costs --all",
        )
