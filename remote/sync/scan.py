"""`sync-scan`: compare the client's manifest with the remote tree in one round trip.

Input (stdin: u32 length, then that many bytes of zlib-compressed `sync.codec` sections), the client's
upload set as columns:
    "wb-scan 2" | paths | kinds | sizes, mtimes_ns, modes (3N ints) | link targets
    kind "f" (regular file) or "l" (symlink; size, mtime and mode 0); one target per "l", in order
Output (stdout, framed the same way), only what the client has to act on:
    "wb-scan 2" | root (absolute) | recorded, matched (2 ints) | paths | kinds | sizes, mtimes_ns, modes
    | tracked ("0"/"1" a path) | link targets (one per "l") | has digest ("0"/"1" a path) | digests (hex)
    kinds: "f", "l", "d" (directory), "o" (anything else), "-" (absent)

Columns, not JSON: `json` would cost the agent more to import than the whole no-op comparison takes.

The remote stats only the paths the client sent plus those in its record (`sync.state`): it never walks
the root, so a job's millions of files cost nothing. The recorded paths are stat-ed as soon as the agent
starts, while the client is still scanning its side, so little is left to do when the request lands.
A path that is identical (kind, size, mtime_ns and
mode, or link target) and already recorded is only counted in `matched`. Every other client path comes
back with its remote state (kind absent, "d" for a directory, "o" for anything else), and
every recorded path the client no longer has comes back with tracked 1: those are the deletions.
When a file has the same size but another mtime, its sha256 comes back as `digest`, so the client
can send a metadata update instead of the content when its own copy hashes the same.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib

from weatherballoon.remote.sync.codec import (
    CodecError,
    pack_ints,
    pack_sections,
    pack_strings,
    unpack_ints,
    unpack_sections,
    unpack_strings,
)
from weatherballoon.remote.sync.paths import SafeDirs, UnsafePath, check_relpath
from weatherballoon.remote.sync.wire import FdReader, read_exact

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from typing import BinaryIO

    from weatherballoon.remote.sync.wire import ByteSource

__all__ = ["CodecError", "FdReader", "RemoteView", "Request", "Response", "read_request", "write_response"]

PROTOCOL_VERSION = 2
VERSION_TAG = b"wb-scan 2"
LENGTH = struct.Struct(">I")
_ABSENT = (None, 0, 0, 0, None)


def file_digest(path: str) -> str:
    import hashlib  # only when a same-size file changed its mtime

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
                st = lstat(full)
            except OSError:
                known[path] = None
                continue
            mode = st.st_mode
            if mode & 0o170000 == 0o100000:  # a regular file, by far the most common: no call
                known[path] = ("f", st.st_size, st.st_mtime_ns, mode & 0o7777, None)
            else:
                known[path] = _state(st, full)

    def describe(self, path: str) -> tuple | None:
        if path not in self._known:
            self._known[path] = describe(self.dirs, path)
        return self._known[path]

    def compare(self, request: Request) -> Response:
        tracked = self.record or set()
        response = Response(self.root, self.record is not None)
        listed = set(request.paths)
        targets = iter(request.targets)
        describe = self.describe
        count = len(request.paths)
        sizes = request.ints[:count]
        mtimes = request.ints[count : 2 * count]
        modes = request.ints[2 * count :]
        columns = zip(request.paths, request.kinds, sizes, mtimes, modes)  # noqa: B905 (python 3.8: no strict)
        known = self._known
        matched = 0
        for path, kind, size, mtime_ns, mode in columns:
            target = next(targets, None) if kind == "l" else None
            remote = known[path] if path in known else describe(path)
            is_tracked = path in tracked
            # The tuple holds what `same` compares (a link's size, mtime and mode are 0 on both sides).
            if is_tracked and remote == (kind, size, mtime_ns, mode, target):
                matched += 1
                continue
            if remote is not None and is_tracked and same(remote, kind, size, mtime_ns, mode, target):
                matched += 1
                continue
            digest = None
            if remote is not None and kind == remote[0] == "f" and remote[1] == size and size and remote[2] != mtime_ns:
                try:
                    digest = file_digest(self.dirs.abspath(path))
                except OSError:
                    digest = None
            response.add(path, remote if remote is not None else _ABSENT, is_tracked, digest)
        for path in sorted(tracked - listed):
            response.add(path, describe(path) or _ABSENT, True, None)
        response.matched = matched
        return response


class Request:
    """The client's upload set, as columns."""

    __slots__ = ("ints", "kinds", "paths", "targets")

    def __init__(self, paths: list, kinds: str, ints: tuple, targets: list) -> None:
        self.paths = paths
        self.kinds = kinds
        self.ints = ints  # sizes, then mtimes_ns, then modes
        self.targets = targets  # one per "l" in kinds, in order

    def encode(self) -> bytes:
        sections = [
            VERSION_TAG,
            pack_strings(self.paths),
            self.kinds.encode("ascii"),
            pack_ints(list(self.ints)),
            pack_strings(self.targets),
        ]
        return frame(pack_sections(sections))

    @classmethod
    def decode(cls, body: bytes) -> Request:
        tag, paths, kinds, ints, targets = unpack_sections(body, 5)
        if tag != VERSION_TAG:
            raise CodecError(f"unsupported sync-scan request {tag[:16]!r}")
        text = kinds.decode("ascii")
        count = len(text)
        if text.strip("fl"):
            raise CodecError("unknown kind in request")
        return cls(
            unpack_strings(paths, count), text, unpack_ints(ints, 3 * count), unpack_strings(targets, text.count("l"))
        )


