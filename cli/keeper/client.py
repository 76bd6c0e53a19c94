"""A command's side of the keeper: use a warm connection if one is held, start a keeper if none is.

`session_for` gives a `KeeperSession` when a keeper of this user holds a connection to exactly this target
with exactly these options; commands then run remote processes through it as through an `SshSession`,
and import no SSH library. A keeper that is gone (no socket, or nobody listening), stale (another protocol
version), or not this user's, is passed over: the command connects directly, and says so under -v.

Nothing here imports the server side; `start_keeper` runs it as a separate, detached process, on POSIX only.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from ..errors import ConnectError
from . import wire

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..providers.records import Instance, SshTarget
    from ..session.connection import ConnectOptions, RemoteExec, SshSession
    from ..session.process import Session

CONNECT_TIMEOUT_S = 2.0


def supported() -> bool:
    """Keepers run where Unix sockets and sessions exist; elsewhere every command connects directly."""
    return os.name == "posix" and hasattr(socket, "AF_UNIX") and os.environ.get("WB_IN_KEEPER") != "1"


def verbose(message: str) -> None:
    if os.environ.get("WB_VERBOSE") == "1":
        sys.stderr.write(f"wb: {message}\n")
        sys.stderr.flush()


def options_json(options: ConnectOptions) -> dict[str, object]:
    """The connect options as the keeper's name sees them: how the machine is reached (an Instance Connect
    tunnel and pushed keys included, by what they are), never the AWS collaborators that do it."""
    from dataclasses import fields

    raw: dict[str, object] = {item.name: getattr(options, item.name) for item in fields(options)}
    raw["known_hosts"] = str(options.known_hosts)
    raw.pop("instance_connect", None)
    reach = options.instance_connect
    if reach is not None:
        described: dict[str, object] = {item.name: getattr(reach, item.name) for item in fields(reach) if item.compare}
        if reach.tunnel is not None:
            described["tunnel"] = asdict(reach.tunnel)
        raw["instance_connect"] = described
    return raw


def key_for(target: SshTarget, options: ConnectOptions) -> str:
    from .paths import keeper_key

    return keeper_key(asdict(target), options_json(options))


def _connect(path: Path) -> socket.socket:
    """A connection to the keeper at `path`, after checking that it runs as this user."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(str(path))
        uid = wire.peer_uid(sock)
    except BaseException:
        sock.close()
        raise
    if uid != os.getuid():
        sock.close()
        raise PermissionError(f"the keeper at {path} runs as uid {uid}, not as you")
    sock.settimeout(None)
    return sock


def ask(path: Path, request: dict[str, object]) -> dict[str, object] | None:
    with _connect(path) as sock:
        wire.send_json(sock, request)
        return wire.recv_json(sock)


def session_for(
    target: SshTarget, options: ConnectOptions, open_direct: Callable[[], SshSession] | None = None
) -> KeeperSession | None:
    """The keeper's session for this target, or None (said under -v) when there is no usable keeper."""
    if not supported():
        return None
    from .paths import KeeperDirError, socket_path

    try:
        path = socket_path(key_for(target, options))
    except KeeperDirError as exc:
        verbose(f"not using a connection keeper: {exc.message}")
        return None
    if not path.exists():
        verbose(f"no connection keeper for {target.label}: connecting directly")
        return None
    try:
        info = ask(path, {"op": "info"})
    except (OSError, wire.WireError, ValueError) as exc:
        verbose(f"the connection keeper for {target.label} is gone or not yours ({exc}): connecting directly")
        if isinstance(exc, ConnectionRefusedError):
            with contextlib.suppress(OSError):
                path.unlink()  # a socket nobody listens on: its keeper died
        return None
    if not info or info.get("protocol") != wire.PROTOCOL:
        verbose(f"the connection keeper for {target.label} is stale: stopping it, connecting directly")
        with contextlib.suppress(OSError, wire.WireError, ValueError):
            ask(path, {"op": "stop"})
        return None
    verbose(f"using the connection keeper for {target.label} (pid {info.get('pid')})")
    return KeeperSession(path, target, options, open_direct)


