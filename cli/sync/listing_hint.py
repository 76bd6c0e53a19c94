"""The last upload-set listing of a root, kept so the next scan can lstat while `git ls-files` still runs.

A no-op sync of a large tree spends its time in two steps that used to run one after the other: git listing
the files (a process of its own) and an lstat of each (here). With the previous listing at hand, the lstats
start at once, beside git; when git answers, its listing decides what is uploaded, a path it lists that the
hint did not is stat'ed then, and a hinted path it no longer lists is ignored. A hint is only ever a guess:
a missing, stale or unreadable one costs the overlap, never correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

MAX_HINT_BYTES = 64 << 20


def _hint_path(root: Path) -> Path | None:
    from ..paths import private_dir

    try:
        folder = private_dir("listing-hints")
    except Exception:  # an unusable data dir: no hint, the scan is as it always was
        return None
    return folder / hashlib.sha256(os.fsencode(root)).hexdigest()[:32]


def read_hint(root: Path) -> list[str]:
    path = _hint_path(root)
    if path is None:
        return []
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_HINT_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_HINT_BYTES:
        return []
    return [item for item in os.fsdecode(data).split("\0") if item]


def save_hint(root: Path, listing: list[str], previous: list[str]) -> None:
    if listing == previous:
        return
    path = _hint_path(root)
    if path is None:
        return
    body = os.fsencode("\0".join(listing))
    if len(body) > MAX_HINT_BYTES:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(OSError):
        temporary.write_bytes(body)
        os.replace(temporary, path)


def prestat(root: Path, hint: list[str]) -> dict[str, os.stat_result]:
    """lstat every hinted path (what fails is left out): run while git lists the tree."""
    found: dict[str, os.stat_result] = {}
    prefix = os.fspath(root) + "/"
    lstat = os.lstat
    for raw in hint:
        with contextlib.suppress(OSError):
            found[raw] = lstat(prefix + raw.rstrip("/"))
    return found
