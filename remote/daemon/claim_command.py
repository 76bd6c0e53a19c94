"""`claim`: take this machine for a new job through its daemon, or give it back (see `daemon.claims`).

    claim TOKEN [--margin SECONDS]   idle -> busy under TOKEN; prints the new lease end (epoch seconds)
    claim TOKEN --release            busy under TOKEN -> idle, when no job runs

Exit 0 when done, 3 when refused (the reason on stderr: a job runs, the row is not idle, too little lease
left...), 4 when there is no daemon to ask or the table did not answer: the client then claims by itself
(`agent_io`'s CLAIM codes).
Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import sys

from ..agent_io import CLAIM_REFUSED_EXIT, NO_DAEMON_EXIT, PREFIX, UsageError, operands, say, usage_error
from ..jobs.store import state_dir

# The protocol's constants live here, the client side: `run`-path startup cost matters here, not in the
# daemon (daemon.claims imports them from this module).
SOCKET_FILE = "daemon.sock"
REQUEST_TIMEOUT_S = 5.0
SYNOPSIS = "claim TOKEN [--margin SECONDS] | claim TOKEN --release"
SAY_PREFIX = PREFIX + "claim: "  # what the client strips from a refusal (cli/session/claims.py)


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
    """The request line for these arguments; UsageError with the reason when they are not right."""
    options, (token,) = operands(argv, ("TOKEN",), flags=("release",), valued=("margin",))
    if not token.isalnum():
        raise UsageError(f"TOKEN must be letters and digits, got {token!r}")
    text = options.get("margin", "0")
    try:
        margin = float(text)
    except ValueError:
        margin = float("nan")
    if not 0 <= margin < float("inf"):
        raise UsageError(f"--margin wants seconds, 0 or more, got {text!r}")
    return f"release {token}" if options.get("release") else f"claim {token} {margin:g}"


def main(argv: list) -> int:
    try:
        request = parse(argv)
    except UsageError as exc:
        return usage_error("claim", exc, SYNOPSIS)
    try:
        answer = ask(request)
    except OSError as exc:
        say(f"no daemon to ask ({exc})", "claim")
        return NO_DAEMON_EXIT
    verdict, _, detail = answer.partition(" ")
    if verdict == "ok":
        sys.stdout.write(detail + "\n")
        return 0
    say(detail or "the daemon closed the connection without an answer", "claim")
    return CLAIM_REFUSED_EXIT if verdict == "refused" else NO_DAEMON_EXIT
