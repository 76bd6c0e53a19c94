"""`sync-scan`: compare the client's manifest with the remote tree in one round trip.

Input (stdin: u32 length, then that many bytes of zlib-compressed JSON), the client's upload set:
    {"v": 1, "entries": [[path, kind, size, mtime_ns, mode, target], ...]}
    kind "f" (regular file) or "l" (symlink; size, mtime and mode 0, target its text)
Output (stdout, framed the same way), only what the client has to act on:
    {"v": 1, "root": "/abs/root", "recorded": bool, "matched": N,
     "entries": [[path, kind, size, mtime_ns, mode, target, tracked, digest], ...]}

The remote stats only the paths the client sent plus those in its record (`sync_state`): it never walks
the root, so a job's millions of files cost nothing. The recorded paths are stat-ed as soon as the agent
starts, while the client is still scanning its side, so little is left to do when the request lands.
A path that is identical (kind, size, mtime_ns and
mode, or link target) and already recorded is only counted in `matched`. Every other client path comes
back with its remote state (kind None when absent, "d" for a directory, "o" for anything else), and
every recorded path the client no longer has comes back with tracked 1: those are the deletions.
When a file has the same size but another mtime, its sha256 comes back as `digest`, so the client
can send a metadata update instead of the content when its own copy hashes the same.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import zlib

from weatherballoon.remote.sync_paths import SafeDirs, UnsafePath, check_relpath
from weatherballoon.remote.sync_wire import FdReader, read_exact

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from typing import BinaryIO

    from weatherballoon.remote.sync_wire import ByteSource

__all__ = ["FdReader", "RemoteView", "read_request", "write_response"]

PROTOCOL_VERSION = 1
LENGTH = struct.Struct(">I")
_ABSENT = (None, 0, 0, 0, None)


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def _state(st: os.stat_result, full: str) -> tuple | None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return ("f", st.st_size, st.st_mtime_ns, mode & 0o7777, None)
    if stat.S_ISLNK(mode):
        try:
            return ("l", 0, 0, 0, os.readlink(full))
        except OSError:
            return None
    return ("d" if stat.S_ISDIR(mode) else "o", 0, 0, 0, None)


def describe(dirs: SafeDirs, path: str) -> tuple | None:
    """(kind, size, mtime_ns, mode, target) of a path, or None when absent or behind a symlinked parent."""
    try:
        check_relpath(path)
        if not dirs.parent_exists(path):
            return None
        full = dirs.abspath(path)
        return _state(os.lstat(full), full)
    except (OSError, UnsafePath):
        return None


def same(remote: tuple, kind: str, size: int, mtime_ns: int, mode: int, target: str | None) -> bool:
    if remote[0] != kind:
        return False
    if kind == "l":
        return remote[4] == target
    return remote[1] == size and remote[2] == mtime_ns and remote[3] == mode


class RemoteView:
    """The remote side of the comparison. `prestat()` stats every recorded path up front, while the
    client is still scanning; `compare()` then only looks up what it already knows."""

    def __init__(self, root: str, record: set[str] | None) -> None:
        self.root = root
        self.record = record
        self.dirs = SafeDirs(root)
        self._known: dict[str, tuple | None] = {}

    def prestat(self) -> None:
        """lstat every recorded path; the hot loop of a no-op sync, so kept lean (one check per folder)."""
        known = self._known
        lstat = os.lstat
        prefix = self.dirs.abspath("x")[:-1]
        folders: dict[str, bool] = {}
        for path in self.record or ():
            cut = path.rfind("/")
            folder = path[:cut] if cut > 0 else ""
            usable = folders.get(folder)
            if usable is None:
                try:
                    usable = folders[folder] = self.dirs.parent_exists(check_relpath(path))
                except UnsafePath:
                    usable = folders[folder] = False
            if not usable or path.endswith(("/.", "/..")):
                known[path] = None
                continue
            full = prefix + path
            try:
                known[path] = _state(lstat(full), full)
            except OSError:
                known[path] = None

    def describe(self, path: str) -> tuple | None:
        if path not in self._known:
            self._known[path] = describe(self.dirs, path)
        return self._known[path]

    def compare(self, local_entries: list) -> dict:
        tracked = self.record or set()
        entries = []
        matched = 0
        listed = set()
        for path, kind, size, mtime_ns, mode, target in local_entries:
            listed.add(path)
            remote = self.describe(path)
            is_tracked = path in tracked
            if remote is not None and is_tracked and same(remote, kind, size, mtime_ns, mode, target):
                matched += 1
                continue
            digest = None
            if remote is not None and kind == remote[0] == "f" and remote[1] == size and size and remote[2] != mtime_ns:
                try:
                    digest = file_digest(self.dirs.abspath(path))
                except OSError:
                    digest = None
            state = remote if remote is not None else _ABSENT
            entries.append([path, *state, int(is_tracked), digest])
        for path in sorted(tracked - listed):
            state = self.describe(path) or _ABSENT
            entries.append([path, *state, 1, None])
        return {
            "v": PROTOCOL_VERSION,
            "root": self.root,
            "recorded": self.record is not None,
            "matched": matched,
            "entries": entries,
        }


def read_request(stream: ByteSource) -> list | None:
    """The client's entries, or None when it closed stdin without sending any (cancelled)."""
    head = read_exact(stream, LENGTH.size)
    if not head:
        return None
    if len(head) < LENGTH.size:
        raise ValueError("request truncated")
    (size,) = LENGTH.unpack(head)
    blob = read_exact(stream, size)
    if len(blob) < size:
        raise ValueError("request truncated")
    request = json.loads(zlib.decompress(blob).decode("utf-8"))
    if request.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"unsupported sync-scan request version {request.get('v')!r}")
    return request["entries"]


def write_response(stream: BinaryIO, response: dict) -> None:
    blob = zlib.compress(json.dumps(response, separators=(",", ":")).encode("ascii"), 1)
    stream.write(LENGTH.pack(len(blob)) + blob)
    stream.flush()
