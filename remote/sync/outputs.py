"""`outputs-pack ROOT [--] GLOB...`: stream a job's declared outputs back to the client.

stdin: what the client already has (zlib-compressed JSON `{"v": 1, "have": [[path, size, mtime_ns], ...]}`,
or nothing); stdout: a sync stream (`sync.wire`) of `F` and `L` frames for every file or symlink under
ROOT covered by a glob (`sync.globs`) that the client does not already have with the same size and
mtime_ns, then `E`. Symlinked directories are sent as links and never walked; `.git` directories and
sync's own temp files are skipped.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import zlib

from weatherballoon.remote.agent_io import SYNC_STREAM_EXIT, UsageError, operands, say, usage_error
from weatherballoon.remote.sync.globs import GlobSet, literal_prefix, max_depth, outside_root
from weatherballoon.remote.sync.state import resolve_root
from weatherballoon.remote.sync.wire import FdReader
from weatherballoon.remote.sync.writer import TEMP_PREFIX

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PROTOCOL_VERSION = 1


def _walk(root: str, directory: str, globs: GlobSet, depth: int | None, everything: bool) -> Iterator[tuple]:
    try:
        entries = sorted(os.scandir(os.path.join(root, directory) if directory else root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name == ".git" or entry.name.startswith(TEMP_PREFIX):
            continue
        rel = directory + "/" + entry.name if directory else entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            covered = everything or globs.covers(rel)
            if covered or depth is None or rel.count("/") + 1 < depth:
                yield from _walk(root, rel, globs, depth, covered)
        elif (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and (everything or globs.covers(rel)):
            yield rel, st


def find_outputs(root: str, patterns: list[str]) -> Iterator[tuple]:
    """(relative path, lstat) of every file and symlink under `root` covered by `patterns`, each once."""
    globs = GlobSet([pattern for pattern in patterns if outside_root(pattern) is None])
    seen: set[str] = set()
    for pattern in globs.patterns:
        prefix, _ = literal_prefix(pattern)
        start = os.path.join(root, prefix) if prefix else root
        try:
            st = os.lstat(start)
        except OSError:
            continue
        # a literal prefix that is a symlink to a folder (outputs on another disk) is walked into
        if prefix and not stat.S_ISDIR(st.st_mode) and not (stat.S_ISLNK(st.st_mode) and os.path.isdir(start)):
            found = iter([(prefix, st)]) if globs.covers(prefix) else iter(())
        else:
            found = _walk(root, prefix, globs, max_depth(pattern), globs.covers(prefix) if prefix else False)
        for rel, entry_st in found:
            if rel not in seen:
                seen.add(rel)
                yield rel, entry_st


def _read_have() -> dict:
    blob = FdReader(sys.stdin.fileno()).read()
    if not blob:
        return {}
    request = json.loads(zlib.decompress(blob).decode("utf-8"))
    return {path: (size, mtime_ns) for path, size, mtime_ns in request.get("have", ())}


def pack(root: str, patterns: list[str], have: dict, write: Callable[[bytes], object]) -> None:
    from weatherballoon.remote.sync.send import StreamEncoder
    from weatherballoon.remote.sync.wire import link_frame

    encoder = StreamEncoder(write)
    try:
        for rel, st in find_outputs(root, patterns):
            path = os.path.join(root, rel)
            if stat.S_ISLNK(st.st_mode):
                try:
                    encoder.add(link_frame(os.fsencode(rel), os.fsencode(os.readlink(path))))
                except OSError:
                    continue
                continue
            if have.get(rel) == (st.st_size, st.st_mtime_ns):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue  # vanished or unreadable since the walk
            try:
                fst = os.fstat(fd)
                encoder.add_file(os.fsencode(rel), fd, stat.S_IMODE(fst.st_mode), fst.st_mtime_ns)
            finally:
                os.close(fd)
    except BaseException:
        encoder.abort()
        raise
    encoder.close()


def pack_main(argv: list) -> int:
    try:
        _options, (root, *globs) = operands(argv, ("ROOT", "GLOB..."), variadic=True)
    except UsageError as exc:
        return usage_error("outputs-pack", exc, "outputs-pack ROOT [--] GLOB... < have")
    root = resolve_root(root)
    try:
        have = _read_have()
    except (ValueError, zlib.error) as exc:
        say(f"bad request: {exc}", "outputs-pack")
        return SYNC_STREAM_EXIT
    out = sys.stdout.buffer
    pack(root, globs, have, out.write)
    out.flush()
    return 0
