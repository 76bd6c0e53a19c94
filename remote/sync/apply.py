"""`sync-apply`: read one sync stream (`sync.wire`) and apply it under the root.

Deletions (`D`) are honoured only for paths in the root's record and never for paths covered by a
`--protect` glob; files (`F`), links (`L`), metadata updates (`M`) and identical files (`A`) join the
record. The record is saved at the end, after a failure too, so it always matches what sync wrote.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os

from weatherballoon.remote.sync.globs import GlobSet
from weatherballoon.remote.sync.state import read_record, save_record
from weatherballoon.remote.sync.wire import (
    TAG_ADOPT,
    TAG_DELETE,
    TAG_END,
    TAG_FILE,
    TAG_LINK,
    TAG_META,
    FrameReader,
    StreamError,
    iter_blocks,
    prefetch,
)
from weatherballoon.remote.sync.writer import FatalWriteError, TreeWriter

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from weatherballoon.remote.sync.wire import ByteSource


def apply_frames(reader: FrameReader, writer: TreeWriter) -> None:
    """Apply frames until the end marker; raises StreamError or FatalWriteError."""
    while True:
        frame = reader.next_frame()
        tag = frame.tag
        if tag == TAG_END:
            return
        path = os.fsdecode(frame.path)
        if tag == TAG_FILE:
            writer.write_file(path, frame.mode, frame.mtime_ns, reader.file_data())
        elif tag == TAG_LINK:
            writer.write_link(path, os.fsdecode(frame.target))
        elif tag == TAG_META:
            writer.set_meta(path, frame.mode, frame.mtime_ns)
        elif tag == TAG_ADOPT:
            writer.adopt(path)
        elif tag == TAG_DELETE:
            writer.delete(path)
        else:  # pragma: no cover - next_frame rejects unknown tags
            raise StreamError(f"unexpected frame {tag!r}")


def apply_stream(
    stream: ByteSource, root: str, protect: list[str], *, owner: str = "", label: str = "", overwrite: bool = False
) -> tuple[TreeWriter, FatalWriteError | StreamError | None]:
    """Apply a whole stream (magic already read) under `root`; the caller holds the root's `RecordLock`.

    Returns the writer (its summary says what was done) and the error that stopped the stream early,
    if one did: a refusing disk or a corrupt or truncated stream. `overwrite`: files no sync recorded may
    be replaced (else each is refused by name).
    """
    found = read_record(root)
    record = None if found is None else found.paths
    owner = owner or (found.owner if found is not None else "")
    label = label or (found.label if found is not None else "")
    before = None if record is None else set(record)
    writer = TreeWriter(root, record=set() if record is None else record, protect=GlobSet(protect), overwrite=overwrite)
    failure: FatalWriteError | StreamError | None = None
    blocks = prefetch(iter_blocks(stream))
    try:
        apply_frames(FrameReader(blocks), writer)
        for _ in blocks:  # on to the sender's end block: it is written after the end marker, and
            pass  # answering before it arrived made that last write fail, a done sync look failed
    except (FatalWriteError, StreamError) as exc:
        failure = exc
    finally:
        if writer.record != before:  # content-only changes leave the set, and the file, as they were
            _save(root, writer, owner, label)
    return writer, failure


def _save(root: str, writer: TreeWriter, owner: str, label: str) -> None:
    try:
        save_record(root, writer.record or set(), owner, label)
    except OSError as exc:
        writer.summary.errors.append(f"the sync record {exc.filename} could not be saved: {exc.strerror}")
