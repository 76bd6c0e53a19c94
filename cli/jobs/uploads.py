"""Whether the agent's upload of a job's outputs to storage went through (aws: S3 under the job's prefix).

The agent keeps each push's outcome in the job's `push.json`, which `list` and `status` print as `push`
(remote/daemon/output_duty.py), and on the job's row in the supervision table, which outlives the machine.
A failed upload is said by `wb run` (after the job, waiting a little for the push), `wb jobs` and `wb pull`:
outputs only on the machine are lost with it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import WbError

UPLOAD_WAIT_S = 20.0  # `wb run`: how long to wait for the agent's push of an ended job's outputs
POLL_S = 0.5


def push_failure(push: object) -> str | None:
    """`not uploaded to WHERE (N failed): first reason` for a failed push note (a job summary's `push`);
    None when it went through or is absent."""
    if not isinstance(push, Mapping) or push.get("ok") is not False:
        return None
    errors = [str(error) for error in push.get("errors") or []]
    failed = push.get("failed") or len(errors)
    where = push.get("where") or "storage"
    first = errors[0] if errors else "failed"
    return f"not uploaded to {where} ({failed} failed): {first}"


def job_summary(agent: Any, job_id: str) -> dict[str, Any] | None:
    """The agent's `status` of one job; None when it cannot say."""
    try:
        status, out, _ = agent.run(["status", job_id])
        found = json.loads(out or b"null") if status == 0 else None
    except (WbError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def await_push(
    agent: Any,
    job_id: str,
    wait_s: float = UPLOAD_WAIT_S,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str | None]:
    """Wait for the push of an ended job's outputs: ("ok" | "failed" | "pending" | "unknown", failure line)."""
    deadline = clock() + wait_s
    while True:
        summary = job_summary(agent, job_id)
        if summary is None:
            return "unknown", None
        push = summary.get("push")
        ended_at = summary.get("ended_at")
        if isinstance(push, Mapping) and (not isinstance(ended_at, (int, float)) or push.get("at", 0) >= ended_at):
            failure = push_failure(push)
            return ("failed", failure) if failure else ("ok", None)
        if clock() >= deadline:
            return "pending", None
        sleep(POLL_S)
