"""The sync-scan exchange as columns (`sync_codec`, `sync_scan.Request` / `Response`): round trips and damage."""

from __future__ import annotations

import json
import os
import zlib

import pytest
from weatherballoon.cli.sync.manifest import decode_response, encode_request
from weatherballoon.cli.sync.records import LocalEntry, RemoteEntry
from weatherballoon.remote.sync.codec import CodecError, json_line, pack_sections, unpack_sections
from weatherballoon.remote.sync.scan import Request, Response

ODD = os.fsdecode(b"caf\xe9.txt")  # not UTF-8: a lone surrogate in str, the raw byte on the wire


def body(framed: bytes) -> bytes:
    return zlib.decompress(framed[4:])


def test_a_request_carries_every_column() -> None:
    entries = [
        LocalEntry("a.py", "f", 12, 1_700_000_000_123_456_789, 0o644),
        LocalEntry("bin/run", "f", 0, -5, 0o755),
        LocalEntry("link", "l", 0, 0, 0, "a.py"),
        LocalEntry(ODD, "f", 1 << 40, 1, 0o600),
        LocalEntry("z/other link", "l", 0, 0, 0, "../ü"),
    ]
    request = Request.decode(body(encode_request(entries)))
    assert request.paths == [e.path for e in entries]
    assert request.kinds == "fflfl"
    assert request.ints == (12, 0, 0, 1 << 40, 0, 1_700_000_000_123_456_789, -5, 0, 1, 0, 0o644, 0o755, 0, 0o600, 0)
    assert request.targets == ["a.py", "../ü"]


def test_an_empty_request() -> None:
    request = Request.decode(body(encode_request([])))
    assert (request.paths, request.kinds, request.ints, request.targets) == ([], "", (), [])


def test_a_response_round_trips_to_remote_entries() -> None:
    response = Response("/home/u/wb/proj", True, matched=4990)
    response.add("a.py", ("f", 3, 7, 0o644, None), True, "ab" * 32)
    response.add("gone", (None, 0, 0, 0, None), True, None)
    response.add("dir", ("d", 0, 0, 0, None), False, None)
    response.add("l", ("l", 0, 0, 0, "target"), False, None)
    response.add(ODD, ("o", 0, 0, 0, None), True, "cd" * 32)
    manifest = decode_response(body(response.encode()))
    assert (manifest.root, manifest.recorded, manifest.matched) == ("/home/u/wb/proj", True, 4990)
    assert manifest.entries == (
        RemoteEntry("a.py", "f", 3, 7, 0o644, None, True, "ab" * 32),
        RemoteEntry("gone", None, 0, 0, 0, None, True, None),
        RemoteEntry("dir", "d", 0, 0, 0, None, False, None),
        RemoteEntry("l", "l", 0, 0, 0, "target", False, None),
        RemoteEntry(ODD, "o", 0, 0, 0, None, True, "cd" * 32),
    )


def test_damage_is_a_codec_error_never_a_wrong_answer() -> None:
    good = body(encode_request([LocalEntry("a", "f", 1, 2, 0o644), LocalEntry("l", "l", 0, 0, 0, "a")]))
    for bad in (good[:-1], good + b"x", good[:10], b"", pack_sections([b"wb-scan 1", b"", b"", b"", b""])):
        with pytest.raises(CodecError):
            Request.decode(bad)
    tag, paths, kinds, ints, targets = unpack_sections(good, 5)
    for sections in (
        [tag, paths, b"fx", ints, targets],  # unknown kind
        [tag, b"a", kinds, ints, targets],  # one path for two kinds
        [tag, paths, kinds, ints[:-8], targets],  # an integer missing
        [tag, paths, kinds, ints, b"a\0b"],  # two targets for one link
    ):
        with pytest.raises(CodecError):
            Request.decode(pack_sections(sections))
    with pytest.raises(CodecError):
        Response.decode(good)


def test_json_line_is_json() -> None:
    summary = {"root": f'/h/ü/{ODD}/\U0001f600"\\\n', "status": 0, "ok": True, "errors": ['a "b"', "c"], "x": None}
    assert json.loads(json_line(summary)) == summary
