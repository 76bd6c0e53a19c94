"""The jobs on this machine as the daemon sees them (from the job records), and stopping one for a cap.

Reuses the job half of the agent: `listing.all_jobs` for state, `signals.send_to_job` (with its pid-reuse
check) to stop a group, `supervisor.STOP_REQUEST` so the supervisor records the reason (exit 124).

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from ..jobs import listing, signals, supervisor
from ..jobs.state import RUNNING
from ..jobs.store import JobPaths, read_json, write_json_atomic
from .s3push import JobOutputs


class JobMeta:
    """What a job's meta.json says that never changes: read once per job."""

    __slots__ = ("claim", "command", "max_cost_usd", "max_time_s", "outputs")

    def __init__(self, meta: dict) -> None:
        found = meta.get("outputs") or []
        self.outputs = [str(glob) for glob in found] if isinstance(found, list) else []
        command = meta.get("command") or []
        self.command = tuple(str(arg) for arg in command) if isinstance(command, list) else ()
        claim = meta.get("claim")
        self.claim = claim if isinstance(claim, str) else None
        self.max_time_s = _number(meta.get("max_time_s"))
        self.max_cost_usd = _number(meta.get("max_cost_usd"))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


class LocalJob:
    __slots__ = ("cwd", "ended_at", "exit_code", "job_id", "meta", "running", "started_at", "state", "stop_reason")

    def __init__(self, summary: dict, meta: JobMeta) -> None:
        self.job_id: str = summary["id"]
        self.state: str = summary["state"]
        self.running = summary["state"] == RUNNING
        self.started_at: float | None = summary.get("started_at")
        self.ended_at: float | None = summary.get("ended_at")
        self.exit_code: int | None = summary.get("exit_code")
        self.stop_reason: str | None = summary.get("stop_reason")
        self.cwd: str = summary.get("cwd") or ""
        self.meta = meta

    @property
    def outputs(self) -> list[str]:
        return self.meta.outputs

    @property
    def ended(self) -> bool:
        return not self.running

    def push_request(self) -> JobOutputs | None:
        return JobOutputs(self.job_id, self.cwd, self.outputs) if self.outputs and self.cwd else None


class JobWatcher:
    """Lists the jobs each pass; a job's meta.json (outputs, claim, caps) is read once (it never changes)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root
        self._meta: dict[str, JobMeta] = {}

    def _meta_of(self, job_id: str) -> JobMeta:
        if job_id not in self._meta:
            self._meta[job_id] = JobMeta(read_json(JobPaths(job_id, self.root).meta) or {})
        return self._meta[job_id]

    def jobs(self) -> list[LocalJob]:
        return [LocalJob(summary, self._meta_of(summary["id"])) for summary in listing.all_jobs(self.root)]


def stop_job(job_id: str, reason: str, root: str | None = None, grace_s: float = supervisor.GRACE_S) -> bool:
    """Stop a running job like --max-time does: record why, TERM its group, KILL it `grace_s` later.

    False when the job is not running any more (its group is gone or its pid belongs to another process).
    """
    paths = JobPaths(job_id, root)
    meta = read_json(paths.meta)
    if meta is None or paths.has_ended():
        return False
    write_json_atomic(os.path.join(paths.dir, supervisor.STOP_REQUEST), {"reason": reason, "at": time.time()})
    if not signals.send_to_job(meta, signal.SIGTERM):
        return False

    def kill_if_still_running() -> None:
        if not paths.has_ended():
            signals.send_to_job(meta, signal.SIGKILL)

    timer = threading.Timer(grace_s, kill_if_still_running)
    timer.daemon = True
    timer.start()
    return True
