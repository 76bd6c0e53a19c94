"""Run the shipped agent on a machine: install it once per version (cached by content hash), then call it.

The first agent command on a connection checks that the agent is installed in the same exec that starts
it, instead of paying a separate exec (a channel, a shell and a round trip) for the check:

    command -v python3 || exit 127; [ -f AGENT/__main__.py ] || exit 197; printf MARK >&2; exec python3 AGENT ...

The shell writes a marker on stderr once both checks pass, before python starts. Until the marker (or the
exit status) arrives, what the caller writes to stdin is also kept, so that when the agent turns out to be
missing (exit 197 with no marker) the bundle is uploaded and the command started again with the same
input. The marker is stripped: callers see the agent's stderr only. After the marker an exit status of
197 or 127 is the agent's (or a job's) own, never mistaken for a missing agent.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
from typing import IO, TYPE_CHECKING, cast

from weatherballoon.remote.agent import HEX_PREFIX

from ..errors import ConnectError
from .agent_install import install_command, install_failure
from .bundle import AgentBundle, agent_bundle
from .connection import RemoteExec, run_to_end

if TYPE_CHECKING:
    from paramiko import Channel

    from .process import Session

AGENT_DIR = "$HOME/.weatherballoon/agent"
_MISSING = 197
_NO_PYTHON = 127
_CONNECTION_LOST = -1
# Written by the shell on stderr once python and the agent are found; stripped before anyone reads stderr.
MARK = b"<wb-agent-found>"
# Input kept for a possible restart while the check is unresolved; past this, writing waits for it.
_REPLAY_LIMIT = 1 << 20
# While the first command after authentication waits for its channel, an SSH ignore message is sent after
# each of these pauses (seconds). OpenSSH sends its own messages right after authentication (hostkeys-00,
# debug lines); when they cross our channel request, sshd (Nagle: it sets TCP_NODELAY for ttys only) holds
# its answer until they are acknowledged, and Linux delays that acknowledgement ~40 ms since the client has
# nothing to send. An ignore message carries the acknowledgement. Measured on loopback: the first command
# waited 40 ms in 20-40% of runs, and never with the nudges. (The root fix is a socket that acknowledges at
# once, TCP_QUICKACK after each read: that belongs to the session's socket, in connection.py.)
_NUDGES = (0.003, 0.003, 0.006, 0.012, 0.024)

# How every agent command starts: argv[1] is the unpacked bundle, the rest the command and its arguments.
_START = shlex.quote(
    "import sys;sys.path[:0]=[sys.argv[1]];from weatherballoon.remote.agent import main;sys.exit(main(sys.argv[2:]))"
)


def _text(arg: str) -> str:
    """`arg` as command-line text: one whose bytes are not UTF-8 (os.fsencode) travels hex-escaped, and the
    agent decodes it (`remote/agent.py`, HEX_PREFIX)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return HEX_PREFIX + os.fsencode(arg).hex()
    return HEX_PREFIX + arg.encode("utf-8").hex() if arg.startswith(HEX_PREFIX) else arg


