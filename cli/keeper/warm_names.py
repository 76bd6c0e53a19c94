"""Where the warm client listens (fork_server.py), and who may use it: shared by it and the command side."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

WARM_SUFFIX = ".warm"  # not a keeper's `.sock`: `running_keepers` never mistakes it for one
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the installed `weatherballoon` package


def install_digest() -> str:
    """One warm client per Python environment and installed wb: another venv's commands never reach this one."""
    text = f"{sys.prefix}\0{PACKAGE_ROOT}\0{sys.version}".encode()  # the environment, whichever name started it
    # Two checksums, not hashlib: a warm command's process imports as little as it can (OpenSSL's is not free).
    return f"{zlib.crc32(text):08x}{zlib.adler32(text[::-1]):08x}"


def warm_socket_path(*, create: bool = True) -> Path | None:
    """`<digest>.warm` in the keepers' private folder; None when that folder is unusable."""
    from .paths import KeeperDirError, keeper_dir

    try:
        return keeper_dir(create=create) / f"{install_digest()}{WARM_SUFFIX}"
    except KeeperDirError:
        return None
