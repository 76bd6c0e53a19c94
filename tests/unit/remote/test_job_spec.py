"""The job spec frame: bytes in, the same bytes out, nothing read past it."""

from __future__ import annotations

import os

import pytest
from weatherballoon.remote.jobs.spec import SpecError, encode_spec, read_spec


def roundtrip(frame: bytes, tail: bytes = b"") -> tuple[tuple[str, list[str], dict[str, str]], bytes]:
    read_end, write_end = os.pipe()
    os.write(write_end, frame + tail)
    os.close(write_end)
    try:
        spec = read_spec(read_end)
        rest = os.read(read_end, 1 << 16)
    finally:
        os.close(read_end)
    return spec, rest


def test_bytes_come_back_exactly_and_the_rest_of_stdin_is_left() -> None:
    argv = [b"prog", b"", b"\xff\xfe", b"a b\nc"]
    env = [(b"K", b"v=\xfa"), (b"EMPTY", b"")]
    (cwd, words, variables), rest = roundtrip(encode_spec(b"/d\xe9", argv, env), b"job stdin")
    assert os.fsencode(cwd) == b"/d\xe9"
    assert [os.fsencode(word) for word in words] == argv
    assert {os.fsencode(k): os.fsencode(v) for k, v in variables.items()} == dict(env)
    assert rest == b"job stdin"


def test_a_nul_cannot_be_sent() -> None:
    with pytest.raises(SpecError, match="NUL"):
        encode_spec(b"/", [b"a\0b"], [])


@pytest.mark.parametrize("frame", [b"", b"\x01\x00", b"\x08\x00\x00\x00short", encode_spec(b"/", [b"x"], [])[:-1]])
def test_a_cut_frame_is_an_error(frame: bytes) -> None:
    with pytest.raises(SpecError):
        roundtrip(frame)
