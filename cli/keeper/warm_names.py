"""Where the warm client listens (fork_server.py), and who may use it: shared by it and the command side."""

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # typing is not imported at run time: a warm command's process imports this
if TYPE_CHECKING:
    from pathlib import Path

WARM_SUFFIX = ".warm"  # not a keeper's `.sock`: `running_keepers` never mistakes it for one
# The installed `weatherballoon` package (text: a warm command's process does not import pathlib).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def install_digest() -> str:
    """One warm client per Python environment and installed wb: another venv's commands never reach this one."""
    text = f"{sys.prefix}\0{PACKAGE_ROOT}\0{sys.version}".encode()  # the environment, whichever name started it
    # Two checksums, not hashlib: a warm command's process imports as little as it can (OpenSSL's is not free).
    return f"{zlib.crc32(text):08x}{zlib.adler32(text[::-1]):08x}"


def warm_socket_path(*, create: bool = True) -> Path | None:
    """`<digest>.warm` in the keepers' private folder; None when that folder is unusable."""
    from pathlib import Path

    name = warm_socket_name(create=create)
    return None if name is None else Path(name)


def warm_socket_name(*, create: bool = True) -> str | None:
    """`warm_socket_path` as text, for the command's process (no pathlib there)."""
    from .paths import KeeperDirError, keeper_dir_name

    try:
        return os.path.join(keeper_dir_name(create=create), f"{install_digest()}{WARM_SUFFIX}")
    except KeeperDirError:
        return None