class RemoteAgent:
    """Satisfies `process.AgentRunner`: `agent(["list"])` starts `python3 AGENT list` remotely."""

    def __init__(self, session: Session, *, python: str = "python3", bundle: AgentBundle | None = None) -> None:
        self.session = session
        self.python = python
        self.bundle = bundle or agent_bundle()
        self._installed = False
        self._install_lock = threading.Lock()
        self._nudge = True  # until a first command has its channel (see _NUDGES)

    @property
    def path(self) -> str:
        return f"{AGENT_DIR}/{self.bundle.name}"

    @property
    def installed(self) -> bool:
        """Known to be installed on this connection's machine (checked, or seen running)."""
        return self._installed

    def command_line(self, args: list[str]) -> str:
        # -I -S: no user site or site-packages; the agent is stdlib only, and this saves ~10 ms a call.
        # -c with the folder put on sys.path, not `python3 FOLDER`: running a folder goes through runpy,
        # which imports importlib.util and more (about 4 ms of every agent command on a small machine).
        flags = "-I -S" if self.python == "python3" else "-I"
        return f'exec {self.python} {flags} -c {_START} "{self.path}" ' + " ".join(
            shlex.quote(_text(arg)) for arg in args
        )

    def _check_prefix(self) -> str:
        python = self.python.split()[0]
        return (
            f"command -v {python} >/dev/null 2>&1 || exit {_NO_PYTHON}; "
            f'[ -f "{self.path}/__main__.py" ] || exit {_MISSING}; '
            f"printf '%s' '{MARK.decode()}' >&2; "
        )

    def checked_command_line(self, args: list[str]) -> str:
        """`command_line` behind the installed-check that marks stderr (see the module's docstring)."""
        return self._check_prefix() + self.command_line(args)

    def ensure_installed(self) -> None:
        """Check (and install if missing) with a command of its own: for callers that need the files on the
        machine before they run anything through the agent. Agent calls need not call it."""
        if self._installed:
            return
        status, _, _ = self._run(self._check_prefix() + "exit 0")
        if status == _MISSING:
            self.install()
        elif status == _NO_PYTHON:
            raise self._no_python()
        elif status != 0:
            raise ConnectError(f"cannot check the agent (exit {status})", host=self.session.target.label)
        self._installed = True

    def _no_python(self) -> ConnectError:
        return ConnectError(
            f"{self.python.split()[0]} is not installed on the host",
            host=self.session.target.label,
            hint="install python3 (3.8 or newer) on the host, e.g. apt-get install python3",
        )

    def install(self) -> None:
        """Upload and unpack the bundle (one exec); concurrent callers on this agent upload it once."""
        with self._install_lock:
            if not self._installed:
                self._upload()
                self._installed = True

    def _upload(self) -> None:
        python = self.python.split()[0]
        status, _, err = self._run(install_command(python, self.bundle.name), stdin=self.bundle.data)
        if status == _NO_PYTHON:
            raise self._no_python()
        if status != 0:
            raise install_failure(status, err, python=python, host=self.session.target.label)

    def _exec(self, command: str) -> RemoteExec:
        """`session.exec`; the first one nudges the server while it waits for its channel (see _NUDGES)."""
        transport = getattr(self.session, "transport", None)
        if not self._nudge or transport is None:
            return self.session.exec(command)
        self._nudge = False
        started: list[RemoteExec | BaseException] = []
        done = threading.Event()

        def start() -> None:
            try:
                started.append(self.session.exec(command))
            except BaseException as exc:
                started.append(exc)
            finally:
                done.set()

        threading.Thread(target=start, name="wb-agent-exec", daemon=True).start()
        for pause in _NUDGES:
            if done.wait(pause):
                break
            with contextlib.suppress(Exception):  # a failing connection: the exec reports it
                transport.send_ignore()
        done.wait()
        if isinstance(started[0], BaseException):
            raise started[0]
        return started[0]

    def _run(self, command: str, *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run a short command to completion: (status, stdout, stderr), as `session.run`."""
        return run_to_end(self._exec(command), stdin)

    def _unexpected(self, status: int, err: bytes) -> ConnectError:
        said = err.decode(errors="replace").strip()
        return ConnectError(
            f"cannot start the agent (exit {status}){': ' + said if said else ''}",
            host=self.session.target.label,
        )

    def __call__(self, args: list[str]) -> RemoteExec:
        if self._installed:
            return self._exec(self.command_line(args))
        return CheckedExec(self, args)

    def run(self, args: list[str], *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        if self._installed:
            return self._run(self.command_line(args), stdin=stdin)
        status, out, err = self._run(self.checked_command_line(args), stdin=stdin)
        cut = err.find(MARK)
        if cut >= 0:
            self._installed = True
            return status, out, err[:cut] + err[cut + len(MARK) :]
        if status == _MISSING:
            self.install()
            return self._run(self.command_line(args), stdin=stdin)
        if status == _NO_PYTHON:
            raise self._no_python()
        if status == _CONNECTION_LOST:
            return status, out, err
        raise self._unexpected(status, err)


class CheckedExec(RemoteExec):
    """The first agent command on a connection, its installed-check folded in; a `RemoteExec` to callers.

    Reading stdout or stderr, waiting, or taking `channel` first settles the check: it reads stderr up to
    the marker (or to its end, and then the exit status), and when the agent is missing, installs it and
    starts the command again, replaying the input written so far. Writes made before that go through at
    once (the agent starts reading them while the check is still unanswered) and are kept for the replay.
    """

    def __init__(self, agent: RemoteAgent, args: list[str]) -> None:  # no super().__init__: `channel` is ours
        self._agent = agent
        self._args = args
        self._proc = agent._exec(agent.checked_command_line(args))
        self._settling = threading.Lock()  # held while the check settles (may install and restart)
        self._state = threading.Lock()  # guards the replay buffer and the switch to a restarted process
        self._pending = True
        self._replay: bytearray | None = bytearray()
        self._stdin_closed = False
        self._stderr_head = b""  # what the shell wrote on stderr before the marker (its rc files, say)
        self._error: BaseException | None = None
        self.stdin = cast(IO[bytes], _Input(self))
        self.stdout = cast(IO[bytes], _Output(self, "stdout"))
        self.stderr = cast(IO[bytes], _Output(self, "stderr"))

    @property
    def channel(self) -> Channel:
        self.settle(raise_error=True)
        return self._proc.channel

    @channel.setter
    def channel(self, value: Channel) -> None:
        raise AttributeError("channel is read-only")

    def wait(self) -> int:
        self.settle(raise_error=True)
        return self._proc.wait()

    def close(self) -> None:
        self._proc.close()

    @property
    def current(self) -> RemoteExec:
        return self._proc

    def settle(self, *, raise_error: bool) -> None:
        if self._pending:
            with self._settling:
                if self._pending:
                    try:
                        self._settle()
                    except BaseException as exc:
                        self._error = exc
                    finally:
                        with self._state:
                            self._pending = False
                            self._replay = None
        if raise_error and self._error is not None:
            raise self._error

    def _settle(self) -> None:
        seen = bytearray()
        stderr = self._proc.stderr
        while not seen.endswith(MARK):
            byte = stderr.read(1)
            if not byte:
                break
            seen += byte
        if seen.endswith(MARK):
            self._stderr_head = bytes(seen[: -len(MARK)])
            self._agent._installed = True
            return
        status = self._proc.wait()
        if status == _MISSING:
            self._agent.install()
            with contextlib.suppress(OSError, EOFError):
                self._proc.close()
            restarted = self._agent._exec(self._agent.command_line(self._args))
            with self._state:
                if self._replay:
                    restarted.stdin.write(bytes(self._replay))
                    restarted.stdin.flush()
                if self._stdin_closed:
                    restarted.stdin.close()
                self._proc = restarted
            return
        if status == _NO_PYTHON:
            raise self._agent._no_python()
        if status == _CONNECTION_LOST:
            return  # the caller sees end of output and -1, as for any connection lost
        raise self._agent._unexpected(status, bytes(seen))

    def write(self, data: bytes) -> None:
        if self._pending:
            with self._state:
                if self._pending and self._replay is not None and len(self._replay) + len(data) <= _REPLAY_LIMIT:
                    self._replay += data
                    # OSError: the shell exited (the agent is missing), and the replay carries it over.
                    with contextlib.suppress(OSError, EOFError):
                        self._proc.stdin.write(data)
                    return
            self.settle(raise_error=True)
        self._proc.stdin.write(data)

    def close_stdin(self) -> None:
        if self._pending:
            with self._state:
                if self._pending:
                    self._stdin_closed = True
                    with contextlib.suppress(OSError, EOFError):
                        self._proc.stdin.close()
                    return
        with contextlib.suppress(OSError, EOFError):
            self._proc.stdin.close()

    def flush(self) -> None:
        with contextlib.suppress(OSError, EOFError):  # as for write: a failure shows when reading
            self._proc.stdin.flush()

    def read(self, which: str, size: int) -> bytes:
        self.settle(raise_error=which == "stdout")
        if which == "stderr":
            if self._error is not None:
                return b""
            head, self._stderr_head = self._stderr_head, b""
            if not head:
                return self._proc.stderr.read(size)
            if 0 <= size <= len(head):
                self._stderr_head = head[size:]
                return head[:size]
            return head + self._proc.stderr.read(size - len(head) if size >= 0 else -1)
        return self._proc.stdout.read(size)

    def readline(self) -> bytes:
        self.settle(raise_error=True)
        return self._proc.stdout.readline()


class _Input:
    def __init__(self, owner: CheckedExec) -> None:
        self._owner = owner

    def write(self, data: bytes) -> int:
        self._owner.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        self._owner.flush()

    def close(self) -> None:
        self._owner.close_stdin()


class _Output:
    def __init__(self, owner: CheckedExec, which: str) -> None:
        self._owner = owner
        self._which = which

    def read(self, size: int = -1) -> bytes:
        return self._owner.read(self._which, -1 if size is None else size)

    def readline(self) -> bytes:
        return self._owner.readline()
