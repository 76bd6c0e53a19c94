"""The sync stream: how files, links, metadata changes and deletions travel in one byte stream.

Two layers, both big-endian:

Blocks (what goes over the connection), after the 8-byte magic `WBSYNC1\\n`:
    u8 codec (0 raw, 1 zlib) | u32 length | length bytes
and last an end block, codec 255 and length 0, so a reader stops without waiting for EOF.
Each block is compressed on its own (so blocks compress in parallel) or sent raw when its data does not
compress. Decoded blocks concatenate into the frame stream; a frame may span blocks.

Frames (the decoded content), each starting with a one-byte tag:
    F u16 path_len | u32 mode | i64 mtime_ns | path | chunks     a regular file
        chunks: (u32 n | n bytes)* then u32 0; a chunk whose top bit is set is a hole of (n & 0x7fffffff)
        zero bytes that the file does not store (a sparse file), with no data after it
    L u16 path_len | u16 target_len | path | target              a symlink, never followed
    M u16 path_len | u32 mode | i64 mtime_ns | path              mode and mtime only, content unchanged
    A u16 path_len | path                                        already identical: record as synced
    D u16 path_len | path                                        gone locally: delete if sync made it
    E                                                            end of stream
Paths and targets are the raw bytes of the local names (os.fsencode), relative and `/`-separated.
A stream that ends before `E` is truncated and reported as such.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import struct
import zlib

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Protocol

    class ByteSource(Protocol):
        """Anything with `read(size)`: a binary file, a paramiko channel file, an FdReader."""

        def read(self, size: int = -1, /) -> bytes | None: ...


MAGIC = b"WBSYNC1\n"
BLOCK_HEADER = struct.Struct(">BI")
CODEC_RAW = 0
CODEC_ZLIB = 1
CODEC_END = 255
END_BLOCK = BLOCK_HEADER.pack(CODEC_END, 0)
MAX_BLOCK = 64 << 20

CHUNK = struct.Struct(">I")
END_OF_FILE = CHUNK.pack(0)
HOLE_BIT = 1 << 31
MAX_HOLE_CHUNK = HOLE_BIT - 1
_FILE = struct.Struct(">HIq")
_LINK = struct.Struct(">HH")
_PATH = struct.Struct(">H")

TAG_FILE = b"F"
TAG_LINK = b"L"
TAG_META = b"M"
TAG_ADOPT = b"A"
TAG_DELETE = b"D"
TAG_END = b"E"


class StreamError(ValueError):
    """The stream is corrupt or ends early."""


def file_header(path: bytes, mode: int, mtime_ns: int) -> bytes:
    return TAG_FILE + _FILE.pack(len(path), mode, mtime_ns) + path


def meta_frame(path: bytes, mode: int, mtime_ns: int) -> bytes:
    return TAG_META + _FILE.pack(len(path), mode, mtime_ns) + path


def link_frame(path: bytes, target: bytes) -> bytes:
    return TAG_LINK + _LINK.pack(len(path), len(target)) + path + target


def path_frame(tag: bytes, path: bytes) -> bytes:
    return tag + _PATH.pack(len(path)) + path


def read_exact(stream: ByteSource, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) == size:
        return data or b""
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class FdReader:
    """Unbuffered reads from a file descriptor (the agent's stdin).

    It never reads ahead, so the request and the stream that follows it on one stdin can be read by
    different code, and a reader thread blocked in it holds no interpreter lock at exit (a thread
    blocked inside `sys.stdin.buffer` aborts the interpreter's shutdown).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts: list[bytes] = []
            while True:
                data = os.read(self.fd, 1 << 20)
                if not data:
                    return b"".join(parts)
                parts.append(data)
        return os.read(self.fd, size) if size else b""


def read_magic(stream: ByteSource) -> bool:
    """False when the stream is empty (the sender cancelled); raise when it is not a sync stream."""
    head = read_exact(stream, len(MAGIC))
    if not head:
        return False
    if head != MAGIC:
        raise StreamError(f"not a weatherballoon sync stream (bad magic {head[:8]!r})")
    return True


def decode_block(codec: int, data: bytes) -> bytes:
    if codec == CODEC_RAW:
        return data
    if codec == CODEC_ZLIB:
        try:
            return zlib.decompress(data)
        except zlib.error as exc:
            raise StreamError(f"corrupt compressed block: {exc}") from None
    raise StreamError(f"unknown block codec {codec}")


def iter_blocks(stream: ByteSource) -> Iterator[bytes]:
    """Decoded block payloads until the end of the stream (after the magic)."""
    while True:
        head = read_exact(stream, BLOCK_HEADER.size)
        if not head:
            return
        if len(head) < BLOCK_HEADER.size:
            raise StreamError("stream truncated inside a block header")
        codec, size = BLOCK_HEADER.unpack(head)
        if codec == CODEC_END:
            return
        if size > MAX_BLOCK:
            raise StreamError(f"block of {size} bytes exceeds the limit")
        data = read_exact(stream, size)
        if len(data) < size:
            raise StreamError("stream truncated inside a block")
        yield decode_block(codec, data)


def prefetch(blocks: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """Run `blocks` on a thread (reading and zlib both release the GIL) so decoding overlaps writing."""
    import queue  # here, not at the top: sync-scan imports this module and never streams
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def pump() -> None:
        try:
            for block in blocks:
                slots.put(block)
            slots.put(done)
        except BaseException as exc:
            slots.put(exc)

    threading.Thread(target=pump, name="wb-sync-read", daemon=True).start()
    while True:
        item = slots.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


class Frame:
    __slots__ = ("mode", "mtime_ns", "path", "tag", "target")

    def __init__(self, tag: bytes, path: bytes = b"", mode: int = 0, mtime_ns: int = 0, target: bytes = b""):
        self.tag = tag
        self.path = path
        self.mode = mode
        self.mtime_ns = mtime_ns
        self.target = target


class FrameReader:
    """Parses frames out of decoded block payloads; file data comes out as zero-copy memoryviews."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buf = memoryview(b"")
        self._pos = 0

    def _refill(self) -> None:
        for block in self._blocks:
            if block:
                self._buf = memoryview(block)
                self._pos = 0
                return
        raise StreamError("stream truncated: it ended before its end marker")

    def read_exact(self, size: int) -> bytes:
        if self._pos + size <= len(self._buf):
            start = self._pos
            self._pos += size
            return self._buf[start : self._pos].tobytes()
        parts = []
        need = size
        while need:
            if self._pos >= len(self._buf):
                self._refill()
            take = min(need, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos : self._pos + take].tobytes())
            self._pos += take
            need -= take
        return b"".join(parts)

    def views(self, size: int) -> Iterator[memoryview]:
        while size:
            if self._pos >= len(self._buf):
                self._refill()
            take = min(size, len(self._buf) - self._pos)
            yield self._buf[self._pos : self._pos + take]
            self._pos += take
            size -= take

    def file_data(self) -> Iterator[memoryview | int]:
        """The data of the file whose header was just read, as memoryviews, and its holes as ints (a run of
        that many zero bytes the file does not store); must be consumed to the end."""
        while True:
            (size,) = CHUNK.unpack(self.read_exact(CHUNK.size))
            if not size:
                return
            if size & HOLE_BIT:
                yield size & MAX_HOLE_CHUNK
                continue
            yield from self.views(size)

    def next_frame(self) -> Frame:
        tag = self.read_exact(1)
        if tag in (TAG_FILE, TAG_META):
            path_len, mode, mtime_ns = _FILE.unpack(self.read_exact(_FILE.size))
            return Frame(tag, self.read_exact(path_len), mode, mtime_ns)
        if tag == TAG_LINK:
            path_len, target_len = _LINK.unpack(self.read_exact(_LINK.size))
            path = self.read_exact(path_len)
            return Frame(tag, path, target=self.read_exact(target_len))
        if tag in (TAG_ADOPT, TAG_DELETE):
            (path_len,) = _PATH.unpack(self.read_exact(_PATH.size))
            return Frame(tag, self.read_exact(path_len))
        if tag == TAG_END:
            return Frame(tag)
        raise StreamError(f"unknown frame tag {tag!r}")
