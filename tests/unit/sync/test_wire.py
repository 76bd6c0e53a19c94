"""The sync stream: what the encoder writes, the reader reads back, byte for byte."""

from __future__ import annotations

import io
import itertools
import os
import random
from pathlib import Path

import pytest
from weatherballoon.remote.sync.send import StreamEncoder
from weatherballoon.remote.sync.wire import (
    BLOCK_HEADER,
    CODEC_RAW,
    CODEC_ZLIB,
    MAGIC,
    TAG_DELETE,
    TAG_END,
    TAG_FILE,
    TAG_LINK,
    FrameReader,
    StreamError,
    iter_blocks,
    link_frame,
    path_frame,
    prefetch,
    read_magic,
)


def encode(tmp_path: Path, files: dict[str, bytes], *, level: int = 1, block_size: int = 1 << 20) -> bytes:
    out = io.BytesIO()
    encoder = StreamEncoder(out.write, level=level, workers=2, block_size=block_size, adaptive=False)
    encoder.add(path_frame(TAG_DELETE, b"old/file"))
    encoder.add(link_frame("lïnk".encode(), b"../target"))
    for name, data in files.items():
        path = tmp_path / "src"
        path.write_bytes(data)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert encoder.add_file(name.encode(), fd, 0o640, 123_456_789_012) == len(data)
        finally:
            os.close(fd)
    encoder.close()
    return out.getvalue()


def decode(blob: bytes) -> list[tuple]:
    stream = io.BytesIO(blob)
    assert read_magic(stream)
    reader = FrameReader(prefetch(iter_blocks(stream)))
    frames = []
    while True:
        frame = reader.next_frame()
        if frame.tag == TAG_END:
            return frames
        if frame.tag == TAG_FILE:
            data = b"".join(bytes(view) for view in reader.file_data())
            frames.append(("F", frame.path, frame.mode, frame.mtime_ns, data))
        elif frame.tag == TAG_LINK:
            frames.append(("L", frame.path, frame.target))
        else:
            frames.append((frame.tag.decode(), frame.path))


def codecs(blob: bytes) -> list[int]:
    stream = io.BytesIO(blob[len(MAGIC) :])
    found = []
    while head := stream.read(BLOCK_HEADER.size):
        codec, size = BLOCK_HEADER.unpack(head)
        found.append(codec)
        stream.seek(size, io.SEEK_CUR)
    return found


def test_round_trip_of_every_frame_kind(tmp_path: Path) -> None:
    rng = random.Random(1)
    files = {
        "empty": b"",
        "text.py": b"print('hello')\n" * 500,
        "random.bin": rng.randbytes(3 << 20),
        "sp ace/ü.txt": b"x",
    }
    frames = decode(encode(tmp_path, files, block_size=256 << 10))
    assert frames[0] == ("D", b"old/file")
    assert frames[1] == ("L", "lïnk".encode(), b"../target")
    assert frames[2:] == [("F", name.encode(), 0o640, 123_456_789_012, data) for name, data in files.items()]


def test_compressible_blocks_are_compressed_and_random_ones_sent_raw(tmp_path: Path) -> None:
    text = encode(tmp_path, {"a.txt": b"the same line again\n" * 100_000})
    assert set(codecs(text)[:-1]) == {CODEC_ZLIB}
    assert len(text) < 200_000
    noise = encode(tmp_path, {"n.bin": random.Random(2).randbytes(4 << 20)})
    assert CODEC_RAW in codecs(noise) and CODEC_ZLIB not in codecs(noise)


def text_blocks(write: object, blocks: int, **options: object) -> list[int]:
    out = io.BytesIO()

    def sink(data: bytes) -> None:
        write(data)  # type: ignore[operator]
        out.write(data)

    encoder = StreamEncoder(sink, level=1, block_size=64 << 10, **options)  # type: ignore[arg-type]
    line = b"def step(batch): return model(batch).loss.backward()\n"
    for _ in range(blocks):
        encoder.add(line * ((64 << 10) // len(line) + 1))
    encoder.close()
    return codecs(out.getvalue())[:-2]  # less the end-marker frame and the end block


def link_clock(seconds_per_write: float) -> object:
    """A fake wall clock for the writer: each write of a block appears to take this long."""
    ticks = itertools.count()
    return lambda: next(ticks) * seconds_per_write


def test_a_link_faster_than_zlib_gets_raw_blocks_and_a_slow_one_compressed_blocks() -> None:
    fast = text_blocks(lambda data: None, 40, warm_up_s=0, clock=link_clock(1e-6))  # 64 KiB in 1 us
    assert fast[0] == CODEC_ZLIB and fast[-10:] == [CODEC_RAW] * 10
    slow = text_blocks(lambda data: None, 12, warm_up_s=0, clock=link_clock(0.1))  # 64 KiB in 100 ms
    assert slow == [CODEC_ZLIB] * 12


def test_level_zero_sends_everything_raw(tmp_path: Path) -> None:
    blob = encode(tmp_path, {"a.txt": b"aaaa" * 100_000}, level=0)
    assert CODEC_ZLIB not in codecs(blob)
    assert decode(blob)[2][4] == b"aaaa" * 100_000


def test_an_empty_stream_means_cancelled() -> None:
    assert read_magic(io.BytesIO(b"")) is False
    with pytest.raises(StreamError, match="magic"):
        read_magic(io.BytesIO(b"GET / HTTP/1.1\r\n"))


@pytest.mark.parametrize("cut", [len(MAGIC) + 3, -40, -6])
def test_a_truncated_stream_is_reported(tmp_path: Path, cut: int) -> None:
    blob = encode(tmp_path, {"a.bin": random.Random(3).randbytes(100_000)}, level=0)
    with pytest.raises(StreamError, match="truncated"):
        decode(blob[:cut])


def test_a_corrupt_compressed_block_is_reported(tmp_path: Path) -> None:
    blob = bytearray(encode(tmp_path, {"a.txt": b"abc" * 10_000}))
    assert codecs(bytes(blob))[0] == CODEC_ZLIB
    blob[len(MAGIC) + BLOCK_HEADER.size + 10] ^= 0xFF
    with pytest.raises(StreamError, match="corrupt"):
        decode(bytes(blob))


def test_a_write_error_surfaces_from_close(tmp_path: Path) -> None:
    def broken(data: bytes) -> None:
        raise BrokenPipeError("agent gone")

    encoder = StreamEncoder(broken, level=1)
    encoder.add(b"x" * 10)
    with pytest.raises(BrokenPipeError):
        encoder.close()
