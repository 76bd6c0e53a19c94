"""The keeper process: holds one machine's SSH connection warm for commands that follow.

Started detached, in a session of its own, by the first command to the machine (`client.start_keeper`),
with its recipe on stdin: the folder and environment the command ran in (so the config loads the same), the
machine (`Instance`), and the idle window. It opens the connection exactly as the command would, through
the provider's `session` (direct TCP, or whatever path the provider takes), and reopens it the same way when
it has dropped (a network change, a tunnel that expired) at the next command.

It listens on `<key>.sock` (0600, in the private folder of `paths.py`) and refuses any peer whose uid is not
its own; or, where the transport is loopback TCP (Windows), on 127.0.0.1, and refuses any peer that cannot
prove it knows the secret in `<key>.tcp` (loopback.py). It serves `exec`, `info` and `stop`. It renews no
lease and claims nothing: leases follow commands, and each command renews its own while it is attached. It
exits once no command has been attached for the idle window, when told to stop, or when the connection
cannot be reopened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, cast

from . import bridge, loopback, remote_mux, wire
from .lock import lock_path, take
from .paths import keeper_dir, socket_path

if TYPE_CHECKING:
    from paramiko import Channel

    from ..providers.base import Provider
    from ..providers.records import Instance
    from ..session.connection import SshSession
    from .remote_mux import VirtualChannel

ACCEPT_POLL_S = 0.5


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} keeper[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


class Keeper:
    def __init__(self, provider: Provider, instance: Instance, *, key: str, idle_s: float) -> None:
        self.provider = provider
        self.instance = instance
        self.key = key
        self.idle_s = idle_s
        self.path = socket_path(key)
        self._lock = threading.Lock()
        self._attached = 0
        self._last_detach = time.monotonic()
        self._stop = threading.Event()
        self._session_lock = threading.Lock()
        self._mux_lock = threading.Lock()
        self._secret: bytes | None = None  # loopback TCP's (loopback.py); None on a Unix socket
        self._muxes: dict[tuple[int, tuple[str, tuple[str, ...], str, str]], remote_mux.RemoteMux] = {}

    def session(self) -> SshSession:
        """The held connection; reopened through the provider when it has dropped."""
        with self._session_lock:
            # Never the keeper's own session here (WB_IN_KEEPER): the provider's direct connection.
            return cast("SshSession", self.provider.session(self.instance))

    def open(self, command: str) -> tuple[SshSession, Channel | VirtualChannel]:
        """A channel running `command`: inside the connection's `agent serve` when it is an agent command
        line (remote_mux.py), else an exec channel of its own."""
        session = self.session()
        line = remote_mux.agent_line(command)
        if line is not None:
            mux = self._mux_for(session, line)
            if mux is not None:
                with contextlib.suppress(OSError):
                    return session, mux.run(line)
        # The channel itself, not `session.exec`: a RemoteExec's stdin file, once dropped, sends EOF.
        channel = session.channel()
        channel.exec_command(command)
        return session, channel

    def _mux_for(self, session: SshSession, line: remote_mux.AgentLine) -> remote_mux.RemoteMux | None:
        key = (id(session), line.serve_key)
        with self._mux_lock:
            mux = self._muxes.get(key)
            if mux is not None and mux.alive:
                return mux
            try:
                mux = remote_mux.RemoteMux.start(session.channel, line)
            except Exception as exc:  # a failing connection: the exec channel below reports it
                log(f"agent serve did not start: {exc}")
                mux = None
            if mux is None:  # not installed yet, say: exec channels, as without a keeper; tried again next time
                return None
            log(f"agent serve runs on {mux.interpreter}")
            self._muxes[key] = mux
            return mux

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._attached else time.monotonic() - self._last_detach

    def listen(self) -> socket.socket:
        """Bind under a temporary name, make it 0600, then rename into place: a client never finds a socket
        others could use, and never one whose keeper has no connection yet. (Loopback TCP: loopback.py.)"""
        if self.path.suffix == loopback.SUFFIX:
            listener, self._secret = loopback.listen(self.path)
            return listener
        listener, self._inode = wire.listen_private(self.path, 16)
        return listener

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(ACCEPT_POLL_S)
        while not self._stop.is_set():
            if self.idle_for() >= self.idle_s:
                log(f"idle for {self.idle_s:g} s: exiting")
                break
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.close(listener)

    def close(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if self._secret is not None:
                if loopback.owned_by_me(self.path):
                    os.unlink(self.path)
            elif os.stat(self.path).st_ino == self._inode:  # still ours, not a newer keeper's
                os.unlink(self.path)
        listener.close()
        with contextlib.suppress(Exception):
            self.provider.close()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self._secret is not None:
                if not loopback.admit(conn, self._secret):
                    log("refused a connection that did not prove it knows the keeper's secret")
                    return
            elif (uid := wire.peer_uid(conn)) != os.getuid():
                log(f"refused a connection from uid {uid}")
                return
            request = wire.recv_json(conn)
            if request is None:
                return
            op = request.get("op")
            if op == "info":
                wire.send_json(conn, self.info())
            elif op == "stop":
                wire.send_json(conn, {"stopping": True})
                self._stop.set()
            elif op == "exec":
                self._exec(conn, request)
            else:
                wire.send_json(conn, {"error": f"unknown request {op!r}"})
        except (OSError, wire.WireError, ValueError) as exc:
            log(f"a command's connection failed: {exc}")
        finally:
            conn.close()

    def info(self) -> dict[str, object]:
        return {
            "protocol": wire.PROTOCOL,
            "pid": os.getpid(),
            "instance": self.instance.id,
            "target": self.instance.target.label,
            "idle_s": self.idle_s,
            "idle_for_s": round(self.idle_for(), 1),
            "attached": self._attached,
        }

    def _exec(self, conn: socket.socket, request: dict[str, object]) -> None:
        relay = bool(request.get("relay")) or self._secret is not None  # no descriptors cross TCP
        fds = None if relay else wire.recv_fds(conn, 3)
        with self._lock:
            self._attached += 1
        try:
            try:
                session, channel = self.open(str(request["command"]))
            except Exception as exc:  # the command falls back to its own connection, and says why
                for fd in fds or ():
                    os.close(fd)
                wire.send_json(conn, {"error": str(exc) or type(exc).__name__})
                return
            wire.send_json(conn, {"started": True})
            tunnel = getattr(session, "tunnel", None)
            bridge.join(conn, channel, fds, lambda: bool(getattr(tunnel, "ended_by_endpoint", False)))
        finally:
            with self._lock:
                self._attached -= 1
                self._last_detach = time.monotonic()


def _instance(raw: dict[str, object]) -> Instance:
    from ..providers.records import Instance, SshTarget

    fields = dict(raw)
    fields["target"] = SshTarget(**fields["target"])  # type: ignore[arg-type]
    fields["running_jobs"] = tuple(fields.get("running_jobs") or ())  # type: ignore[arg-type]
    return Instance(**fields)  # type: ignore[arg-type]


def main() -> int:
    recipe = json.loads(sys.stdin.buffer.read())
    for name in ("SIGINT", "SIGHUP", "SIGPIPE"):  # Windows has only the first
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    # Held (never closed) until this process ends: a keeper raced to the same machine exits here (lock.py).
    if take(lock_path(recipe["key"], keeper_dir())) is None:
        log("another connection keeper holds this machine's connection: exiting")
        return 0
    os.chdir(recipe["cwd"])
    from ..config.loader import load_config
    from ..providers.registry import provider_class

    loaded = load_config()
    provider = provider_class(loaded.config.provisioner.kind)(loaded.config, loaded, say=log)
    keeper = Keeper(provider, _instance(recipe["instance"]), key=recipe["key"], idle_s=float(recipe["idle_s"]))
    try:
        keeper.session()
    except Exception as exc:  # nothing to keep; the command that started us has its own
        log(f"cannot connect to {keeper.instance.id}: {exc}")
        return 1
    listener = keeper.listen()
    log(f"holding {keeper.instance.id} ({keeper.instance.target.label}) for up to {keeper.idle_s:g} s idle")
    keeper.serve(listener)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # daemon threads (the heartbeat) must not hold the exit
