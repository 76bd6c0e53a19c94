"""Path safety for everything that writes or deletes under a sync root.

Paths on the wire are relative, `/`-separated and normalized. A path is refused when it is empty,
absolute, holds a NUL, or has an empty, `.` or `..` segment. Writing or deleting never goes through a
symlinked directory: every parent of a target must be a real directory below the root, so a link that
points outside (synced as a link, or made by a job) can never be used to escape.

Not hardened against another process swapping directories for links *while* a sync runs.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import stat


class UnsafePath(ValueError):
    """A path that would land outside the root, or go through a link or a file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def check_relpath(path: str) -> str:
    """`path` itself, or UnsafePath. String tests only (this runs once per path of every sync)."""
    if not path:
        raise UnsafePath(path, "empty path")
    if path[0] == "/":
        raise UnsafePath(path, "absolute path")
    if "\x00" in path:
        raise UnsafePath(path, "NUL in path")
    wrapped = f"/{path}/"
    for bad in ("//", "/./", "/../"):
        if bad in wrapped:
            raise UnsafePath(path, f"path segment {bad.strip('/')!r} is not allowed")
    return path


def parent_of(path: str) -> str:
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else ""


class SafeDirs:
    """The directories below one root, each checked once to be a real directory (never a symlink)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._prefix = root.rstrip("/") + "/"
        self._real: set[str] = set()

    def abspath(self, path: str) -> str:
        return self._prefix + path if path else self.root

    def _lstat_dir(self, path: str, target: str) -> bool:
        """True when `path` is a real directory, False when absent; raises when it is anything else."""
        try:
            st = os.lstat(self.abspath(path))
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return True
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(target, f"parent {path!r} is a symlink; refusing to go through it")
        raise UnsafePath(target, f"parent {path!r} is not a directory")

    def _root_exists(self, create: bool) -> bool:
        if "" not in self._real:
            if create:
                os.makedirs(self.root, exist_ok=True)
            elif not os.path.isdir(self.root):
                return False
            self._real.add("")
        return True

    def parent_exists(self, path: str) -> bool:
        """For reading: True when every parent of `path` is a real directory; False when one is missing."""
        parent = parent_of(path)
        if parent in self._real:
            return True
        if not self._root_exists(create=False):
            return False
        parts = parent.split("/") if parent else []
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self._real:
                continue
            if not self._lstat_dir(prefix, path):
                return False
            self._real.add(prefix)
        return True

    def ensure_parent(self, path: str) -> None:
        """For writing: create the missing parents of `path`; raise UnsafePath on a link or a file."""
        parent = parent_of(path)
        if parent in self._real:
            return
        self._root_exists(create=True)
        parts = parent.split("/") if parent else []
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self._real:
                continue
            if not self._lstat_dir(prefix, path):
                try:
                    os.mkdir(self.abspath(prefix))
                except FileExistsError:
                    if not self._lstat_dir(prefix, path):
                        raise
            self._real.add(prefix)

    def forget(self, directory: str) -> None:
        self._real.discard(directory)
