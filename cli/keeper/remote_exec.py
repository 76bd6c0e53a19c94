"""A remote process run through the keeper: the command's side of one `exec` (`KeeperExec`), its streams as
socket pairs, descriptor passing or the relay (`wire.fd_passing`), and the channel calls `jobs/attach.pump`
makes (`KeeperChannel`). `client.KeeperSession` starts them."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from pathlib import Path
from typing import IO, cast

from ..errors import ConnectError
from . import wire


class TunnelVerdict:
    ended_by_endpoint = False


class _Reader:
    """A remote stream as a file: reads never take more than asked (no read-ahead to lose)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while data := self._sock.recv(1 << 16):
                chunks.append(data)
            return b"".join(chunks)
        out = bytearray()
        while len(out) < size:
            data = self._sock.recv(size - len(out))
            if not data:
                break
            out += data
        return bytes(out)

    def readline(self) -> bytes:
        line = bytearray()
        while True:
            peek = self._sock.recv(1 << 16, socket.MSG_PEEK)
            if not peek:
                return bytes(line)
            cut = peek.find(b"\n")
            take = len(peek) if cut < 0 else cut + 1
            line += self._sock.recv(take)
            if cut >= 0:
                return bytes(line)

    def close(self) -> None:
        self._sock.close()


class _Writer:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> int:
        self._sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        self._sock.close()


class KeeperExec:
    """A remote process on the keeper's connection; satisfies `process.RemoteProcess`, and its `channel`
    the part of paramiko's Channel that `jobs/attach.pump` uses.

    Its streams are local socket pairs: with descriptor passing the keeper holds the far ends and copies the
    channel into them itself; in the relay, a thread here unpacks the keeper's frames into them. Either way
    the control stream (`_ctl`) ends with the exit status, or without one when the link was lost.
    """

    def __init__(
        self,
        ctl: socket.socket,
        stdin: socket.socket,
        stdout: socket.socket,
        stderr: socket.socket,
        relayed: socket.socket | None = None,
        verdict: TunnelVerdict | None = None,
    ) -> None:
        self._verdict = verdict
        self._ctl = ctl
        self._relayed = relayed  # the keeper connection, when a relay thread reads it
        self._in, self._out, self._err = stdin, stdout, stderr
        self.stdin = cast(IO[bytes], _Writer(stdin))
        self.stdout = cast(IO[bytes], _Reader(stdout))
        self.stderr = cast(IO[bytes], _Reader(stderr))
        self.channel = KeeperChannel(self)
        self._status: int | None = None

    @classmethod
    def start(cls, path: Path, command: str, verdict: TunnelVerdict | None = None) -> KeeperExec:
        conn = wire.connect_to_keeper(path)
        try:
            relay = not wire.fd_passing()
            wire.send_json(conn, {"op": "exec", "command": command, "relay": relay})
            pairs = [socket.socketpair() for _ in range(3)]
            near = [pair[0] for pair in pairs]
            far = [pair[1] for pair in pairs]
            if not relay:
                wire.send_fds(conn, [sock.fileno() for sock in far])
                for sock in far:
                    sock.close()
            reply = wire.recv_json(conn)
            if reply is None or "error" in reply:
                for sock in near + (far if relay else []):
                    sock.close()
                why = reply.get("error") if reply else "it closed the connection"
                raise ConnectError(f"connection lost: the connection keeper could not start the command: {why}")
            if relay:
                ctl_near, ctl_far = socket.socketpair()
                threading.Thread(target=_relay, args=(conn, far, ctl_far), daemon=True).start()
                return cls(ctl_near, near[0], near[1], near[2], relayed=conn, verdict=verdict)
            return cls(conn, near[0], near[1], near[2], verdict=verdict)
        except BaseException:
            conn.close()
            raise

    def status_if_ended(self, *, block: bool) -> int | None:
        """The exit status once the control stream has given it (or ended: -1); None while running."""
        if self._status is None:
            if not block and not select.select([self._ctl], [], [], 0)[0]:
                return None
            try:
                message = wire.recv_json(self._ctl)
            except (OSError, wire.WireError, ValueError):
                message = None
            status = message.get("exit") if message else None
            self._status = status if isinstance(status, int) else -1
            if self._status == -1 and self._verdict is not None:
                self._verdict.ended_by_endpoint = bool(message and message.get("ended_by_endpoint"))
        return self._status

    def wait(self) -> int:
        status = self.status_if_ended(block=True)
        assert status is not None
        return status

    def close(self) -> None:
        for sock in (self._ctl, self._in, self._out, self._err, self._relayed):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.close()


