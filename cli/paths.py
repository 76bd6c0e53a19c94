"""Where wb keeps its local state: the user's data dir (XDG), never the project folder."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


class DataDirError(ConfigError):
    """wb's data folder cannot be created or written (exit 2: WB_DATA_DIR or HOME needs fixing)."""


def data_dir() -> Path:
    from_env = os.environ.get("WB_DATA_DIR")
    base = from_env or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "weatherballoon"
    )
    return _usable(Path(base), "WB_DATA_DIR" if from_env else None)


def private_dir(*parts: str) -> Path:
    """A 0700 folder under the data dir (keys, job index)."""
    return _usable(data_dir().joinpath(*parts), None)


def _usable(path: Path, variable: str | None) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(path, exc.strerror or str(exc), variable) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise _error(path, "not writable", variable)
    return path


def _error(path: Path, why: str, variable: str | None) -> DataDirError:
    source = f" (from {variable})" if variable else ""
    return DataDirError(
        f"cannot use wb's data folder {path}{source}: {why}",
        hint="set WB_DATA_DIR to a folder you can write; wb keeps its job index, keys and caches there",
    )
