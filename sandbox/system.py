"""Running the machine's own tools (ip, useradd, ssh-keygen) and looking at processes, with errors that say
which command failed and what it printed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .errors import SandboxError

POLL_S = 0.05
KILL_S = 5.0  # how long SIGKILL is repeated for processes that keep appearing


def run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 30.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout, input=input)
    except FileNotFoundError:
        raise SandboxError(f"{argv[0]} is not installed", hint=f"install the package that provides {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise SandboxError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise SandboxError(f"`{' '.join(argv)}` failed: {detail}")
    return result


def tool(name: str) -> str:
    """The absolute path of a system tool (sbin included: sudo and cron often drop it from PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise SandboxError(f"{name} is not installed", hint=f"install the package that provides {name}")
    return found


def pid_alive(pid: int | None) -> bool:
    """Whether the process runs (a zombie does not: it only waits for its parent to read its status)."""
    from weatherballoon.remote.procinfo import is_alive

    return pid is not None and pid > 0 and is_alive(pid, None)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_process(pid: int | None, *, grace_s: float = 5.0, marker: str | None = None) -> None:
    """SIGTERM, then SIGKILL after `grace_s`. With `marker`, only a process whose command line holds it (a pid
    recorded by a crashed daemon may belong to someone else by now)."""
    if not pid_alive(pid) or pid is None:
        return
    if marker is not None and marker not in cmdline(pid):
        return
    stop_processes(lambda: [pid] if pid_alive(pid) else [], grace_s=grace_s)


def stop_processes(
    find: Callable[[], Iterable[int]], *, grace_s: float, kill_s: float = KILL_S, poll_s: float = POLL_S
) -> list[int]:
    """Stop what `find` lists, as a machine shuts down: SIGTERM, up to `grace_s` for it to exit, then SIGKILL
    to whatever `find` still lists, again and again until it lists nothing (a fork may race a pass) or
    `kill_s` more have passed. A process that appears during the grace gets its SIGTERM too. Returns what
    was still listed at the end (nothing, normally)."""
    termed: set[int] = set()
    deadline = time.monotonic() + grace_s
    while True:
        pids = list(find())
        if not pids:
            return []
        for pid in pids:
            if pid not in termed:
                termed.add(pid)
                _signal(pid, signal.SIGTERM)
        if time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    deadline = time.monotonic() + kill_s
    while True:
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        time.sleep(poll_s)
        pids = list(find())
        if not pids or time.monotonic() >= deadline:
            return pids


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
