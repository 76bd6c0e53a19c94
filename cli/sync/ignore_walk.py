"""The upload set outside a git repository: a walk that honors every `.gitignore` it finds.

Rules follow git's: a `.gitignore` applies to its own directory and below, with patterns relative to
that directory; a deeper file overrides a shallower one, and within a file the last matching pattern
wins (so `!keep.log` re-includes). An ignored directory is not entered, so nothing under it can be
re-included, as in git. `.git` is never entered. Symlinks are listed, never followed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec  # imported when walking: it pulls in asyncio (~25 ms)

Rule = tuple[str, "GitIgnoreSpec"]  # (directory the .gitignore lives in, its patterns)


def _load_gitignore(path: str) -> GitIgnoreSpec | None:
    from pathspec import GitIgnoreSpec

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return GitIgnoreSpec.from_lines(lines)


def is_ignored(rules: list[Rule], path: str, is_dir: bool) -> bool:
    for base, spec in reversed(rules):
        relative = path[len(base) + 1 :] if base else path
        result = spec.check_file(relative + "/" if is_dir else relative)
        if result.include is not None:
            return bool(result.include)
    return False


def walk_honoring_gitignore(root: Path) -> list[str]:
    """Relative paths of the files and symlinks under `root` that no `.gitignore` excludes."""
    found: list[str] = []
    pending: list[tuple[str, list[Rule]]] = [("", [])]
    top = os.fspath(root)
    while pending:
        directory, inherited = pending.pop()
        absolute = os.path.join(top, directory) if directory else top
        try:
            with os.scandir(absolute) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        rules = inherited
        if any(entry.name == ".gitignore" for entry in entries):
            spec = _load_gitignore(os.path.join(absolute, ".gitignore"))
            if spec is not None:
                rules = [*inherited, (directory, spec)]
        for entry in entries:
            if entry.name == ".git":
                continue
            path = f"{directory}/{entry.name}" if directory else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_ignored(rules, path, is_dir):
                continue
            if is_dir:
                pending.append((path, rules))
            else:
                found.append(path)
    found.sort()
    return found
