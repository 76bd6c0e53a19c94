"""Compare trees the way the sync contract promises: same paths, kinds, content, modes, mtimes, targets."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def snapshot(root: Path, *, skip: tuple[str, ...] = (".git",), times: bool = True) -> dict[str, tuple]:
    """path -> ("f", bytes, mode, mtime_ns) or ("l", target); directories are implied."""
    found: dict[str, tuple] = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        for entry in os.scandir(root / folder if folder else root):
            rel = f"{folder}/{entry.name}" if folder else entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("l", os.readlink(entry.path))
            elif stat.S_ISDIR(st.st_mode):
                if entry.name not in skip:
                    pending.append(rel)
            else:
                found[rel] = (
                    "f",
                    Path(entry.path).read_bytes(),
                    stat.S_IMODE(st.st_mode),
                    st.st_mtime_ns if times else 0,
                )
    return found


def write(root: Path, path: str, content: str | bytes = "x\n", mode: int | None = None) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    if mode is not None:
        os.chmod(target, mode)
    return target
