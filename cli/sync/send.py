"""Turn a SyncPlan into one sync stream (`weatherballoon.remote.sync.wire`) on an agent's stdin.

Order: deletions first (so a path can change between file, link and directory), then records,
metadata updates, links and files. Each file is opened with O_NOFOLLOW and its mode and mtime_ns taken
from that open file, so what arrives is described by the same moment it was read; a file that vanished
or became something else since the scan is skipped (the next sync sees it as it then is).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weatherballoon.remote.sync.send import StreamEncoder
from weatherballoon.remote.sync.wire import TAG_ADOPT, TAG_DELETE, link_frame, meta_frame, path_frame

from .records import SyncPlan, SyncProgress

ProgressFn = Callable[[SyncProgress], None]
SMALL_PLAN = 4 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a fifo must not block us
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL}  # deleted, or no longer what was scanned


class AgentStoppedReading(Exception):
    """Writing to the agent failed: it exited (its status and stderr say why) or the connection dropped."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class StreamTotals:
    files: int
    content_bytes: int
    wire_bytes: int
    vanished: int


def stream_plan(
    write: Callable[[bytes], object],
    root: Path,
    plan: SyncPlan,
    *,
    progress: ProgressFn | None = None,
    level: int = 1,
    workers: int | None = None,
) -> StreamTotals:
    """Write the whole plan with `write`; AgentStoppedReading when a write fails."""
    if workers is None:  # threads pay for themselves on big uploads only
        workers = 2 if plan.bytes_to_send > SMALL_PLAN else 0
    encoder = StreamEncoder(write, level=level, workers=workers)
    top = os.fspath(root)
    files = content = vanished = 0
    total_files = len(plan.send)
    total_bytes = plan.bytes_to_send
    try:
        for path in plan.delete:
            encoder.add(path_frame(TAG_DELETE, os.fsencode(path)))
        for path in plan.adopt:
            encoder.add(path_frame(TAG_ADOPT, os.fsencode(path)))
        for entry in plan.touch:
            encoder.add(meta_frame(os.fsencode(entry.path), entry.mode, entry.mtime_ns))
        for entry in plan.send:
            full = os.path.join(top, entry.path)
            if entry.kind == "l":
                try:
                    encoder.add(link_frame(os.fsencode(entry.path), os.fsencode(os.readlink(full))))
                    files += 1
                except OSError as exc:
                    if exc.errno not in _GONE:
                        raise
                    vanished += 1
                continue
            try:
                fd = os.open(full, _OPEN_FLAGS)
            except OSError as exc:
                if exc.errno not in _GONE:
                    raise  # unreadable: the caller names the file
                vanished += 1
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    vanished += 1
                    continue
                content += encoder.add_file(os.fsencode(entry.path), fd, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
                files += 1
            finally:
                os.close(fd)
            if progress is not None:
                progress(SyncProgress(files, total_files, content, total_bytes))
    except BaseException as exc:
        encoder.abort()
        if encoder.error is not None:
            raise AgentStoppedReading(encoder.error) from exc
        raise
    try:
        encoder.close()
    except Exception as exc:
        raise AgentStoppedReading(exc) from exc
    return StreamTotals(files=files, content_bytes=content, wire_bytes=encoder.wire_bytes, vanished=vanished)
