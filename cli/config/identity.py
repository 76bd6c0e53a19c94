"""One string that changes whenever the effective config could: the file (path, mtime, size, ctime and inode:
a `cp -p` over it keeps mtime and size but not ctime), every `WB_*`
variable that sets a key, and, without a file (config from the environment alone, as `wb sandbox env`
gives), the folder the command runs in. Local caches of "where this project ran last" are keyed by it.
Computed before the config is read, so it costs a stat, not a parse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .env import ENV_KEYS

if TYPE_CHECKING:
    from .model import LoadedConfig


def config_identity(config_path: Path | None, environ: Mapping[str, str], cwd: Path) -> str | None:
    """`<where>|<version>`: where is the file's path, or `env:<cwd>`; None when there is no config at all (no
    file, no WB_KIND). Caches keep one entry per `<where>`."""
    variables = ";".join(f"{name}={environ[name]}" for name in sorted(ENV_KEYS) if environ.get(name))
    if config_path is not None:
        stat = config_path.stat()
        return f"{config_path}|{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ctime_ns}:{stat.st_ino};{variables}"
    if environ.get("WB_KIND"):
        return f"env:{cwd}|{variables}"
    return None


def same_config(identity: str) -> str:
    """The prefix every identity of the same config file (or folder) starts with, whatever its version."""
    return identity.split("|", 1)[0] + "|"


def identity_of(loaded: LoadedConfig) -> str | None:
    """The identity of a loaded config, as this command sees it (its environment and folder)."""
    try:
        return config_identity(loaded.path, os.environ, Path.cwd())
    except OSError:
        return None
