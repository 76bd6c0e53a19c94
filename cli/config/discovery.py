"""Finding the config file: cheap (no pydantic), so it can run before anything heavy is imported."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

FILE_NAME = ".weatherballoon.json"


def find_config_file(cwd: Path, environ: Mapping[str, str]) -> Path | None:
    """WB_CONFIG's file, else the nearest `.weatherballoon.json` from `cwd` up. A name that is there but is not
    a usable file (a folder, a dangling link, a FIFO) stops the search with an error that says what it is:
    silently reading a parent folder's config instead would run with settings the user did not mean."""
    explicit = environ.get("WB_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        problem = _not_a_file(path)
        if problem:
            raise ConfigError(
                f"WB_CONFIG points at {path}, which {problem}",
                hint="fix or unset WB_CONFIG, or create the file with: wb init",
            )
        return path.resolve()
    for folder in (cwd, *cwd.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):
            raise ConfigError(
                f"{candidate} {_not_a_file(candidate) or 'cannot be read'}",
                hint=f"replace it with a config file (wb init writes one), or remove it to use a {FILE_NAME} above",
            )
    return None


def _not_a_file(path: Path) -> str | None:
    """Why `path` is not a readable regular file, or None when it is one."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a link to {os.readlink(path)}, which does not exist"
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a config file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    return None
