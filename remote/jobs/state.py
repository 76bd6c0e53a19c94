"""Pure decisions about a job: its exit code from a wait status, and its state from its records."""

from __future__ import annotations

import os

SUPERVISION_EXIT_CODE = 124  # timeout(1)'s code: supervision, not the command, ended the job
SIGNAL_EXIT_BASE = 128
STOP_REASONS = ("max-time", "max-cost", "budget", "lease", "output-cap", "disk-full", "gang")
# The job's stdout and stderr files together may hold this much unless the client asks otherwise
# (`supervision.maxOutputMb`); past it the job is stopped: a runaway writer must not fill the disk.
DEFAULT_MAX_OUTPUT_BYTES = 4096 << 20
# Less than this free on the filesystem of the job's files, for the job's user, is a full disk.
DISK_FULL_BELOW_BYTES = 1 << 20

RUNNING = "running"
EXITED = "exited"
KILLED = "killed"
STOPPED = "stopped"
LOST = "lost"

SUMMARY_FIELDS = (
    "id", "command", "cwd", "state", "exit_code", "signal", "stop_reason", "started_at", "ended_at", "pid", "push",
    "gang",
)  # fmt: skip


def outcome(wait_status: int, stop_reason: str | None) -> tuple:
    """(exit_code, signal) for a `waitpid` status, as a shell reports it: 128+N for death by signal N."""
    signal = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if stop_reason is not None:
        return SUPERVISION_EXIT_CODE, signal
    if signal is not None:
        return SIGNAL_EXIT_BASE + signal, signal
    return os.WEXITSTATUS(wait_status), None


def state_of(status: dict | None, running: bool) -> str:
    """A job with no status record is running while its process or supervisor lives, else lost."""
    if status is None:
        return RUNNING if running else LOST
    if status.get("stop_reason"):
        return STOPPED
    if status.get("signal") is not None:
        return KILLED
    return EXITED


def summary(job_id: str, meta: dict | None, status: dict | None, running: bool, push: dict | None = None) -> dict:
    """The object `list` and `status` print for one job; `push`: the agent's last push of its outputs (aws)."""
    meta = meta or {}
    status = status or {}
    return {
        "id": job_id,
        "command": meta.get("command"),
        "cwd": meta.get("cwd"),
        "state": state_of(status or None, running),
        "exit_code": status.get("exit_code"),
        "signal": status.get("signal"),
        "stop_reason": status.get("stop_reason"),
        "started_at": meta.get("started_at", status.get("started_at")),
        "ended_at": status.get("ended_at"),
        "pid": meta.get("pid"),
        "push": push,
        # one rank of a gang stopped for another's failure: {"rank", "code", "reason"} (`jobs.gang`)
        "gang": status.get("gang"),
    }


def stop_message(job_id: str, stop_reason: str, meta: dict | None = None, job_dir: str | None = None) -> str:
    """The one line a follower prints on stderr when supervision, not the command, ended the job."""
    meta = meta or {}
    detail = ""
    max_time_s = meta.get("max_time_s")
    max_output = meta.get("max_output_bytes")
    if stop_reason == "max-time" and max_time_s is not None:
        detail = f" (ran past --max-time {max_time_s:g}s)"
    elif stop_reason == "output-cap" and max_output:
        detail = (
            f" (its stdout and stderr reached {max_output / (1 << 20):g} MiB, the cap set by"
            " supervision.maxOutputMb / WB_MAX_OUTPUT_MB; the output up to the cap is kept)"
        )
    elif stop_reason == "disk-full":
        where = f" holding {job_dir}" if job_dir else ""
        detail = (
            f" (the filesystem{where} on the machine is full; the output written until then is kept,"
            " what came after may be missing)"
        )
    return f"job {job_id} stopped by supervision: {stop_reason}{detail}; exit code {SUPERVISION_EXIT_CODE}"


def lost_message(job_id: str) -> str:
    return (
        f"job {job_id} was lost: its process and its supervisor are gone and no exit status was"
        " recorded (the machine rebooted, or both were killed)"
    )
