"""Which paths a sync uploads (DESIGN §7).

In a git work tree: exactly `git ls-files -z --cached --others --exclude-standard`, run once in the
local root, so nested `.gitignore` files, `.git/info/exclude` and the global excludes file
(`core.excludesFile`) all apply as git applies them. A directory in that output is a submodule or an
untracked nested repository: its own `git ls-files` lists its files (an uninitialized submodule is
empty). Outside git: `ignore_walk`. Either way, `sync.fileExcludes` (gitignore patterns) then apply,
and no path inside a `.git` directory is ever listed.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ..errors import SyncError
from .ignore_walk import walk_honoring_gitignore

GIT_LIST = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
MAX_NESTING = 8
_S_IFMT = 0o170000


def _git_ls_files(directory: Path) -> list[str] | None:
    """The raw listing, or None when `directory` is not inside a git work tree (or git is missing)."""
    try:
        done = subprocess.run(
            ["git", "-C", os.fspath(directory), *GIT_LIST],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        if "not a git repository" in message:
            return None
        raise SyncError(
            f"git ls-files failed in {directory}: {message or f'exit {done.returncode}'}",
            hint="fix the repository (try: git status), or set sync.adirLocal to another folder",
        )
    return [path for path in os.fsdecode(done.stdout).split("\0") if path]


def _stat_listing(directory: Path, listing: list[str], depth: int) -> list[tuple[str, os.stat_result]]:
    """lstat each listed path; skip the vanished; replace directories (submodules, nested repositories)
    with the files they hold, listed by their own git. The hot loop of a no-op sync: kept lean."""
    found: list[tuple[str, os.stat_result]] = []
    append = found.append
    prefix = os.fspath(directory) + "/"
    lstat = os.lstat
    for raw in listing:
        path = raw.rstrip("/")
        try:
            st = lstat(prefix + path)
        except OSError:
            continue  # listed by git (in the index) but deleted from the working tree
        kind = st.st_mode & _S_IFMT
        if kind == stat.S_IFREG or kind == stat.S_IFLNK:
            append((path, st))
        elif kind == stat.S_IFDIR and depth < MAX_NESTING and (directory / path / ".git").exists():
            inner_root = directory / path
            inner = _git_ls_files(inner_root)
            if inner is None:
                inner = walk_honoring_gitignore(inner_root)
            found.extend(
                (f"{path}/{child}", child_st) for child, child_st in _stat_listing(inner_root, inner, depth + 1)
            )
        # else: an uninitialized submodule (empty directory), or a fifo or socket: nothing to send
    return found


def _never_git(path: str) -> bool:
    return ".git" not in path or ".git" not in path.split("/")


def list_upload_set(
    root: Path, excludes: Sequence[str] = ()
) -> tuple[list[tuple[str, os.stat_result]], Literal["git", "walk"]]:
    """((relative path, lstat) sorted by path, "git" or "walk") for every file and symlink to upload."""
    listing = _git_ls_files(root)
    source: Literal["git", "walk"] = "git"
    if listing is None:
        source = "walk"
        listing = walk_honoring_gitignore(root)
    found = _stat_listing(root, listing, 0)
    unique = {path: st for path, st in found if ".git" not in path or _never_git(path)}
    patterns = [pattern for pattern in excludes if pattern.strip()]
    if patterns:
        from pathspec import GitIgnoreSpec  # imports asyncio (~25 ms): only when there are patterns

        spec = GitIgnoreSpec.from_lines(patterns)
        unique = {path: st for path, st in unique.items() if not spec.match_file(path)}
    return sorted(unique.items()), source
