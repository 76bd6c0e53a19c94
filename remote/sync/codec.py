"""Columns of strings and integers, packed for the sync-scan exchange and the sync record.

The agent runs these at every sync on the machine, where importing `json` costs more than the whole
comparison (it pulls in `re` and `enum`: about 7 ms on a small VM). So nothing here imports more than
`struct`, and parsing is C-speed splits and `struct.unpack` of whole columns:

    sections:  (u32 length, bytes)*            little-endian lengths; `pack_sections` / `unpack_sections`
    strings:   utf-8 (surrogateescape) joined by NUL   names are raw bytes and never contain NUL
    integers:  signed 64-bit little-endian, one column at a time

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import struct

_LENGTH = struct.Struct("<I")


class CodecError(ValueError):
    """The packed data is damaged or not what was expected."""


def pack_sections(sections: list) -> bytes:
    out = []
    for section in sections:
        out.append(_LENGTH.pack(len(section)))
        out.append(section)
    return b"".join(out)


def unpack_sections(blob: bytes, count: int) -> list:
    """Exactly `count` sections, or CodecError."""
    sections = []
    pos = 0
    size = len(blob)
    for _ in range(count):
        if pos + 4 > size:
            raise CodecError("truncated")
        (length,) = _LENGTH.unpack_from(blob, pos)
        pos += 4
        if pos + length > size:
            raise CodecError("truncated")
        sections.append(blob[pos : pos + length])
        pos += length
    if pos != size:
        raise CodecError("trailing data")
    return sections


def pack_strings(items: list) -> bytes:
    return "\0".join(items).encode("utf-8", "surrogateescape")


def unpack_strings(blob: bytes, count: int) -> list:
    if count == 0:
        if blob:
            raise CodecError("strings where none were announced")
        return []
    items = blob.decode("utf-8", "surrogateescape").split("\0")
    if len(items) != count:
        raise CodecError(f"{len(items)} strings, expected {count}")
    return items


def pack_ints(values: list) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def unpack_ints(blob: bytes, count: int) -> tuple:
    if len(blob) != 8 * count:
        raise CodecError(f"{len(blob)} bytes of integers, expected {8 * count}")
    return struct.unpack(f"<{count}q", blob)


def json_line(summary: dict) -> str:
    """A dict of ints, bools, strings and lists of those as one line of JSON, without importing `json`."""
    return "{" + ", ".join(f"{json_string(key)}: {_json_value(value)}" for key, value in summary.items()) + "}"


def _json_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json_value(item) for item in value) + "]"
    return json_string(str(value))


def json_string(text: str) -> str:
    """What `json.dumps` writes for a str (ensure_ascii): lone surrogates as \\udcXX, others escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)
