"""What a job runs, sent to `run --spec-stdin` at the head of its stdin instead of on the command line.

A command line is passed by sshd to the login shell as one argument, which Linux caps at 128 KiB
(MAX_ARG_STRLEN), and it must be text; a job's argv and environment are bytes of any length. So the
client writes them first on the agent's stdin, as one frame, and whatever follows the frame is the job's
own stdin (with --stdin):

    u32 length (little-endian) | sections (`sync.codec`): "wb-job 1" | cwd | argv | env
    argv: each argument followed by a NUL; env: each KEY=VALUE item followed by a NUL

Every item is raw bytes, exactly as the client's OS gave them (os.fsencode); the agent turns them into
`str` with os.fsdecode (surrogateescape), and `posix_spawn` turns them back into the same bytes.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import struct

from weatherballoon.remote.sync.codec import CodecError, pack_sections, unpack_sections

TAG = b"wb-job 1"
_LENGTH = struct.Struct("<I")
MAX_SPEC_BYTES = 64 << 20  # a frame longer than this is a corrupt stream, not a command


class SpecError(ValueError):
    """The frame is missing, cut short or malformed."""


def _terminated(items: list) -> bytes:
    for item in items:
        if b"\0" in item:
            raise SpecError("an argument or environment value holds a NUL byte, which no program can receive")
    return b"".join(item + b"\0" for item in items)


def _items(blob: bytes) -> list:
    if blob and not blob.endswith(b"\0"):
        raise SpecError("malformed job spec: an item is not terminated")
    return blob.split(b"\0")[:-1]


def encode_spec(cwd: bytes, argv: list, env: list) -> bytes:
    """The frame for `cwd`, `argv` (bytes each) and `env` ((key, value) bytes pairs)."""
    pairs = [key + b"=" + value for key, value in env]
    body = pack_sections([TAG, cwd, _terminated(argv), _terminated(pairs)])
    return _LENGTH.pack(len(body)) + body


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_spec(fd: int) -> tuple:
    """(cwd, argv, env) from the frame at the head of `fd`; reads exactly the frame, nothing after it."""
    head = _read_exact(fd, _LENGTH.size)
    if len(head) < _LENGTH.size:
        raise SpecError("no job spec on stdin")
    (size,) = _LENGTH.unpack(head)
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"a job spec of {size} bytes is not plausible")
    body = _read_exact(fd, size)
    if len(body) < size:
        raise SpecError("the job spec on stdin was cut short")
    try:
        tag, cwd, argv, env = unpack_sections(body, 4)
    except CodecError as exc:
        raise SpecError(f"malformed job spec: {exc}") from None
    if tag != TAG:
        raise SpecError(f"unsupported job spec {tag[:16]!r}")
    words = [os.fsdecode(item) for item in _items(argv)]
    variables = {}
    for item in _items(env):
        key, has_value, value = item.partition(b"=")
        if not has_value or not key:
            raise SpecError(f"environment item {item[:40]!r} is not KEY=VALUE")
        variables[os.fsdecode(key)] = os.fsdecode(value)
    return os.fsdecode(cwd), words, variables
