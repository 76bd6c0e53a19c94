"""The remote record of what sync put under a root: the only files a later sync may delete.

One file per root, `<state>/sync/<sha256 of the root's real path>.paths`, where `<state>` is
`$WB_AGENT_HOME` or `~/.weatherballoon`: NUL-separated, a version tag, the root, then the paths, sorted.

    wb-sync-record 2 \\0 /home/u/wb/proj \\0 a.py \\0 data/x.csv ...

Not JSON: it is read at the start of every sync, and `json` alone would cost the agent more than reading
and parsing the record (see `sync_codec`). A record from an older agent (`<sha>.json`,
`{"version": 1, "root": ..., "paths": [...]}`) is still read when no `.paths` record exists; the next
save replaces it.

It is rewritten atomically (temp file, then rename) at the end of every `sync-apply`, also after a
failed one, so it always lists what is on disk by sync's hand. `sync-apply` holds an exclusive
`flock` on `<sha>.lock` so two syncs to one root take turns. Job-created files are never in it.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os

RECORD_VERSION = 2
_MAGIC = "wb-sync-record 2"


def _sha256_hex(data: bytes) -> str:
    """hashlib's sha256 without importing hashlib (which loads OpenSSL: ~3 ms of every agent start)."""
    try:
        from _sha2 import sha256  # python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # python < 3.12
        except ImportError:
            from hashlib import sha256  # a python built without them
    return sha256(data).hexdigest()


def resolve_root(root: str) -> str:
    """The absolute, symlink-free path of a remote root; `~` and relative paths start at $HOME."""
    expanded = os.path.expanduser(root)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.expanduser("~"), expanded)
    return os.path.realpath(expanded)


def state_home() -> str:
    return os.environ.get("WB_AGENT_HOME") or os.path.join(os.path.expanduser("~"), ".weatherballoon")


def _record_base(root: str) -> str:
    return os.path.join(state_home(), "sync", _sha256_hex(os.fsencode(root)))


def record_path(root: str) -> str:
    return _record_base(root) + ".paths"


def legacy_record_path(root: str) -> str:
    """Where agents before record version 2 kept the record (JSON)."""
    return _record_base(root) + ".json"


def load_record(root: str) -> set[str] | None:
    """The synced paths under `root`, or None when no sync has recorded any."""
    try:
        with open(record_path(root), "rb") as handle:
            items = handle.read().decode("utf-8", "surrogateescape").split("\0")
    except FileNotFoundError:
        return _load_legacy(root)
    if len(items) < 2 or items[0] != _MAGIC or items[1] != root:
        return None  # damaged or foreign: forget it; nothing is deleted until a sync rewrites it
    return set(items[2:])


def _load_legacy(root: str) -> set[str] | None:
    try:
        with open(legacy_record_path(root), "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    import json

    try:
        data = json.loads(raw.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None  # a damaged record: forget it; nothing is deleted until a sync rewrites it
    if not isinstance(data, dict) or data.get("root") != root:
        return None
    return set(data.get("paths") or ())


def save_record(root: str, paths: set[str]) -> None:
    path = record_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = "\0".join([_MAGIC, root, *sorted(paths)])
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as handle:
        handle.write(body.encode("utf-8", "surrogateescape"))
    os.replace(temp, path)
    try:  # noqa: SIM105 (contextlib would be the agent's only reason to import collections and functools)
        os.unlink(legacy_record_path(root))
    except FileNotFoundError:
        pass


class RecordLock:
    """An exclusive lock on a root's record for the length of one `sync-apply`."""

    def __init__(self, root: str) -> None:
        self.path = _record_base(root) + ".lock"
        self._fd = -1

    def __enter__(self) -> RecordLock:
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
