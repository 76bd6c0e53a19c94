"""A command's side of the warm client (fork_server.py): hand the command over, forward signals, take its code.

When a warm client of this installation is listening, `wb run` (and the few read-mostly commands in
`WARM_COMMANDS`) do not import the rest of wb at all: this module passes the process's stdin, stdout and
stderr to the warm client with the arguments, folder, environment and umask; a forked child there runs the
command exactly as this process would have; the signals this process gets (Ctrl-C, a terminal hang-up, a
kill) are passed on to that child; and this process exits with its code.

Anything short of a started child (no warm client, a stale one, a refusal) returns None before anything
ran, and the command runs here, the ordinary way (said under -v).
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from .. import trace
from . import wire
from .warm_names import warm_socket_name

WARM_COMMANDS = frozenset({"run", "jobs", "logs", "status"})
GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet"})
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGUSR1", "SIGUSR2")


def _verbose(argv: list[str], message: str) -> None:
    if os.environ.get("WB_VERBOSE") == "1" or any(arg in ("-v", "--verbose") for arg in _globals(argv)):
        sys.stderr.write(f"wb: {message}\n")
        sys.stderr.flush()


def _globals(argv: list[str]) -> list[str]:
    flags = []
    for arg in argv:
        if arg not in GLOBAL_FLAGS:
            break
        flags.append(arg)
    return flags


def eligible(argv: list[str]) -> bool:
    """A command the warm client runs: one of WARM_COMMANDS after wb's global flags only."""
    if os.name != "posix" or not wire.fd_passing() or not hasattr(socket, "AF_UNIX"):
        return False
    if os.environ.get("WB_IN_KEEPER") == "1" or os.environ.get("WB_WARM_CLIENT") == "0":
        return False
    if os.environ.get("WB_KEEP_CONNECTION_MINUTES", "").strip() in ("0", "0.0"):
        return False  # keepers off for this command: the warm client, started with them, too
    rest = argv[len(_globals(argv)) :]
    return bool(rest) and rest[0] in WARM_COMMANDS


def run_warm(argv: list[str]) -> int | None:
    """The command's exit code, run by the warm client; None when it was not (nothing has run then)."""
    if not eligible(argv) or not _standard_streams_open():
        return None
    path = warm_socket_name(create=False)
    if path is None or not os.path.exists(path):
        return None
    try:
        sock = wire.connect_to_keeper(path)
    except OSError as exc:
        _verbose(argv, f"the warm client is gone or not yours ({exc}): running here")
        if isinstance(exc, ConnectionRefusedError):
            try:  # noqa: SIM105 (contextlib: one import less in a warm command's process)
                os.unlink(path)  # nobody listens: it died
            except OSError:
                pass
        return None
    terminal = _open_terminal()
    with sock:
        try:
            umask = os.umask(0o022)
            os.umask(umask)
            request = {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                       "started": trace.started_at(), "terminal": terminal is not None}  # fmt: skip
            wire.send_json(sock, request)
            wire.send_fds(sock, [0, 1, 2] if terminal is None else [0, 1, 2, terminal])
            reply = wire.recv_json(sock)
        except (OSError, wire.WireError, ValueError) as exc:
            _verbose(argv, f"the warm client failed ({exc}): running here")
            return None
        finally:
            if terminal is not None:
                os.close(terminal)
        if not reply or not isinstance(reply.get("pid"), int):
            why = (reply or {}).get("refused") or (reply or {}).get("error") or "no answer"
            _verbose(argv, f"not using the warm client ({why}): running here")
            return None
        pid = int(reply["pid"])  # type: ignore[call-overload]
        trace.mark(f"handed over to the warm client's child (pid {pid})")
        _verbose(argv, f"running in the warm client (pid {pid})")
        code = _wait_for(sock, pid)
        trace.mark("the warm client's child ended")
        return code


def _standard_streams_open() -> bool:
    """Descriptors 0 to 2 are what the child takes over: a closed one would be taken by the next socket."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def _open_terminal() -> int | None:
    """This process's terminal, for the child to ask a key's passphrase on (it has no terminal of its own)."""
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None


def _wait_for(sock: socket.socket, pid: int) -> int:
    def forward(number: int, _frame: object) -> None:
        try:  # noqa: SIM105
            os.kill(pid, number)
        except OSError:  # it has ended: nothing to pass the signal to
            pass

    for name in FORWARDED:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, forward)
    try:
        message = wire.recv_json(sock)
    except (OSError, wire.WireError, ValueError):
        message = None
    if message is None or not isinstance(message.get("exit"), int):
        sys.stderr.write("wb: the warm client ended before the command reported its exit status\n")
        return 255
    return int(message["exit"])  # type: ignore[call-overload]
