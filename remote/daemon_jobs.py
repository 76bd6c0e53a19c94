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

from . import jobstate, listing, signals, supervisor
from .jobstore import JobPaths, read_json, write_json_atomic
from .s3push import JobOutputs


class LocalJob:
    __slots__ = ("cwd", "ended_at", "exit_code", "job_id", "outputs", "running", "started_at", "state", "stop_reason")

    def __init__(self, summary: dict, outputs: list) -> None:
        self.job_id = summary["id"]
        self.state = summary["state"]
        self.running = summary["state"] == jobstate.RUNNING
        self.started_at = summary.get("started_at")
        self.ended_at = summary.get("ended_at")
        self.exit_code = summary.get("exit_code")
        self.stop_reason = summary.get("stop_reason")
        self.cwd = summary.get("cwd") or ""
        self.outputs = outputs

    @property
    def ended(self) -> bool:
        return not self.running

    def push_request(self) -> JobOutputs | None:
        return JobOutputs(self.job_id, self.cwd, self.outputs) if self.outputs and self.cwd else None


class JobWatcher:
    """Lists the jobs each pass; a job's output globs are read from its meta.json once (it never changes)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root
        self._outputs: dict = {}

    def _outputs_of(self, job_id: str) -> list:
        if job_id not in self._outputs:
            meta = read_json(JobPaths(job_id, self.root).meta) or {}
            found = meta.get("outputs") or []
            self._outputs[job_id] = [str(glob) for glob in found] if isinstance(found, list) else []
        return list(self._outputs[job_id])

    def jobs(self) -> list:
        return [LocalJob(summary, self._outputs_of(summary["id"])) for summary in listing.all_jobs(self.root)]


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
