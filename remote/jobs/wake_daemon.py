"""Waking the daemon for an immediate pass (SIGUSR1), instead of at its next period.

A job's start and end are moments the control plane should hear about at once: the job's row (with its
caps) is written when the job starts, and the machine goes back to the warm pool when the last job ends.
The daemon writes `daemon.wake` ("<pid> <start time>") when it starts; the pid is signalled only while it
still belongs to that process (pids get reused). Without a daemon (the ssh provider) this does nothing.

Imported on the hot path of every `run`: os, lean_stdlib and procinfo only, no json.
"""

from __future__ import annotations

import os

from weatherballoon.remote.lean_stdlib import sig

from .. import procinfo
from .store import state_dir

WAKE_FILE = "daemon.wake"
WAKE_SIGNAL = sig.SIGUSR1


def wake_path(environ: dict | None = None) -> str:
    return os.path.join(state_dir(environ), WAKE_FILE)


def record(pid: int, path: str | None = None) -> None:
    """Called by the daemon once it holds its lock."""
    path = path or wake_path()
    tmp = f"{path}.{pid}.tmp"
    with open(tmp, "w") as handle:
        handle.write(f"{pid} {procinfo.proc_start(pid)}\n")
    os.replace(tmp, path)


def wake(path: str | None = None) -> bool:
    """Best effort: True when a live daemon was signalled."""
    try:
        with open(path or wake_path(), "rb") as handle:
            pid_text, start_text = handle.read().split()[:2]
        pid, start = int(pid_text), None if start_text == b"None" else int(start_text)
    except (OSError, ValueError):
        return False
    if not procinfo.is_alive(pid, start):
        return False
    try:
        os.kill(pid, WAKE_SIGNAL)
    except OSError:
        return False
    return True
