"""sshd's AuthorizedKeysCommand on a sandbox host: the keys pushed for a user with SendSSHPublicKey in the
last 60 s, as Ubuntu's ec2-instance-connect package gives sshd the keys EC2 holds for the instance.

    AuthorizedKeysCommand /usr/bin/python3 -I <this file> <pushed-keys dir>/<instance id> %u
    AuthorizedKeysCommandUser root

The sandbox's moto server appends `<push time> <key>` lines to `<dir>/<user>` (launchers/moto_server.py).
Standard library only: sshd runs it with the machine's python3.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

KEY_LIFETIME_S = 60.0


def live_keys(text: str, now: float, lifetime_s: float = KEY_LIFETIME_S) -> list[str]:
    """The keys of `text`'s `<time> <key>` lines pushed within `lifetime_s` before `now`."""
    keys = []
    for line in text.splitlines():
        stamp, _, key = line.partition(" ")
        try:
            pushed = float(stamp)
        except ValueError:
            continue
        if key and 0 <= now - pushed <= lifetime_s:
            keys.append(key)
    return keys


def main(argv: list[str]) -> int:
    if len(argv) != 2 or "/" in argv[1]:
        return 1
    folder, user = Path(argv[0]), argv[1]
    try:
        text = (folder / user).read_text()
    except OSError:
        return 0  # nothing pushed for this user: no keys, and sshd falls back to authorized_keys
    for key in live_keys(text, time.time()):
        sys.stdout.write(key + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
