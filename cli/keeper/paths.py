"""Where keepers listen: a 0700 folder of the user's own, one 0600 socket per machine connection.

The folder is the runtime dir (`$XDG_RUNTIME_DIR`, which the OS makes private and clears at logout), else a
`wb-<uid>` folder in the temp dir; on Windows `%LOCALAPPDATA%/weatherballoon`; `WB_RUNTIME_DIR` overrides
all. A folder that exists but is not the user's own, or is open to others, is refused: another user could
otherwise plant a socket there. Socket paths stay short (Unix socket paths are limited to about 100 bytes),
so the name is a digest of the target and the connect options. Where the transport is loopback TCP
(loopback.py), the file in the folder names the port and holds the secret instead of being the socket.
"""

from __future__ import annotations

import os
import stat
import sys

from ..errors import ConfigError

TYPE_CHECKING = False  # typing is not imported at run time: a warm command's process imports this
if TYPE_CHECKING:
    from pathlib import Path

SUFFIX = ".sock"


class KeeperDirError(ConfigError):
    """The keepers' folder is unsafe or unusable."""


def keeper_dir(*, create: bool = True) -> Path:
    from pathlib import Path

    return Path(keeper_dir_name(create=create))


def keeper_dir_name(*, create: bool = True) -> str:
    """`keeper_dir` as text: what a warm command's process uses (it imports as little as it can: no pathlib)."""
    override = os.environ.get("WB_RUNTIME_DIR")
    if override:
        base = override
    elif sys.platform == "win32":  # private to the user by its default ACL
        local = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        base = os.path.join(local, "weatherballoon")
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = os.path.join(os.environ["XDG_RUNTIME_DIR"], "weatherballoon")
    else:
        import tempfile

        base = os.path.join(tempfile.gettempdir(), f"wb-{os.getuid()}")
    path = os.path.join(base, "keepers")
    if create:
        for folder in (base, path):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise KeeperDirError(
                    f"cannot create the keepers' folder {folder}: {exc.strerror or exc}",
                    hint="set WB_RUNTIME_DIR to a private folder, or keepConnectionMinutes to 0",
                ) from None
    check_private(path)
    return path


def check_private(folder: Path | str) -> None:
    """Refuse a folder not owned by this user, or that group or others may enter. (Windows has no owner uid
    or mode bits here: its folder is under the user's own %LOCALAPPDATA%, whose ACL keeps others out.)"""
    if sys.platform == "win32":
        return
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise KeeperDirError(f"cannot read the keepers' folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise KeeperDirError(
            f"the keepers' folder {folder} is not private to you (owner uid {info.st_uid}, mode"
            f" {stat.S_IMODE(info.st_mode):o})",
            hint="remove it (another user may have made it), or set WB_RUNTIME_DIR to a folder of your own",
        )


def keeper_key(target: dict[str, object], options: dict[str, object]) -> str:
    """One keeper per (target, connect options): the digest the socket is named after."""
    import hashlib
    import json

    text = json.dumps({"target": target, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def socket_path(key: str, folder: Path | None = None) -> Path:
    """Where the keeper for `key` is found: its Unix socket, or the file naming its loopback port and secret
    (loopback.py) where the transport is TCP."""
    from .loopback import SUFFIX as TCP_SUFFIX
    from .wire import transport

    return (folder or keeper_dir()) / f"{key}{TCP_SUFFIX if transport() == 'tcp' else SUFFIX}"
