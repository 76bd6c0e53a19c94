"""Process identity that survives pid reuse: a pid plus its start time in clock ticks since boot.

On Linux the start time is field 22 of /proc/<pid>/stat. Without /proc (not Linux) the start time is
None and liveness falls back to `kill(pid, 0)`, which cannot tell a reused pid from the original.
"""

from __future__ import annotations

import os

_STARTTIME_FIELD = 22
# Fields after "pid (comm)" start at field 3, the state letter.
_FIRST_FIELD_AFTER_COMM = 3


def _stat_fields(pid: int) -> list | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses; it ends at the last ')'.
    return data[data.rfind(b")") + 2 :].split()


def proc_start(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[_STARTTIME_FIELD - _FIRST_FIELD_AFTER_COMM])


def is_alive(pid: int | None, start: int | None) -> bool:
    """True while the process that had `start` at `pid` still runs (zombies count as ended)."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    if fields is None:
        if os.path.isdir("/proc/self"):
            return False
        return _signal_zero(pid)
    if fields[0] == b"Z":
        return False
    return start is None or int(fields[_STARTTIME_FIELD - _FIRST_FIELD_AFTER_COMM]) == start


def _signal_zero(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def boot_id() -> str | None:
    """This boot's random id: start times count from boot, so after a reboot they prove nothing."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


def job_is_live(meta: dict) -> bool:
    """A job runs on while its process or its supervisor (about to record the end) is alive."""
    recorded_boot = meta.get("boot_id")
    if recorded_boot is not None and recorded_boot != boot_id():
        return False
    return is_alive(meta.get("pid"), meta.get("proc_start")) or is_alive(
        meta.get("supervisor_pid"), meta.get("supervisor_start")
    )
