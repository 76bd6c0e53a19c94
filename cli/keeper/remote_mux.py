"""In the keeper: agent commands through one long-lived `agent serve` (remote/serve.py) per connection, so
that a command starts no remote shell (and no login rc, no version-manager shim) and opens no SSH channel.

The keeper recognizes an agent command line (`RemoteAgent.command_line`: `exec PYTHON FLAGS -c START
"AGENT" COMMAND ARGS...`) and sends its arguments to the `serve` process for that interpreter and bundle,
started once through the login shell like any agent command. Its streams come back as frames, and each
command gets a `VirtualChannel`, which `bridge.join` uses as it uses a paramiko channel. Anything else (the
first command's installed-check, `wb ssh HOST -- CMD`) takes an exec channel of its own, as does every
command when `serve` does not start (an agent bundle without it): nothing depends on it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shlex
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramiko import Channel

HEADER = struct.Struct(">cII")
CHUNK = 1 << 15
HELLO_TIMEOUT_S = 15.0
AGENT_HOME = "$HOME/.weatherballoon/agent/"


@dataclass(frozen=True)
class AgentLine:
    python: str
    flags: tuple[str, ...]
    start: str
    bundle: str
    args: tuple[str, ...]
    # The line came behind the installed-check (`RemoteAgent.checked_command_line`): a `serve` started from
    # the bundle proves it installed, so the check's marker is written on stderr first, as the shell would.
    checked: bool = False

    @property
    def serve_key(self) -> tuple[str, tuple[str, ...], str, str]:
        return (self.python, self.flags, self.start, self.bundle)

    def serve_command(self) -> str:
        flags = " ".join(shlex.quote(flag) for flag in self.flags)
        return f'exec {shlex.quote(self.python)} {flags} -c {shlex.quote(self.start)} "{self.bundle}" serve'


def _installed_check(python: str, bundle: str) -> str:
    from ..session.agent import MARK

    return (
        f"command -v {python} >/dev/null 2>&1 || exit 127; "
        f'[ -f "{bundle}/__main__.py" ] || exit 197; '
        f"printf '%s' '{MARK.decode()}' >&2; "
    )


def agent_line(command: str) -> AgentLine | None:
    """The parts of an agent command line; None for any other command (those run on a channel of their own)."""
    original = command
    checked = command.startswith("command -v ")
    if checked:
        command = command[command.find("exec ") :] if "; exec " in command else ""
    if not command.startswith("exec "):
        return None
    try:
        words = shlex.split(command[len("exec ") :])
    except ValueError:
        return None
    if "-c" not in words:
        return None
    at = words.index("-c")
    flags = tuple(words[1:at])
    if len(words) < at + 4 or not all(flag.startswith("-") for flag in flags):
        return None
    bundle = words[at + 2]
    if not bundle.startswith(AGENT_HOME) or "/" in bundle[len(AGENT_HOME) :] or '"' in bundle:
        return None
    line = AgentLine(words[0], flags, words[at + 1], bundle, tuple(words[at + 3 :]), checked)
    if checked and not _check_matches(line, original):
        return None
    return line


class VirtualChannel:
    """One agent command inside `serve`, with the calls `bridge.join` makes on a paramiko Channel."""

    def __init__(self, mux: RemoteMux, ident: int) -> None:
        self._mux = mux
        self._ident = ident
        self._cond = threading.Condition()
        self._buffers = {"out": bytearray(), "err": bytearray()}
        self._ended = {"out": False, "err": False}
        self._status = -1
        self._exited = False
        self.closed = False
        self.status_event = threading.Event()

    # from the mux's reader
    def feed(self, which: str, data: bytes) -> None:
        with self._cond:
            self._buffers[which] += data
            self._cond.notify_all()

    def end(self, which: str) -> None:
        with self._cond:
            self._ended[which] = True
            self._cond.notify_all()

    def exited(self, status: int) -> None:
        with self._cond:
            self._status, self._exited = status, True
            self.status_event.set()
            self._cond.notify_all()

    def lost(self) -> None:
        with self._cond:
            self.closed = True
            self._ended = {"out": True, "err": True}
            self.status_event.set()
            self._cond.notify_all()

    # what bridge.join calls
    def _recv(self, which: str, size: int) -> bytes:
        with self._cond:
            while not self._buffers[which] and not self._ended[which]:
                self._cond.wait()
            buffer = self._buffers[which]
            data = bytes(buffer[:size])
            del buffer[:size]
            return data

    def recv(self, size: int) -> bytes:
        return self._recv("out", size)

    def recv_stderr(self, size: int) -> bytes:
        return self._recv("err", size)

    def sendall(self, data: bytes) -> None:
        if self.closed:
            raise OSError("the channel is closed")
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self._mux.send(b"I", self._ident, bytes(view[start : start + CHUNK]))

    def shutdown_write(self) -> None:
        if not self.closed:
            self._mux.send(b"i", self._ident)

    def exit_status_ready(self) -> bool:
        return self._exited

    def recv_exit_status(self) -> int:
        self.status_event.wait()
        return self._status

    def close(self) -> None:
        if not self.closed and not self._exited:
            with contextlib.suppress(OSError, EOFError):
                self._mux.send(b"K", self._ident)
        self.lost()


class RemoteMux:
    """One `serve` process on a connection, and the commands running in it."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._channels: dict[int, VirtualChannel] = {}
        self._lock = threading.Lock()
        self._hello = threading.Event()
        self.interpreter: str | None = None
        self.broken = False
        threading.Thread(target=self._read, name="wb-keeper-mux", daemon=True).start()

    @classmethod
    def start(cls, open_channel: object, line: AgentLine) -> RemoteMux | None:
        channel = open_channel()  # type: ignore[operator]
        channel.exec_command(line.serve_command())
        mux = cls(channel)
        if not mux._hello.wait(HELLO_TIMEOUT_S) or mux.broken:
            mux.close()
            return None
        return mux

    def send(self, kind: bytes, ident: int, payload: bytes = b"") -> None:
        with self._send_lock:
            self._channel.sendall(HEADER.pack(kind, ident, len(payload)) + payload)

    def run(self, line: AgentLine) -> VirtualChannel:
        ident = next(self._ids)
        channel = VirtualChannel(self, ident)
        if line.checked:
            from ..session.agent import MARK

            channel.feed("err", MARK)
        with self._lock:
            if self.broken:
                raise OSError("the agent's serve process has ended")
            self._channels[ident] = channel
        self.send(b"S", ident, json.dumps({"argv": [*line.flags, "-c", line.start, line.bundle, *line.args]}).encode())
        return channel

    @property
    def alive(self) -> bool:
        return not self.broken and not self._channel.closed

    def close(self) -> None:
        self._channel.close()

    def _recv_exact(self, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = self._channel.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _read(self) -> None:
        routes = {b"O": ("feed", "out"), b"R": ("feed", "err"), b"o": ("end", "out"), b"r": ("end", "err")}
        try:
            while (head := self._recv_exact(HEADER.size)) is not None:
                kind, ident, size = HEADER.unpack(head)
                payload = self._recv_exact(size) if size else b""
                if payload is None:
                    break
                if kind == b"H":
                    self.interpreter = payload.decode(errors="replace")
                    self._hello.set()
                    continue
                channel = self._channels.get(ident)
                if channel is None:
                    continue
                if kind == b"X":
                    with self._lock:
                        self._channels.pop(ident, None)
                    channel.exited(int(payload))
                elif kind in routes:
                    method, which = routes[kind]
                    if method == "feed":
                        channel.feed(which, payload)
                    else:
                        channel.end(which)
        except (OSError, EOFError, ValueError):
            pass
        with self._lock:
            self.broken = True
            left, self._channels = list(self._channels.values()), {}
        self._hello.set()
        for channel in left:
            channel.lost()


def _check_matches(line: AgentLine, original: str) -> bool:
    """The installed-check is exactly the one RemoteAgent writes for this interpreter and bundle."""
    return original == _installed_check(line.python, line.bundle) + original[original.find("exec ") :]
