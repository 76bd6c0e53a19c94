"""The remote record of what sync put under a root: the only files a later sync may delete.

One JSON file per root, `<state>/sync/<sha256 of the root's real path>.json`, where `<state>` is
`$WB_AGENT_HOME` or `~/.weatherballoon`:

    {"version": 1, "root": "/home/u/wb/proj", "paths": ["a.py", "data/x.csv", ...]}

It is rewritten atomically (temp file, then rename) at the end of every `sync-apply`, also after a
failed one, so it always lists what is on disk by sync's hand. `sync-apply` holds an exclusive
`flock` on `<sha>.lock` so two syncs to one root take turns. Job-created files are never in it.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os

RECORD_VERSION = 1


def resolve_root(root: str) -> str:
    """The absolute, symlink-free path of a remote root; `~` and relative paths start at $HOME."""
    expanded = os.path.expanduser(root)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.expanduser("~"), expanded)
    return os.path.realpath(expanded)


def state_home() -> str:
    return os.environ.get("WB_AGENT_HOME") or os.path.join(os.path.expanduser("~"), ".weatherballoon")


def record_path(root: str) -> str:
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()
    return os.path.join(state_home(), "sync", digest + ".json")


def load_record(root: str) -> set[str] | None:
    """The synced paths under `root`, or None when no sync has recorded any."""
    try:
        with open(record_path(root), "rb") as handle:
            data = json.loads(handle.read().decode("utf-8", "surrogateescape"))
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a damaged record: forget it; nothing is deleted until a sync rewrites it
    if not isinstance(data, dict) or data.get("root") != root:
        return None
    return set(data.get("paths") or ())


def save_record(root: str, paths: set[str]) -> None:
    path = record_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = json.dumps({"version": RECORD_VERSION, "root": root, "paths": sorted(paths)}, separators=(",", ":"))
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as handle:
        handle.write(body.encode("utf-8", "surrogateescape"))
    os.replace(temp, path)


class RecordLock:
    """An exclusive lock on a root's record for the length of one `sync-apply`."""

    def __init__(self, root: str) -> None:
        self.path = record_path(root)[: -len(".json")] + ".lock"
        self._fd = -1

    def __enter__(self) -> RecordLock:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
