"""Where a job's files live and how they are written and read (layout: see `jobs.commands`).

Imported on the hot path of every `run`, so it pulls in nothing beyond `os` and `lean_stdlib`.
"""

from __future__ import annotations

import os

from weatherballoon.remote.lean_stdlib import json_quote as _quote

JOB_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
JOB_ID_MAX_LEN = 64


class JobIdError(ValueError):
    """A job id that could name a path outside the jobs dir, or is empty or too long."""


def validate_job_id(job_id: str) -> str:
    if not 1 <= len(job_id) <= JOB_ID_MAX_LEN or not set(job_id) <= JOB_ID_CHARS or job_id in (".", ".."):
        raise JobIdError(f"invalid job id {job_id!r}: use 1 to {JOB_ID_MAX_LEN} of [A-Za-z0-9._-]")
    return job_id


def state_dir(environ: dict | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("WB_AGENT_HOME") or os.path.join(os.path.expanduser("~"), ".weatherballoon")


def jobs_dir(environ: dict | None = None) -> str:
    return os.path.join(state_dir(environ), "jobs")


class JobPaths:
    """The files of one job under `<state>/jobs/<id>/`."""

    __slots__ = ("dir", "id", "meta", "push", "status", "stderr", "stdin", "stdout")

    def __init__(self, job_id: str, root: str | None = None) -> None:
        self.id = validate_job_id(job_id)
        self.dir = os.path.join(jobs_dir() if root is None else root, job_id)
        self.meta = os.path.join(self.dir, "meta.json")
        self.status = os.path.join(self.dir, "status.json")
        self.stdout = os.path.join(self.dir, "stdout")
        self.stderr = os.path.join(self.dir, "stderr")
        self.stdin = os.path.join(self.dir, "stdin")
        self.push = os.path.join(self.dir, "push.json")  # the agent's last push of its outputs (aws)

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def has_ended(self) -> bool:
        return os.path.exists(self.status)


def make_jobs_dir(root: str) -> None:
    # 0700: job output and command lines are the owner's business only.
    os.makedirs(root, mode=0o700, exist_ok=True)


def dumps(value: object) -> str:
    """JSON for the closed set of types our records hold (str, int, float, bool, None, list, dict)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_quote(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    raise TypeError(f"cannot encode {value!r} as JSON")


def write_json_atomic(path: str, record: dict) -> None:
    """Readers see the old file or the whole new one, never a torn write."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (dumps(record) + "\n").encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: str) -> dict | None:
    """The record at `path`, or None when it is missing or unreadable (a crash before the rename)."""
    import json

    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
