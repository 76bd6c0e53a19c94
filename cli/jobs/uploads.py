"""Whether the agent's upload of a job's outputs to storage went through (aws: S3 under the job's prefix).

The agent keeps each push's outcome in the job's `push.json`, which `list` and `status` print as `push`
(remote/daemon/output_duty.py; read as `Job.push`, a `PushNote`), and on the job's row in the supervision
table, which outlives the machine. A failed upload is said by `wb run` (after the job, waiting a little
for the push), `wb jobs` and `wb pull`: outputs only on the machine are lost with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import WbError
from ..providers.records import Job
from ..session.agent_jobs import RunsAgentCommands, job_status

UPLOAD_WAIT_S = 20.0  # `wb run`: how long to wait for the agent's push of an ended job's outputs
POLL_S = 0.5


def job_summary(agent: RunsAgentCommands, job_id: str) -> Job | None:
    """The agent's `status` of one job; None when it cannot say."""
    try:
        return job_status(agent, job_id)
    except WbError:
        return None


def await_push(
    agent: RunsAgentCommands,
    job_id: str,
    wait_s: float = UPLOAD_WAIT_S,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str | None]:
    """Wait for the push of an ended job's outputs: ("ok" | "failed" | "pending" | "unknown", failure line)."""
    deadline = clock() + wait_s
    while True:
        job = job_summary(agent, job_id)
        if job is None:
            return "unknown", None
        push = job.push
        if push is not None and (job.ended_at is None or (push.at or 0) >= job.ended_at):
            failure = push.failure
            return ("failed", failure) if failure else ("ok", None)
        if clock() >= deadline:
            return "pending", None
        sleep(POLL_S)
