"""What the sandbox reads from an instance's user-data (docs/aws.md), instead of handing it to cloud-init.

The aws provider renders a bash script for cloud-init, gzip-compressed. The sandbox plays cloud-init's part
with the pieces that matter on a sandbox host: the login key (`# wb:authorized-key`), the login user
(`# wb:user`), the root setup (every line before the boot program: the dead-man timer, the sudo grant, the
login key), which it runs verbatim as root in the host, and the boot program (between
`cat > /opt/wb/boot.py <<'WB_BOOT'` and `WB_BOOT`), which it runs its own way. Installing python and boto3
and the agent's systemd units are the machine's business here.
"""

from __future__ import annotations

import base64
import binascii
import gzip
from dataclasses import dataclass

KEY_MARKER = "# wb:authorized-key "
USER_MARKER = "# wb:user "
LEASE_MARKER = "# wb:lease-minutes "
BOOT_START = "cat > /opt/wb/boot.py <<'WB_BOOT'"
BOOT_END = "WB_BOOT"


@dataclass(frozen=True)
class UserData:
    text: str
    authorized_key: str | None = None
    user: str | None = None
    boot_program: str | None = None
    lease_minutes: float | None = None
    root_setup: str | None = None  # the lines before the boot program


def decode(raw: str | None) -> str:
    """DescribeInstanceAttribute's base64 value as text (gzip, which cloud-init accepts, is unpacked)."""
    if not raw:
        return ""
    try:
        data = base64.b64decode(raw, validate=False)
    except (binascii.Error, ValueError):
        return raw
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def parse(text: str) -> UserData:
    lines = text.splitlines()
    key = user = None
    lease: float | None = None
    for line in lines:
        if line.startswith(KEY_MARKER) and key is None:
            key = line[len(KEY_MARKER) :].strip() or None
        elif line.startswith(USER_MARKER) and user is None:
            user = line[len(USER_MARKER) :].strip() or None
        elif line.startswith(LEASE_MARKER) and lease is None:
            lease = _number(line[len(LEASE_MARKER) :])
    start = next((i for i, line in enumerate(lines) if line.strip() == BOOT_START), None)
    setup = None if start is None else "\n".join(lines[:start]) + "\n"
    return UserData(text, key, user, _boot_program(lines), lease, setup)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value > 0 else None


def _boot_program(lines: list[str]) -> str | None:
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == BOOT_START)
        end = next(i for i in range(start + 1, len(lines)) if lines[i] == BOOT_END)
    except StopIteration:
        return None
    return "\n".join(lines[start + 1 : end]) + "\n"
