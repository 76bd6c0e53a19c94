"""One keeper per machine connection: each keeper holds `<key>.lock` (in the keepers' folder) locked for its
whole life, from before it connects until after it has removed its socket.

The lock is the operating system's (flock on POSIX, a byte-range lock on Windows), so it goes with its
process: a keeper killed with -9 leaves no stale lock behind, only the empty file, which the next keeper
locks again. The file is never removed: a keeper that removed it could let a racing starter lock a file
that no longer has a name while a third locks the new one, and both would keep.

Commands that race to a machine with no keeper each start one only while nobody holds the lock (`held`);
of keepers started in the same instant, the first to lock keeps and the others exit before connecting.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

SUFFIX = ".lock"


def lock_path(key: str, folder: Path) -> Path:
    return folder / f"{key}{SUFFIX}"


def take(path: Path) -> int | None:
    """The descriptor that holds the lock on `path` until it is closed (or its process ends); None when
    another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def held(path: Path) -> bool:
    """Whether a keeper (or one just starting) holds the lock on `path` now."""
    try:
        fd = take(path)
    except OSError:  # cannot even open it: say held, and start nothing
        return True
    if fd is None:
        return True
    release(fd)
    return False


def release(fd: int) -> None:
    """Unlock and close: on Windows a lock left to the close may be lifted only some time later, and a keeper
    started right after a probe (`held`) must find it free."""
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    with contextlib.suppress(OSError):
        os.close(fd)