class KeeperChannel:
    """The channel calls `jobs/attach.pump` makes, over a `KeeperExec`'s socket pairs."""

    def __init__(self, proc: KeeperExec) -> None:
        self._proc = proc
        self._ended = {"out": False, "err": False}

    def _ready(self, sock: socket.socket, which: str) -> bool:
        return not self._ended[which] and bool(select.select([sock], [], [], 0)[0])

    def recv_ready(self) -> bool:
        if not self._ready(self._proc._out, "out"):
            return False
        if self._proc._out.recv(1, socket.MSG_PEEK):
            return True
        self._ended["out"] = True
        return False

    def recv_stderr_ready(self) -> bool:
        if not self._ready(self._proc._err, "err"):
            return False
        if self._proc._err.recv(1, socket.MSG_PEEK):
            return True
        self._ended["err"] = True
        return False

    def recv(self, size: int) -> bytes:
        return self._proc._out.recv(size)

    def recv_stderr(self, size: int) -> bytes:
        return self._proc._err.recv(size)

    def sendall(self, data: bytes) -> None:
        self._proc._in.sendall(data)

    def shutdown_write(self) -> None:
        self._proc.stdin.close()

    def exit_status_ready(self) -> bool:
        return self._proc.status_if_ended(block=False) is not None

    @property
    def eof_received(self) -> bool:
        return all(self._ended.values())

    @property
    def closed(self) -> bool:
        return self._proc._status == -1

    def recv_exit_status(self) -> int:
        return self._proc.wait()

    def get_transport(self) -> KeeperChannel:
        return self

    def is_active(self) -> bool:
        return self._proc._status != -1

    def wait_fds(self) -> list[socket.socket]:
        """What `pump` waits on: the streams not yet ended, and the control stream until it ended."""
        socks = [sock for sock, which in ((self._proc._out, "out"), (self._proc._err, "err")) if not self._ended[which]]
        return socks + ([self._proc._ctl] if self._proc._status is None else [])

    def close(self) -> None:
        self._proc.close()


def _relay(conn: socket.socket, far: list[socket.socket], ctl: socket.socket) -> None:
    """The relay's reading side: the keeper's frames into the local socket pairs; our stdin into frames."""
    stdin_far, stdout_far, stderr_far = far
    lock = threading.Lock()

    def send_stdin() -> None:
        try:
            while data := stdin_far.recv(1 << 16):
                with lock:
                    wire.send_frame(conn, wire.STDIN, data)
            with lock:
                wire.send_frame(conn, wire.STDIN_END)
        except OSError:
            pass

    threading.Thread(target=send_stdin, daemon=True).start()
    sinks = {wire.STDOUT: stdout_far, wire.STDERR: stderr_far}
    ends = {wire.STDOUT_END: stdout_far, wire.STDERR_END: stderr_far}
    try:
        while (frame := wire.recv_frame(conn)) is not None:
            kind, payload = frame
            if kind in sinks:
                with contextlib.suppress(OSError):  # our reader left: drop the rest, as a closed pipe would
                    sinks[kind].sendall(payload)
            elif kind in ends:
                with contextlib.suppress(OSError):
                    ends[kind].shutdown(socket.SHUT_WR)
            elif kind == wire.CONTROL:
                wire.send_frame(ctl, wire.CONTROL, payload)
                break
    except (OSError, wire.WireError):
        pass
    finally:
        for sock in (stdout_far, stderr_far, ctl):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        conn.close()
