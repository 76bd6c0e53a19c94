"""The remote record of what sync put under a root: the only files a later sync may delete.

One file per root, `<state>/sync/<sha256 of the root's real path>.paths`, where `<state>` is
`$WB_AGENT_HOME` or `~/.weatherballoon`: NUL-separated, a version tag, the root, the project that owns the
root (its id, and a label naming it for people: `user@laptop:/path`), then the paths, sorted.

    wb-sync-record 3 \\0 /home/u/wb/proj \\0 3f2a...e1 \\0 ana@laptop:/src/proj \\0 a.py \\0 data/x.csv ...

A version 2 record (no owner: `wb-sync-record 2 \\0 ROOT \\0 paths...`) is still read; its root is
unowned until the next sync claims it.

Not JSON: it is read at the start of every sync, and `json` alone would cost the agent more than reading
and parsing the record (see `sync.codec`). A record from an older agent (`<sha>.json`,
`{"version": 1, "root": ..., "paths": [...]}`) is still read when no `.paths` record exists; the next
save replaces it.

It is rewritten atomically (temp file, then rename) at the end of every `sync-apply`, also after a
failed one, so it always lists what is on disk by sync's hand. A whole sync (`sync-scan --apply`, from
before the comparison to the end of the stream) holds an exclusive lock on `<sha>.lock`, so two syncs to
one root take turns and the second sees what the first wrote. Job-created files are never in it.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os

from weatherballoon.remote.lean_stdlib import sha256_hex

RECORD_VERSION = 3
_MAGIC = "wb-sync-record 3"
_MAGIC_V2 = "wb-sync-record 2"


def resolve_root(root: str) -> str:
    """The absolute, symlink-free path of a remote root; `~` and relative paths start at $HOME."""
    expanded = os.path.expanduser(root)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.expanduser("~"), expanded)
    return os.path.realpath(expanded)


def state_home() -> str:
    return os.environ.get("WB_AGENT_HOME") or os.path.join(os.path.expanduser("~"), ".weatherballoon")


def root_refusal(root: str) -> str | None:
    """Why `root` (resolved: no `..`, no links) must never be a sync root, or None. A sync mirrors the project
    over its root: the filesystem root, the home folder or a folder above it, or wb's own state, would have
    files that are not the project's replaced and pruned."""
    home = os.path.realpath(os.path.expanduser("~"))
    state = os.path.realpath(state_home())
    if root == "/":
        return "it is the root of the filesystem"
    if root == home:
        return "it is your home folder"
    if home.startswith(root.rstrip("/") + "/"):
        return f"it holds your home folder {home}"
    if root == state or root.startswith(state + "/") or state.startswith(root.rstrip("/") + "/"):
        return f"it is, holds or is inside wb's own state folder {state}"
    return None


def _record_base(root: str) -> str:
    return os.path.join(state_home(), "sync", sha256_hex(os.fsencode(root)))


def record_path(root: str) -> str:
    return _record_base(root) + ".paths"


def legacy_record_path(root: str) -> str:
    """Where agents before record version 2 kept the record (JSON)."""
    return _record_base(root) + ".json"


class Record:
    """What the record says: the synced paths and the project that owns the root ("" when unowned)."""

    __slots__ = ("label", "owner", "paths")

    def __init__(self, paths: set, owner: str = "", label: str = "") -> None:
        self.paths = paths
        self.owner = owner
        self.label = label


def read_record(root: str) -> Record | None:
    """The root's record, or None when no sync has recorded any (or it is damaged or another root's)."""
    try:
        with open(record_path(root), "rb") as handle:
            items = handle.read().decode("utf-8", "surrogateescape").split("\0")
    except FileNotFoundError:
        paths = _load_legacy(root)
        return None if paths is None else Record(paths)
    if len(items) >= 4 and items[0] == _MAGIC and items[1] == root:
        return Record(set(items[4:]), items[2], items[3])
    if len(items) >= 2 and items[0] == _MAGIC_V2 and items[1] == root:
        return Record(set(items[2:]))
    return None  # damaged or foreign: forget it; nothing is deleted until a sync rewrites it


def load_record(root: str) -> set[str] | None:
    """The synced paths under `root`, or None when no sync has recorded any."""
    record = read_record(root)
    return None if record is None else record.paths


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


def save_record(root: str, paths: set[str], owner: str = "", label: str = "") -> None:
    path = record_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = "\0".join([_MAGIC, root, owner, label.replace("\0", " "), *sorted(paths)])
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as handle:
        handle.write(body.encode("utf-8", "surrogateescape"))
    os.replace(temp, path)
    try:  # noqa: SIM105 (contextlib would be the agent's only reason to import collections and functools)
        os.unlink(legacy_record_path(root))
    except FileNotFoundError:
        pass


class RecordLock:
    """An exclusive lock on a root's record for the length of one sync. `on_wait` is called once when another
    sync holds it (then this one waits its turn). A POSIX record lock (`os.lockf`): `fcntl` would cost the
    agent an import on every sync."""

    def __init__(self, root: str, on_wait: object = None) -> None:
        self.path = _record_base(root) + ".lock"
        self._fd = -1
        self._on_wait = on_wait

    def __enter__(self) -> RecordLock:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return self  # a read-only or full home: no lock to take, and the sync itself says why it fails
        try:
            os.lockf(self._fd, os.F_TLOCK, 0)
        except OSError:  # EACCES or EAGAIN: another sync holds it
            if callable(self._on_wait):
                self._on_wait()
            os.lockf(self._fd, os.F_LOCK, 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
