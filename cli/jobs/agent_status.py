"""What an agent job command's exit status means when no stream header came (`remote/agent_io.py`).

Only without the header is the status the agent's own; with it, it is the job's, whatever its value.
"""

from __future__ import annotations

from weatherballoon.remote.agent_io import JOB_STATE_EXIT, TOO_LONG_EXIT, UNKNOWN_JOB_EXIT

from ..errors import ConnectError, JobNotFound, UsageError, WbError

CONNECTION_LOST = -1


def agent_said(err: bytes) -> str:
    """The agent's own lines from stderr (`wb-agent: ...`), else its last lines."""
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    own = [line.removeprefix("wb-agent:").strip() for line in lines if line.startswith("wb-agent:")]
    return "; ".join(own or lines[-3:]) or "no message"


def storage_hint(said: str) -> str:
    """What to do about a machine whose disk refused the agent's files, from the reason it gave."""
    lowered = said.lower()
    if "read-only" in lowered:
        return (
            "the home folder on the machine is on a read-only filesystem; wb keeps its agent and job files"
            " in ~/.weatherballoon there, so it must be writable"
        )
    if "quota" in lowered:
        return "the disk quota of your account on the machine is used up: free space under your home folder"
    if "no space" in lowered:
        return (
            "the machine's disk is full: free space there (df -h ~; du -sh ~/.weatherballoon/jobs/* shows"
            " the output of old jobs)"
        )
    return "check that your home folder on the machine is writable and has free space"


def job_command_failed(status: int, err: bytes, *, host: str, job_id: str) -> WbError:
    """The error for a `run` or `follow` that ended without the stream header, i.e. never reached the job."""
    said = agent_said(err)
    if status == UNKNOWN_JOB_EXIT:
        return JobNotFound(job_id, hint=f"{host} has no record of it (it may have been replaced); see wb jobs")
    if status == JOB_STATE_EXIT:
        return ConnectError(f"cannot create job {job_id}: {said}", host=host, hint=storage_hint(said))
    if status == TOO_LONG_EXIT:
        return UsageError(
            f"the command is too long for {host}: {said}",
            hint="Linux takes at most 128 KiB in one argument and about 2 MiB in all; pass large data in a file"
            " (synced with the project) or on stdin",
        )
    return WbError(f"{host}: the agent could not run job {job_id} (exit {status}): {said}")
