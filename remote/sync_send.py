"""The sending half of the sync stream (see `sync_wire`): frames in, blocks out, in order.

The caller's thread reads files and packs frames into ~1 MiB blocks. Worker threads compress blocks
(zlib releases the GIL) and one writer thread sends them in order, so reading, compressing and sending
overlap. Each block is compressed only when it pays: a 16 KiB sample is tried first, and data that does
not shrink (media, archives, random bytes: zlib manages about 45 MB/s on those and gains nothing) goes
out raw. At most `depth` blocks wait in memory.

Used by the client for `sync-apply` and by the agent for `outputs-pack`. Python >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import queue
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

from weatherballoon.remote.sync_wire import (
    BLOCK_HEADER,
    CHUNK,
    CODEC_RAW,
    CODEC_ZLIB,
    END_BLOCK,
    END_OF_FILE,
    MAGIC,
    TAG_END,
    file_header,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from collections.abc import Callable

BLOCK_SIZE = 1 << 20
MIN_CHUNK = 64 << 10
SAMPLE = 16 << 10
WORTH_IT = 0.9  # compress a block only when its sample shrinks below this ratio


def encode_block(parts: list[bytes], level: int) -> bytes:
    payload = parts[0] if len(parts) == 1 else b"".join(parts)
    if level > 0 and len(payload) >= 256:
        sample = payload[:SAMPLE]
        packed = zlib.compress(sample, level)
        if len(packed) < len(sample) * WORTH_IT:
            if len(sample) < len(payload):
                packed = zlib.compress(payload, level)
            if len(packed) < len(payload):
                return BLOCK_HEADER.pack(CODEC_ZLIB, len(packed)) + packed
    return BLOCK_HEADER.pack(CODEC_RAW, len(payload)) + payload


class StreamEncoder:
    """Write frames with `add` and `add_file`, then `close()` (sends the end marker and waits)."""

    def __init__(
        self,
        write: Callable[[bytes], object],
        *,
        level: int = 1,
        workers: int = 2,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self._write = write
        self.level = level
        self.block_size = block_size
        self._parts: list[bytes] = []
        self._size = 0
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wb-sync-zlib")
            if level > 0 and workers > 0
            else None
        )
        self._queue: queue.Queue = queue.Queue(maxsize=max(4, 2 * workers + 2))
        self.error: BaseException | None = None
        self.wire_bytes = 0
        self.raw_bytes = 0
        self._writer = threading.Thread(target=self._drain, name="wb-sync-send", daemon=True)
        self._writer.start()
        self._queue.put(MAGIC)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                data = item.result() if isinstance(item, Future) else item
                self._write(data)
                self.wire_bytes += len(data)
            except BaseException as exc:
                self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def flush(self) -> None:
        if not self._parts:
            return
        self._check()
        parts, self._parts, self._size = self._parts, [], 0
        self.raw_bytes += sum(len(part) for part in parts)
        if self._pool is not None:
            self._queue.put(self._pool.submit(encode_block, parts, self.level))
        else:
            self._queue.put(encode_block(parts, self.level))

    def add(self, frame: bytes) -> None:
        self._parts.append(frame)
        self._size += len(frame)
        if self._size >= self.block_size:
            self.flush()

    def add_file(self, path: bytes, fd: int, mode: int, mtime_ns: int) -> int:
        """Send the open file `fd` from its current offset to its end; returns the bytes read."""
        self.add(file_header(path, mode, mtime_ns))
        total = 0
        while True:
            want = max(self.block_size - self._size, MIN_CHUNK)
            data = os.read(fd, want)
            if data:
                self._parts.append(CHUNK.pack(len(data)))
                self._parts.append(data)
                self._size += CHUNK.size + len(data)
                total += len(data)
                if self._size >= self.block_size:
                    self.flush()
            if len(data) < want:
                break
        self.add(END_OF_FILE)
        return total

    def close(self) -> None:
        """Send the end marker, wait until every block is written; raise the first write error."""
        try:
            self.add(TAG_END)
            self.flush()
            self._queue.put(END_BLOCK)
        finally:
            self._stop()
        self._check()

    def abort(self) -> None:
        """Stop without an end marker: the receiver sees a truncated stream and keeps its old files."""
        self._parts, self._size = [], 0
        self._stop()

    def _stop(self) -> None:
        self._queue.put(None)
        self._writer.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
