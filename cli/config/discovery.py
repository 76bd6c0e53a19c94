"""Finding the config file: cheap (no pydantic), so it can run before anything heavy is imported."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

FILE_NAME = ".weatherballoon.json"


def find_config_file(cwd: Path, environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get("WB_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"WB_CONFIG points at {path}, which is not a file",
                hint="fix or unset WB_CONFIG, or create the file with: wb init",
            )
        return path.resolve()
    for folder in (cwd, *cwd.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
    return None
