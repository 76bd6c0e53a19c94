"""`pull_outputs`: bring a job's output globs back under the local root.

The client first lists what it already has under those globs (size, mtime_ns), so `outputs-pack` sends
only what is new or changed. Files arrive in the sync stream format and are written by the same
`TreeWriter` the machine uses: atomically, with their mode and mtime, never through a symlinked
directory and never outside the local root. Only file and link frames are accepted.
"""

from __future__ import annotations

import json
import os
import stat
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from weatherballoon.remote.sync.outputs import find_outputs
from weatherballoon.remote.sync.wire import (
    TAG_END,
    TAG_FILE,
    TAG_LINK,
    FrameReader,
    StreamError,
    iter_blocks,
    prefetch,
    read_magic,
)
from weatherballoon.remote.sync.writer import FatalWriteError, TreeWriter

from ..errors import SyncError
from ..session.process import AgentRunner
from .agent_call import AgentCall
from .records import PullSummary

PROTOCOL_VERSION = 1


def _have(root: Path, globs: Sequence[str]) -> dict[str, tuple[int, int]]:
    return {
        path: (st.st_size, st.st_mtime_ns)
        for path, st in find_outputs(os.fspath(root), list(globs))
        if stat.S_ISREG(st.st_mode)
    }


def _receive(call: AgentCall, writer: TreeWriter) -> set[str]:
    """Write every file and link of the stream; returns their paths."""
    received: set[str] = set()
    stdout = call.proc.stdout
    if not read_magic(stdout):
        raise StreamError("outputs-pack sent nothing")
    reader = FrameReader(prefetch(iter_blocks(stdout)))
    while True:
        frame = reader.next_frame()
        path = os.fsdecode(frame.path)
        if frame.tag == TAG_END:
            return received
        received.add(path)
        if frame.tag == TAG_FILE:
            writer.write_file(path, frame.mode, frame.mtime_ns, reader.file_data())
        elif frame.tag == TAG_LINK:
            writer.write_link(path, os.fsdecode(frame.target))
        else:
            raise StreamError(f"unexpected frame {frame.tag!r} in an outputs stream")


def pull_outputs(runner: AgentRunner, remote_root: str, globs: Sequence[str], local_root: Path) -> PullSummary:
    """Fetch the files under `remote_root` matching `globs` into `local_root`; raise SyncError on failure."""
    started = time.perf_counter()
    root = Path(local_root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    have = _have(root, globs)
    call = AgentCall(runner(["outputs-pack", "--", remote_root, *globs]), "outputs-pack")  # a glob may start with --
    request = {"v": PROTOCOL_VERSION, "have": [[path, *stamp] for path, stamp in have.items()]}
    call.send_all(zlib.compress(json.dumps(request).encode("ascii"), 1))
    writer = TreeWriter(os.fspath(root))
    try:
        received = _receive(call, writer)
    except FatalWriteError as exc:
        call.cancel()
        raise SyncError(
            f"cannot write output {root / exc.path}: {exc.reason}",
            hint="free space on this machine, then run: wb pull JOB",
        ) from None
    except StreamError as exc:
        if call.finish() == 0:
            raise SyncError(f"the outputs stream from {remote_root} is damaged: {exc}") from None
        raise call.failure(f"cannot fetch outputs from {remote_root}") from None
    if call.finish() != 0:
        raise call.failure(f"cannot fetch outputs from {remote_root}")
    summary = writer.summary
    if summary.errors:
        raise SyncError(
            f"{len(summary.errors)} outputs could not be written: " + "; ".join(summary.errors[:5]),
            hint="remove what is in their way locally (a directory, or a symlinked folder), then: wb pull JOB",
        )
    return PullSummary(
        files=summary.written + summary.links,
        bytes=summary.bytes,
        unchanged=len(have.keys() - received),
        seconds=time.perf_counter() - started,
    )
