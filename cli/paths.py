"""Where wb keeps its local state: the user's data dir (XDG), never the project folder."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    base = os.environ.get("WB_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "weatherballoon"
    )
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_dir(*parts: str) -> Path:
    """A 0700 folder under the data dir (keys, job index)."""
    path = data_dir().joinpath(*parts)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
