"""The receiver reads a sync stream up to the sender's end block before it answers.

The sender writes the end block in a write of its own after the end marker. A receiver that returned at the
end marker answered (and exited, closing the channel) while that last write could still be on its way; the
write then failed ("Socket is closed") and the client reported a sync that had fully succeeded as
"`sync` exited with status 0: no message" (seen about once in 15 first syncs on a loaded machine).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from weatherballoon.remote.sync.apply import apply_stream
from weatherballoon.remote.sync.send import StreamEncoder
from weatherballoon.remote.sync.wire import END_BLOCK, FdReader, read_magic


def stream_writes(tmp_path: Path) -> list[bytes]:
    """The sender's writes, one per queued item: magic, blocks, then the end block."""
    writes: list[bytes] = []
    encoder = StreamEncoder(writes.append, level=0, workers=0)
    source = tmp_path / "source.txt"
    source.write_bytes(b"hello\n")
    fd = os.open(source, os.O_RDONLY)
    try:
        encoder.add_file(b"hello.txt", fd, 0o644, 1_700_000_000_000_000_000)
    finally:
        os.close(fd)
    encoder.close()
    assert writes[-1] == END_BLOCK
    return writes


def test_the_receiver_answers_only_after_the_end_block(tmp_path: Path) -> None:
    writes = stream_writes(tmp_path)
    root = tmp_path / "root"
    read_end, write_end = os.pipe()
    done = threading.Event()
    outcome: dict[str, object] = {}

    def receive() -> None:
        stdin = FdReader(read_end)
        assert read_magic(stdin)
        outcome["writer"], outcome["failure"] = apply_stream(stdin, str(root), [])
        done.set()

    try:
        for data in writes[:-1]:
            os.write(write_end, data)
        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        assert not done.wait(0.5), "the receiver answered before the sender's end block arrived"
        os.write(write_end, writes[-1])
        assert done.wait(5)
        receiver.join(5)
    finally:
        os.close(write_end)
        os.close(read_end)
    assert outcome["failure"] is None
    assert (root / "hello.txt").read_bytes() == b"hello\n"


def test_a_stream_without_its_end_block_still_applies_at_end_of_file(tmp_path: Path) -> None:
    writes = stream_writes(tmp_path)
    root = tmp_path / "root"
    read_end, write_end = os.pipe()
    for data in writes[:-1]:
        os.write(write_end, data)
    os.close(write_end)
    try:
        stdin = FdReader(read_end)
        assert read_magic(stdin)
        writer, failure = apply_stream(stdin, str(root), [])
    finally:
        os.close(read_end)
    assert failure is None and writer.summary.as_dict()["written"] == 1
    assert (root / "hello.txt").read_bytes() == b"hello\n"
