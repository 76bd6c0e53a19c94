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
    return _git_listing(directory, _start_git(directory))


def _start_git(directory: Path) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            ["git", "-C", os.fspath(directory), *GIT_LIST],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        return None


def _git_listing(directory: Path, proc: subprocess.Popen[bytes] | None) -> list[str] | None:
    if proc is None:
        return None
    out, err = proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip()
        if "not a git repository" in message:
            return None
        raise SyncError(
            f"git ls-files failed in {directory}: {message or f'exit {proc.returncode}'}",
            hint="fix the repository (try: git status), or set sync.adirLocal to another folder",
        )
    return [path for path in os.fsdecode(out).split("\0") if path]


def _stat_listing(
    directory: Path, listing: list[str], depth: int, known: dict[str, os.stat_result] | None = None
) -> list[tuple[str, os.stat_result]]:
    """lstat each listed path (`known`: taken a moment ago, listing_hint.py); skip the vanished; replace
    directories (submodules, nested repositories) with the files they hold, listed by their own git. The hot
    loop of a no-op sync: kept lean."""
    found: list[tuple[str, os.stat_result]] = []
    append = found.append
    prefix = os.fspath(directory) + "/"
    lstat = os.lstat
    taken = known or {}
    for raw in listing:
        path = raw.rstrip("/")
        st = taken.get(raw)
        if st is None:
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
    from .listing_hint import prestat, read_hint, save_hint

    proc = _start_git(root)
    hint = read_hint(root) if proc is not None else []
    known = prestat(root, hint)  # while git lists
    listing = _git_listing(root, proc)
    source: Literal["git", "walk"] = "git"
    if listing is None:
        source = "walk"
        listing = walk_honoring_gitignore(root)
        known = {}
    else:
        save_hint(root, listing, hint)
    found = _stat_listing(root, listing, 0, known)
    unique = {path: st for path, st in found if ".git" not in path or _never_git(path)}
    patterns = [pattern for pattern in excludes if pattern.strip()]
    if patterns:
        from pathspec import GitIgnoreSpec  # imports asyncio (~25 ms): only when there are patterns

        spec = GitIgnoreSpec.from_lines(patterns)
        unique = {path: st for path, st in unique.items() if not spec.match_file(path)}
    return sorted(unique.items()), source