def shared_session(
    instance: Instance, options: ConnectOptions, keep_minutes: float, open_direct: Callable[[], SshSession]
) -> Session:
    """The keeper's connection to the machine when one is held; else a direct one, and a keeper started
    for the commands that follow (when `keep_minutes` is above 0)."""
    if keep_minutes <= 0 or not supported():
        return open_direct()
    kept = session_for(instance.target, options, open_direct)
    if kept is not None:
        return kept
    session = open_direct()
    start_keeper(instance, options, keep_minutes * 60)
    return session


def start_keeper(instance: Instance, options: ConnectOptions, idle_s: float) -> None:
    """Start a detached keeper for this machine (it connects on its own, as this command did)."""
    if not supported() or idle_s <= 0:
        return
    from .paths import KeeperDirError, keeper_dir

    try:
        folder = keeper_dir()
    except KeeperDirError as exc:
        verbose(f"not starting a connection keeper: {exc.message}")
        return
    key = key_for(instance.target, options)
    recipe = {"cwd": os.getcwd(), "instance": asdict(instance), "key": key, "idle_s": idle_s}
    env = {**os.environ, "WB_IN_KEEPER": "1"}
    log_fd = os.open(folder / f"{key}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "weatherballoon.cli.keeper.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log_fd,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    finally:
        os.close(log_fd)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(recipe).encode())
    proc.stdin.close()
    verbose(f"started a connection keeper for {instance.id} (pid {proc.pid}, {idle_s:g} s idle)")


def running_keepers() -> list[tuple[Path, dict[str, object]]]:
    """Every keeper of this user that answers, with what it says of itself."""
    from .paths import SUFFIX, keeper_dir

    found = []
    for path in sorted(keeper_dir().glob(f"*{SUFFIX}")):
        try:
            info = ask(path, {"op": "info"})
        except (OSError, wire.WireError, ValueError):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if info:
            found.append((path, info))
    return found


class KeeperSession:
    """An `SshSession` look-alike whose remote processes run on the keeper's connection."""

    transport = None  # no SSH transport in this process

    def __init__(
        self,
        path: Path,
        target: SshTarget,
        options: ConnectOptions,
        open_direct: Callable[[], SshSession] | None = None,
    ) -> None:
        self.path = path
        self.target = target
        self.options = options
        self._open_direct = open_direct
        self._direct: SshSession | None = None
        self._lost = False
        # What the keeper said of the last remote process that lost its link: whether an Instance Connect
        # Endpoint ended the tunnel (`jobs/resume.py` reads `session.tunnel.ended_by_endpoint`).
        self.tunnel = TunnelVerdict()

    @property
    def alive(self) -> bool:
        return self._direct.alive if self._direct is not None else not self._lost

    def exec(self, command: str) -> RemoteExec:
        if self._direct is not None:
            return self._direct.exec(command)
        try:
            return cast("RemoteExec", KeeperExec.start(self.path, command, self.tunnel))
        except (OSError, wire.WireError, ValueError, ConnectError) as exc:
            why = exc.message if isinstance(exc, ConnectError) else str(exc)
            if self._open_direct is None:
                self._lost = True
                message = f"connection lost: the connection keeper failed: {why}"
                raise ConnectError(message, host=self.target.label) from exc
        # Nothing was started: the keeper went away (or lost the machine) between finding it and now.
        verbose(f"the connection keeper for {self.target.label} failed ({why}): connecting directly")
        self._direct = self._open_direct()
        return self._direct.exec(command)

    def run(self, command: str, *, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        from ..session.connection import run_to_end

        return run_to_end(self.exec(command), stdin)

    @property
    def silent_for_s(self) -> float | None:
        return self._direct.silent_for_s if self._direct is not None else None

    def close(self) -> None:
        """The connection is the keeper's: only a direct one opened as a fallback is closed."""
        if self._direct is not None:
            self._direct.close()

    def __enter__(self) -> KeeperSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        conn = _connect(path)
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
