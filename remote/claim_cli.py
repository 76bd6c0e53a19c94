"""`claim`: take this machine for a new job through its daemon, or give it back (see `daemon_claims`).

    claim TOKEN [--margin SECONDS]   idle -> busy under TOKEN; prints the new lease end (epoch seconds)
    claim TOKEN --release            busy under TOKEN -> idle, when no job runs

Exit 0 when done, 3 when refused (the reason on stderr: a job runs, the row is not idle, too little lease
left...), 4 when there is no daemon to ask or the table did not answer: the client then claims by itself.
Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import socket
import sys

from .daemon_claims import REQUEST_TIMEOUT_S, SOCKET_FILE
from .jobs_args import UsageError, split_args
from .jobstore import state_dir

REFUSED_EXIT = 3
NO_DAEMON_EXIT = 4
USAGE_EXIT = 2


def _say(message: str) -> None:
    sys.stderr.write(f"wb-agent: claim: {message}\n")


def ask(request: str, directory: str | None = None) -> str:
    os.chdir(directory or state_dir())  # the socket is named relative to it (path length limit)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(REQUEST_TIMEOUT_S * 3)
        conn.connect(SOCKET_FILE)
        conn.sendall(request.encode("utf-8") + b"\n")
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace").strip()


def main(argv: list) -> int:
    try:
        options, positionals, command = split_args(argv, flags=("release",), valued=("margin",))
        if command is not None or len(positionals) != 1 or not positionals[0].isalnum():
            raise UsageError("expected one alphanumeric TOKEN")
        margin = float(options.get("margin", "0"))
    except (UsageError, ValueError) as exc:
        _say(f"{exc}\nusage: agent claim TOKEN [--margin SECONDS] | agent claim TOKEN --release")
        return USAGE_EXIT
    token = positionals[0]
    request = f"release {token}" if options.get("release") else f"claim {token} {margin:g}"
    try:
        answer = ask(request)
    except OSError as exc:
        _say(f"no daemon to ask ({exc})")
        return NO_DAEMON_EXIT
    verdict, _, detail = answer.partition(" ")
    if verdict == "ok":
        sys.stdout.write(detail + "\n")
        return 0
    _say(detail or "the daemon closed the connection without an answer")
    return REFUSED_EXIT if verdict == "refused" else NO_DAEMON_EXIT
