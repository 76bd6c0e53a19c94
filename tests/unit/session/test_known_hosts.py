"""known_hosts lines and host patterns as OpenSSH reads them (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from weatherballoon.cli.errors import HostKeyError
from weatherballoon.cli.session.known_hosts import host_matches, parse_line, read_known_hosts

BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519" + b"k" * 36).decode()


@pytest.mark.parametrize(
    ("patterns", "name", "matches"),
    [
        ("gpu-1", "gpu-1", True),
        ("GPU-1", "gpu-1", True),
        ("gpu-*", "gpu-7", True),
        ("gpu-?", "gpu-12", False),
        ("a,b,gpu-1", "gpu-1", True),
        ("*,!gpu-1", "gpu-1", False),
        ("!gpu-1", "gpu-2", False),  # a negation alone matches nothing
        ("[10.0.0.1]:2222", "[10.0.0.1]:2222", True),
        ("[10.0.0.*]:2222", "[10.0.0.9]:2222", True),
        ("[10.0.0.*]:2222", "[10.0.0.9]:22", False),
    ],
)
def test_patterns(patterns: str, name: str, matches: bool) -> None:
    assert host_matches(patterns, name) is matches


def test_hashed_names() -> None:
    salt = b"0123456789abcdef0123"
    digest = hmac.new(salt, b"[127.0.0.1]:2222", hashlib.sha1).digest()
    entry = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    assert host_matches(entry, "[127.0.0.1]:2222")
    assert not host_matches(entry, "[127.0.0.1]:2223")
    assert not host_matches("|1|not|base64!", "x")


@pytest.mark.parametrize(
    "line",
    ["", "   ", "# comment", f"@cert-authority *.example ssh-ed25519 {BLOB}", f"@other * ssh-ed25519 {BLOB}",
     "host ssh-ed25519", "host ssh-ed25519 !!!", "@revoked", "host ssh-ed25519 ===="],
)  # fmt: skip
def test_lines_that_cannot_be_used_are_skipped(line: str) -> None:
    assert parse_line(line, 1) is None


def test_revoked_and_plain_lines() -> None:
    revoked = parse_line(f"@revoked * ssh-ed25519 {BLOB} old", 3)
    assert revoked is not None and revoked.revoked and revoked.line == 3 and revoked.patterns == "*"
    plain = parse_line(f"gpu-1,10.0.0.1 ssh-ed25519 {BLOB}", 4)
    assert plain is not None and not plain.revoked and plain.matches("10.0.0.1")


def test_missing_file_is_empty_and_devices_are_refused(tmp_path: Path) -> None:
    assert read_known_hosts(tmp_path / "none", host="h") == []
    with pytest.raises(HostKeyError, match="not a regular file"):
        read_known_hosts(Path("/dev/zero"), host="h")
    with pytest.raises(HostKeyError, match="it is a directory"):
        read_known_hosts(tmp_path, host="h")


def test_binary_garbage_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_bytes(b"\xff\xfe\x00garbage\n" + f"gpu-1 ssh-ed25519 {BLOB}\n".encode())
    assert [entry.patterns for entry in read_known_hosts(path, host="h")] == ["gpu-1"]
