"""Signal names as users type them, and delivery to a job's process group after an identity check."""

from __future__ import annotations

import os
import time

from weatherballoon.remote.lean_stdlib import sig

from .. import procinfo


class UnknownSignal(ValueError):
    pass


def parse_signal(name: str) -> int:
    """INT, SIGINT, int or 2 -> 2."""
    text = name.strip().upper()
    if text.isdigit():
        number = int(text)
        if 1 <= number < sig.NSIG:
            return number
        raise UnknownSignal(f"unknown signal {name!r}")
    if text.startswith("SIG"):
        text = text[3:]
    # isalnum() keeps out SIG_IGN, SIG_DFL, SIG_BLOCK and friends, which are not signals.
    found = getattr(sig, "SIG" + text, None) if text.isalnum() else None
    if not isinstance(found, int) or not 1 <= found < sig.NSIG:
        raise UnknownSignal(f"unknown signal {name!r} (try INT, TERM, KILL, HUP, USR1)")
    return found


def send_to_job(meta: dict, signo: int) -> bool:
    """Signal the job's process group if its leader is still the process we started; False if not."""
    pid = meta.get("pid")
    if not pid or not procinfo.is_alive(pid, meta.get("proc_start")):
        return False
    if meta.get("boot_id") not in (None, procinfo.boot_id()):
        return False  # the machine rebooted: this pid is someone else's
    try:
        os.killpg(int(meta.get("pgid") or pid), signo)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_leftovers(meta: dict, grace_s: float) -> bool:
    """After a signal the group may ignore (SIGPIPE: Python does, as does any process started by a shell
    that died of it), wait up to `grace_s` for the whole group to go, then SIGTERM what is left. True if
    anything was left. The group id cannot be reused while any member of the group lives."""
    pgid = int(meta.get("pgid") or meta.get("pid") or 0)
    if not pgid:
        return False
    deadline = time.monotonic() + grace_s
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            try:
                os.killpg(pgid, sig.SIGTERM)
            except ProcessLookupError:
                return False
            return True
        time.sleep(0.05)
    return False
