"""`claim`: take this machine for a new job through its daemon, or give it back (see `daemon_claims`).

    claim TOKEN [--margin SECONDS]   idle -> busy under TOKEN; prints the new lease end (epoch seconds)
    claim TOKEN --release            busy under TOKEN -> idle, when no job runs

Exit 0 when done, 3 when refused (the reason on stderr: a job runs, the row is not idle, too little lease
left...), 4 when there is no daemon to ask or the table did not answer: the client then claims by itself.
Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import sys

from ..jobs.store import state_dir

# The protocol's constants live here, the client side: `run`-path startup cost matters here, not in the
# daemon (daemon_claims imports them from this module).
SOCKET_FILE = "daemon.sock"
REQUEST_TIMEOUT_S = 5.0
REFUSED_EXIT = 3
NO_DAEMON_EXIT = 4
USAGE_EXIT = 2
USAGE = "usage: agent claim TOKEN [--margin SECONDS] | agent claim TOKEN --release"


SAY_PREFIX = "wb-agent: claim: "  # what the client strips from a refusal (cli/session/claims.py)


def _say(message: str) -> None:
    sys.stderr.write(f"{SAY_PREFIX}{message}\n")


def ask(request: str, directory: str | None = None) -> str:
    import socket

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


def parse(argv: list) -> str:
    """The request line for these arguments; ValueError with the reason when they are not right."""
    token, release, margin, rest = None, False, 0.0, list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--release":
            release = True
        elif arg == "--margin" and rest:
            margin = float(rest.pop(0))
        elif arg.startswith("--margin="):
            margin = float(arg.split("=", 1)[1])
        elif token is None and arg.isalnum():
            token = arg
        else:
            raise ValueError(f"unexpected argument {arg!r}")
    if token is None:
        raise ValueError("expected one alphanumeric TOKEN")
    if not 0 <= margin < float("inf"):
        raise ValueError(f"--margin wants seconds, 0 or more, got {margin!r}")
    return f"release {token}" if release else f"claim {token} {margin:g}"


def main(argv: list) -> int:
    try:
        request = parse(argv)
    except ValueError as exc:
        _say(f"{exc}\n{USAGE}")
        return USAGE_EXIT
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
