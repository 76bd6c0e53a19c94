"""Reading a known_hosts file the way OpenSSH does (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT").

A line is `[marker] patterns keytype base64-key [comment]`. What this client can use is kept; everything
else is skipped, line by line, as ssh skips it: comments, blank lines, `@cert-authority` lines (wb does not
verify host certificates), unknown markers, lines with too few fields or a key that is not base64.
`@revoked` lines are kept: a revoked key is refused even where another line trusts it.

Host patterns are matched as ssh matches them: comma-separated, `*` and `?` wildcards, `!` negation (a
negated match rules the line out), case-insensitive; a hashed entry (`|1|salt|hash`, from
`HashKnownHosts yes`) matches when HMAC-SHA1(salt, name) is the hash.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import HostKeyError

MAX_BYTES = 16 * 1024 * 1024  # far past any real file; a device or a runaway file is refused, not read
REVOKED = "@revoked"


@dataclass(frozen=True)
class KnownKey:
    line: int
    patterns: str
    key_type: str
    blob: bytes
    revoked: bool = False

    def matches(self, name: str) -> bool:
        return host_matches(self.patterns, name)


def read_known_hosts(path: Path, *, host: str) -> list[KnownKey]:
    """The usable lines of `path`; none when it does not exist. A path that is not a regular file, or one
    past MAX_BYTES, is a HostKeyError naming it (reading /dev/zero once exhausted memory)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _unusable(path, host, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _unusable(path, host, f"it is {kind}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _unusable(path, host, exc.strerror or str(exc)) from None
    if len(data) > MAX_BYTES:
        raise _unusable(path, host, f"it is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    found = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        entry = parse_line(raw, number)
        if entry is not None:
            found.append(entry)
    return found


def _unusable(path: Path, host: str, why: str) -> HostKeyError:
    return HostKeyError(
        f"cannot use the known hosts file {path}: {why}",
        host=host,
        hint="point provisioner.knownHostsFile at a regular file (default ~/.ssh/known_hosts)",
    )


def parse_line(raw: str, number: int) -> KnownKey | None:
    fields = raw.split()
    if not fields or fields[0].startswith("#"):
        return None
    revoked = False
    if fields[0].startswith("@"):
        if fields[0] != REVOKED:  # @cert-authority, or a marker this client does not know
            return None
        revoked = True
        fields = fields[1:]
    if len(fields) < 3:
        return None
    patterns, key_type, encoded = fields[:3]
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not blob:
        return None
    return KnownKey(line=number, patterns=patterns, key_type=key_type, blob=blob, revoked=revoked)


def host_matches(patterns: str, name: str) -> bool:
    name = name.lower()
    if patterns.startswith("|1|"):
        return _hashed_matches(patterns, name)
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:]
        if pattern and _glob(pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _glob(pattern: str, name: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    # ssh's wildcards are only * and ?; fnmatch's [...] must not apply, so brackets are escaped.
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(name, escaped)


def _hashed_matches(entry: str, name: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), expected)
