"""`list` and `status`: one summary object per job, from its records and a liveness check."""

from __future__ import annotations

import os

from .. import procinfo
from .follow import is_starting
from .state import summary
from .store import JobIdError, JobPaths, jobs_dir, read_json


def describe(paths: JobPaths) -> dict:
    meta = read_json(paths.meta)
    status = read_json(paths.status) if paths.has_ended() else None
    if status is not None:
        running = False
    elif meta is None:
        running = is_starting(paths)
    else:
        running = procinfo.job_is_live(meta)
    return summary(paths.id, meta, status, running, read_json(paths.push))


def all_jobs(root: str | None = None) -> list:
    """Every job with a meta.json, newest first."""
    root = jobs_dir() if root is None else root
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    jobs = []
    for entry in entries:
        try:
            paths = JobPaths(entry.name, root)
        except JobIdError:
            continue  # not a job: someone else's file in our dir
        if entry.is_dir() and os.path.exists(paths.meta):
            jobs.append(describe(paths))
    jobs.sort(key=lambda job: (job["started_at"] or 0, job["id"]), reverse=True)
    return jobs
