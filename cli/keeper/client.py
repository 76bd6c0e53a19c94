"""A command's side of the keeper: use a warm connection if one is held, start a keeper if none is.

`session_for` gives a `KeeperSession` when a keeper of this user holds a connection to exactly this target
with exactly these options; commands then run remote processes through it as through an `SshSession`,
and import no SSH library. A keeper that is gone (no socket, or nobody listening), stale (another protocol
version), or not this user's, is passed over: the command connects directly, and says so under -v.

Nothing here imports the server side; `start_keeper` runs it as a separate, detached process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConnectError
from . import wire

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..providers.records import Instance, SshTarget
    from ..session.connection import ConnectOptions, RemoteExec, SshSession
    from ..session.process import Session


def supported() -> bool:
    """Keepers run on every platform (a Unix socket, or loopback TCP where there is none: `wire.transport`);
    never inside a keeper itself, whose connections are direct."""
    return os.environ.get("WB_IN_KEEPER") != "1"


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


def ask(path: Path, request: dict[str, object]) -> dict[str, object] | None:
    with wire.connect_to_keeper(path) as sock:
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
    """Start a detached keeper for this machine (it connects on its own, as this command did), and the
    warm client (fork_server.py) for the commands that follow, unless one is listening."""
    if not supported() or idle_s <= 0:
        return
    from .paths import KeeperDirError, keeper_dir

    try:
        folder = keeper_dir()
    except KeeperDirError as exc:
        verbose(f"not starting a connection keeper: {exc.message}")
        return
    key = key_for(instance.target, options)
    from .lock import held, lock_path

    if held(lock_path(key, folder)):  # one is starting (or runs, its socket not yet in place): no second
        verbose(f"a connection keeper for {instance.id} is already starting")
        return
    recipe = {"cwd": os.getcwd(), "instance": asdict(instance), "key": key, "idle_s": idle_s}
    pid = _spawn_detached("weatherballoon.cli.keeper.server", recipe, folder / f"{key}.log")
    verbose(f"started a connection keeper for {instance.id} (pid {pid}, {idle_s:g} s idle)")
    start_warm_client(folder, idle_s)


LOCK_STALE_S = 30.0


def start_warm_client(folder: Path, idle_s: float) -> None:
    from .warm_names import warm_socket_path

    if os.name != "posix" or not wire.fd_passing() or os.environ.get("WB_WARM_CLIENT") == "0":
        return  # it forks, and hands descriptors over: POSIX only
    path = warm_socket_path()
    if path is None:
        return
    if path.exists():
        try:
            ask(path, {"op": "info"})
            return
        except (OSError, wire.WireError, ValueError):
            pass  # gone: start another
    lock = path.with_suffix(".starting")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if time.time() - lock.stat().st_mtime < LOCK_STALE_S:
            return  # another command is starting one
        lock.unlink(missing_ok=True)
        return
    os.close(fd)  # the warm client removes it once it listens (about a second), so racing commands start one
    pid = _spawn_detached("weatherballoon.cli.keeper.fork_server", {"idle_s": idle_s}, folder / "warm.log")
    verbose(f"started the warm client (pid {pid}, {idle_s:g} s idle)")


def _spawn_detached(module: str, recipe: dict[str, object], log_path: Path) -> int:
    """Run `python -m module` in a session of its own, its recipe on stdin, its stderr appended to a log."""
    env = {**os.environ, "WB_IN_KEEPER": "1"}
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log_fd,
            close_fds=True,
            env=env,
            **_detached(),
        )
    finally:
        os.close(log_fd)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(recipe).encode())
    proc.stdin.close()
    return proc.pid


def _detached() -> dict[str, Any]:
    """Popen's words for a process that outlives this command and its terminal: a session of its own on
    POSIX; on Windows no console and a process group of its own (Ctrl+C in the terminal does not reach it)."""
    if sys.platform == "win32":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        return {"creationflags": flags}
    return {"start_new_session": True}


def running_keepers() -> list[tuple[Path, dict[str, object]]]:
    """Every keeper of this user that answers, with what it says of itself."""
    from .loopback import SUFFIX as TCP_SUFFIX
    from .paths import SUFFIX, keeper_dir

    found = []
    folder = keeper_dir()
    for path in sorted([*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{TCP_SUFFIX}")]):
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
        from .remote_exec import TunnelVerdict

        self.tunnel = TunnelVerdict()

    @property
    def alive(self) -> bool:
        return self._direct.alive if self._direct is not None else not self._lost

    def exec(self, command: str) -> RemoteExec:
        if self._direct is not None:
            return self._direct.exec(command)
        try:
            from .remote_exec import KeeperExec

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
