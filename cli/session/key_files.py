"""Private key files as they sit on disk: is it a file at all, is it encrypted, and what is its public key.

Read without paramiko and without the passphrase, so wb can tell "protected by a passphrase" apart from
"not a key", and find the same key in ssh-agent (an OpenSSH key keeps its public half in clear; a PEM key
has its `.pub` beside it).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 1024 * 1024  # an RSA-16384 key is about 12 KB
OPENSSH_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
OPENSSH_MAGIC = b"openssh-key-v1\0"


class NotAKeyFile(ValueError):
    """The path is missing, a directory, a FIFO or device, or too large; the message says which."""


@dataclass(frozen=True)
class KeyFile:
    path: Path
    data: bytes

    @property
    def encrypted(self) -> bool:
        if self.data.lstrip().startswith(OPENSSH_BEGIN):
            header = _openssh_header(self.data)
            return header is not None and header[0] != b"none"
        return b"Proc-Type: 4,ENCRYPTED" in self.data or b"BEGIN ENCRYPTED PRIVATE KEY" in self.data

    def public_blob(self) -> bytes | None:
        """The public key's wire blob: from an OpenSSH key's clear header, else from `<path>.pub`."""
        header = _openssh_header(self.data) if self.data.lstrip().startswith(OPENSSH_BEGIN) else None
        if header is not None and header[1]:
            return header[1]
        try:
            fields = Path(f"{self.path}.pub").read_text(encoding="utf-8", errors="replace").split()
            return base64.b64decode(fields[1], validate=True) if len(fields) >= 2 else None
        except (OSError, binascii.Error, ValueError):
            return None


def read_key_file(path: Path) -> KeyFile:
    """The file's bytes, or NotAKeyFile saying why it cannot be a key (reading a FIFO would block)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise NotAKeyFile("does not exist") from None
    except OSError as exc:
        raise NotAKeyFile(f"cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise NotAKeyFile("is a directory, not a key file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket or device"
        raise NotAKeyFile(f"is {kind}, not a regular key file")
    if info.st_size > MAX_BYTES:
        raise NotAKeyFile(f"is {info.st_size} bytes, too large to be a private key")
    try:
        return KeyFile(path, path.read_bytes())
    except OSError as exc:
        raise NotAKeyFile(f"cannot be read: {exc.strerror or exc}") from None


def _openssh_header(data: bytes) -> tuple[bytes, bytes] | None:
    """(cipher name, public key blob) of an OpenSSH-format private key, or None when it is malformed."""
    lines = data.strip().splitlines()
    body = b"".join(line.strip() for line in lines[1:] if not line.startswith(b"-----"))
    try:
        raw = base64.b64decode(body)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(OPENSSH_MAGIC):
        return None
    offset = len(OPENSSH_MAGIC)
    fields = []
    try:
        for _ in range(3):  # cipher name, kdf name, kdf options
            (length,) = struct.unpack_from(">I", raw, offset)
            fields.append(raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        (count,) = struct.unpack_from(">I", raw, offset)
        offset += 4
        public = b""
        if count >= 1:
            (length,) = struct.unpack_from(">I", raw, offset)
            public = raw[offset + 4 : offset + 4 + length]
    except struct.error:
        return None
    return fields[0], public
