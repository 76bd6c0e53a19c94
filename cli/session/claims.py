"""Claiming a machine through its agent's daemon (`agent claim`, remote/daemon/claim_command.py) and giving it back.

For providers whose machines are claimed before use (aws): the daemon makes the same conditional write in
the table as a client's own claim. Used by the prefetch thread and by the provider alike.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weatherballoon.remote.daemon.claim_command import SAY_PREFIX

if TYPE_CHECKING:
    from .agent import RemoteAgent


@dataclass(frozen=True)
class ClaimOutcome:
    token: str | None  # the claim, when the daemon granted it
    refusal: str | None  # why not, when it did not


def claim(agent: RemoteAgent, margin_s: float) -> ClaimOutcome:
    """Claim under a fresh token, wanting at least `margin_s` of lease left; WbError when the agent cannot run."""
    token = secrets.token_hex(8)
    status, _, err = agent.run(["claim", token, "--margin", f"{margin_s:g}"])
    if status == 0:
        return ClaimOutcome(token, None)
    said = err.decode(errors="replace").strip().removeprefix(SAY_PREFIX)
    return ClaimOutcome(None, said or f"exit {status}")


def release(agent: RemoteAgent, token: str) -> None:
    """Best effort: when the claim cannot be given back, its lease runs out, as for any client that vanished."""
    from ..errors import WbError

    with contextlib.suppress(WbError):
        agent.run(["claim", token, "--release"])
