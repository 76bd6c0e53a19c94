"""Another local user, for the checks that a keeper or warm client serves no one but its own user."""

from __future__ import annotations

import subprocess

from tests.support import sshd

OTHER_PYTHON = "/usr/bin/python3"  # the system's: another user cannot reach root's virtual environment

TRY_CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    s.sendall(b'J' + len(b'{"op": "info"}').to_bytes(4, 'big') + b'{"op": "info"}')
    print('answer', s.recv(100))
except OSError as exc:
    print('refused', exc.errno)
"""


def as_user(user: sshd.TestUser, *args: str) -> subprocess.CompletedProcess[str]:
    """The system python run as `user` (isolated mode), its output as text."""
    return subprocess.run(
        [OTHER_PYTHON, "-I", *args], user=user.uid, group=user.gid, capture_output=True, text=True, timeout=30
    )
