"""The machine's /opt/wb, the one mount point every host's own /opt/wb is bound onto, shared by all sandboxes.

Several sandboxes may run on one machine at once (a test run starts some side by side). Each registers itself
before it relies on /opt/wb and unregisters when it goes down; the directory is removed by the last one out,
and only if a sandbox made it. The registry and its lock live under /run, so a reboot forgets sandboxes that
crashed without going down.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from .hostfs import OPT

REGISTRY = Path("/run/wb-sandbox/opt-users")
MADE_BY_A_SANDBOX = ".made-by-a-sandbox"  # present while /opt/wb is ours to remove


@contextlib.contextmanager
def _locked(registry: Path) -> Iterator[None]:
    registry.mkdir(parents=True, exist_ok=True)
    with open(registry.parent / "opt-users.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def claim(sandbox_id: str, opt: Path = Path(OPT), registry: Path = REGISTRY) -> None:
    """Register `sandbox_id` as a user of /opt/wb, making the directory if no one has."""
    with _locked(registry):
        if not opt.exists():
            opt.mkdir(mode=0o755, parents=True)
            (registry / MADE_BY_A_SANDBOX).touch()
        (registry / sandbox_id).touch()


def release(sandbox_id: str, opt: Path = Path(OPT), registry: Path = REGISTRY) -> bool:
    """Unregister `sandbox_id`; the last sandbox out removes /opt/wb if a sandbox made it. True if removed."""
    with _locked(registry):
        (registry / sandbox_id).unlink(missing_ok=True)
        if any(entry.name != MADE_BY_A_SANDBOX for entry in registry.iterdir()):
            return False
        made = registry / MADE_BY_A_SANDBOX
        if not made.exists() or not opt.is_dir() or opt.is_mount():
            return False
        try:
            opt.rmdir()
        except OSError:  # someone put files there: not ours to delete
            return False
        made.unlink()
        return True