class Response:
    """What the client has to act on, gathered row by row, sent as columns."""

    def __init__(self, root: str, recorded: bool, matched: int = 0) -> None:
        self.root = root
        self.recorded = recorded
        self.matched = matched
        self.paths: list = []
        self.kinds: list = []
        self.sizes: list = []
        self.mtimes: list = []
        self.modes: list = []
        self.tracked: list = []
        self.targets: list = []
        self.digests: list = []  # (path index, hex)

    def add(self, path: str, state: tuple, tracked: bool, digest: str | None) -> None:
        kind, size, mtime_ns, mode, target = state
        if digest is not None:
            self.digests.append((len(self.paths), digest))
        self.paths.append(path)
        self.kinds.append(kind or "-")
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)
        self.modes.append(mode)
        self.tracked.append("1" if tracked else "0")
        if kind == "l":
            self.targets.append(target or "")

    def rows(self) -> list:
        """(path, kind or None, size, mtime_ns, mode, target, tracked, digest) per path."""
        digests = dict(self.digests)
        targets = iter(self.targets)
        return [
            (path, None if kind == "-" else kind, size, mtime, mode, next(targets, "") if kind == "l" else None,
             tracked == "1", digests.get(index))
            for index, (path, kind, size, mtime, mode, tracked) in enumerate(
                zip(self.paths, self.kinds, self.sizes, self.mtimes, self.modes, self.tracked)  # noqa: B905
            )
        ]  # fmt: skip

    def encode(self) -> bytes:
        has_digest = ["0"] * len(self.paths)
        for index, _ in self.digests:
            has_digest[index] = "1"
        sections = [
            VERSION_TAG,
            self.root.encode("utf-8", "surrogateescape"),
            pack_ints([int(self.recorded), self.matched]),
            pack_strings(self.paths),
            "".join(self.kinds).encode("ascii"),
            pack_ints(self.sizes + self.mtimes + self.modes),
            "".join(self.tracked).encode("ascii"),
            pack_strings(self.targets),
            "".join(has_digest).encode("ascii"),
            "".join(digest for _, digest in self.digests).encode("ascii"),
        ]
        return frame(pack_sections(sections))

    @classmethod
    def decode(cls, body: bytes) -> Response:
        tag, root, meta, paths, kinds, ints, tracked, targets, has_digest, digests = unpack_sections(body, 10)
        if tag != VERSION_TAG:
            raise CodecError(f"unsupported sync-scan response {tag[:16]!r}")
        recorded, matched = unpack_ints(meta, 2)
        response = cls(root.decode("utf-8", "surrogateescape"), bool(recorded), matched)
        response.kinds = list(kinds.decode("ascii"))
        count = len(response.kinds)
        if "".join(response.kinds).strip("fldo-") or len(tracked) != count or len(has_digest) != count:
            raise CodecError("malformed response columns")
        response.paths = unpack_strings(paths, count)
        values = unpack_ints(ints, 3 * count)
        response.sizes = list(values[:count])
        response.mtimes = list(values[count : 2 * count])
        response.modes = list(values[2 * count :])
        response.tracked = list(tracked.decode("ascii"))
        response.targets = unpack_strings(targets, response.kinds.count("l"))
        flags = has_digest.decode("ascii")
        hexes = digests.decode("ascii")
        indexes = [index for index, flag in enumerate(flags) if flag == "1"]
        if len(hexes) != 64 * len(indexes):
            raise CodecError("malformed digests")
        response.digests = [(index, hexes[64 * n : 64 * (n + 1)]) for n, index in enumerate(indexes)]
        return response


def frame(body: bytes) -> bytes:
    blob = zlib.compress(body, 1)
    return LENGTH.pack(len(blob)) + blob


def read_frame(stream: ByteSource) -> bytes | None:
    """One length-prefixed zlib body; None when the stream ends before it starts (cancelled)."""
    head = read_exact(stream, LENGTH.size)
    if not head:
        return None
    if len(head) < LENGTH.size:
        raise CodecError("truncated")
    (size,) = LENGTH.unpack(head)
    blob = read_exact(stream, size)
    if len(blob) < size:
        raise CodecError("truncated")
    try:
        return zlib.decompress(blob)
    except zlib.error as exc:
        raise CodecError(f"corrupt: {exc}") from None


def read_request(stream: ByteSource) -> Request | None:
    """The client's upload set, or None when it closed stdin without sending any (cancelled)."""
    body = read_frame(stream)
    return None if body is None else Request.decode(body)


def write_response(stream: BinaryIO, response: Response) -> None:
    stream.write(response.encode())
    stream.flush()
