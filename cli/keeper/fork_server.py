"""The warm client (POSIX only): wb imported once, forked into each command that follows.

A warm `wb run` spent most of its client time importing wb (click, pydantic, the providers, the session
code) before it did anything. This process imports all that once, then for each command forks a child that
becomes the command: it takes the command's stdin, stdout and stderr (passed as descriptors), its folder,
environment, umask and arguments, and runs wb's own entry point (`entry.run_here`). The command process
itself (`thin_client.py`) only passes its descriptors, forwards signals, and exits with the child's status.

- Found like a keeper: `<digest>.warm` (0600) in the keepers' folder (0700), named for the interpreter
  and the installed wb, so two installations never share one; a peer of another uid is refused.
- Never stale: it stamps every wb module file it imported and every folder on `sys.path` (an install or an
  upgrade changes the folder) and refuses a request after any stamp changed; it then exits, and the command
  runs the ordinary way.
- The child is the command: when the command process ends first (killed with -9, say), the child kills
  itself at once, as the command would have died with it; nothing else about a run changes.
- It exits after its idle window with no command running, or when told to stop (`wb disconnect`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from . import wire
from .warm_names import PACKAGE_ROOT, warm_socket_path

# What a warm `wb run` imports beyond `cli.main`; imported here, once, so that no child pays for them.
PRELOAD = (
    "weatherballoon.cli.app",
    "weatherballoon.cli.commands.run",
    "weatherballoon.cli.commands.jobs",
    "weatherballoon.cli.commands.logs",
    "weatherballoon.cli.commands.status",
    "weatherballoon.cli.config.loader",
    "weatherballoon.cli.providers.registry",
    "weatherballoon.cli.providers.ssh",
    "weatherballoon.cli.providers.aws",
    "weatherballoon.cli.jobs.run_job",
    "weatherballoon.cli.jobs.attach",
    "weatherballoon.cli.keeper.client",
    "weatherballoon.cli.keeper.remote_exec",
    "weatherballoon.cli.session.prefetch",
    "weatherballoon.cli.session.connection",
    "weatherballoon.cli.sync",
    "paramiko",
    "boto3",
)
REQUEST_TIMEOUT_S = 2.0


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} warm-client[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def preload() -> None:
    from .. import main  # noqa: F401  (click and the command table)

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional part missing here: its children import it themselves
            log(f"not preloaded: {name}: {type(exc).__name__}: {exc}")


def stamps() -> dict[str, int]:
    """What must not change under a warm client: wb's own module files, and the folders packages live in."""
    found: dict[str, int] = {}
    root = str(PACKAGE_ROOT)
    files = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    for path in [*(file for file in files if file and file.startswith(root)), *sys.path]:
        with contextlib.suppress(OSError):
            found[path] = os.stat(path or ".").st_mtime_ns
    return found


class WarmClient:
    def __init__(self, path: Path, idle_s: float) -> None:
        self.path = path
        self.idle_s = idle_s
        self.children: dict[int, socket.socket] = {}
        self.stamps = stamps()
        self.last_active = time.monotonic()
        self.stopping = False

    def stale(self) -> str | None:
        now = stamps()
        for path, stamp in self.stamps.items():
            if now.get(path) != stamp:
                return f"{path} changed"
        return None

    def listen(self) -> socket.socket:
        listener, self.inode = wire.listen_private(self.path, 32)
        return listener

    def serve(self, listener: socket.socket) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select below
        try:
            while not (self.stopping and not self.children):
                if not self.children and time.monotonic() - self.last_active >= self.idle_s:
                    log(f"idle for {self.idle_s:g} s: exiting")
                    break
                readable, _, _ = select.select([listener.fileno(), wake_read], [], [], 1.0)
                if wake_read in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 512)
                self.reap()
                if listener.fileno() in readable and not self.stopping:
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        conn, _ = listener.accept()
                        self.handle(conn, listener, (wake_read, wake_write))
        finally:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self.inode:
                    os.unlink(self.path)
            listener.close()

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.last_active = time.monotonic()
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                wire.send_json(conn, {"exit": code if code >= 0 else 128 - code})
            conn.close()

    def handle(self, conn: socket.socket, listener: socket.socket, wake: tuple[int, int]) -> None:
        keep = False
        try:
            conn.settimeout(REQUEST_TIMEOUT_S)
            uid = wire.peer_uid(conn)
            if uid != os.getuid():
                log(f"refused a connection from uid {uid}")
                return
            request = wire.recv_json(conn)
            if request is None:
                return
            op = request.get("op")
            if op == "info":
                wire.send_json(conn, {"pid": os.getpid(), "idle_s": self.idle_s, "running": len(self.children)})
            elif op == "stop":
                self.stopping = True
                wire.send_json(conn, {"stopping": True})
            elif op == "run":
                fds = wire.recv_fds(conn, 4 if request.get("terminal") else 3)
                why = self.stale()
                if why is not None:
                    log(f"stale ({why}): exiting")
                    self.stopping = True
                    wire.send_json(conn, {"refused": f"the warm client is out of date ({why})"})
                    for fd in fds:
                        os.close(fd)
                    return
                conn.settimeout(None)
                pid = os.fork()
                if pid == 0:
                    become_command(conn, listener, wake, request, fds)
                for fd in fds:
                    os.close(fd)
                self.children[pid] = conn
                self.last_active = time.monotonic()
                keep = True
                wire.send_json(conn, {"pid": pid})
            else:
                wire.send_json(conn, {"error": f"unknown request {op!r}"})
        except (OSError, wire.WireError, ValueError) as exc:
            log(f"a command's connection failed: {exc}")
        finally:
            if not keep:
                conn.close()


def become_command(
    conn: socket.socket, listener: socket.socket, wake: tuple[int, int], request: dict[str, object], fds: list[int]
) -> None:
    """In the forked child: take over the command's streams, folder, environment and arguments, and run wb."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        listener.close()
        for fd in wake:
            os.close(fd)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            os.close(fd)
        if len(fds) > 3:
            from ..session.auth import use_terminal

            use_terminal(fds[3])  # the command's terminal: passphrases are asked there
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(str(request["cwd"]))
        os.umask(int(request["umask"]))  # type: ignore[call-overload]
        environment = request["env"]
        assert isinstance(environment, dict)
        os.environ.clear()
        os.environ.update({str(key): str(value) for key, value in environment.items()})
        argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
        sys.argv = ["wb", *argv]
        reopen_standard_streams()
        from .. import trace

        started = request.get("started")
        trace.restart(float(started) if isinstance(started, (int, float)) else None)
        threading.Thread(target=die_with_command, args=(conn,), name="wb-warm-watch", daemon=True).start()
        from .. import shutdown
        from ..entry import run_here

        shutdown.on_final_exit(lambda final: report_exit(conn, final))
        run_here(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        with contextlib.suppress(Exception):
            os.write(2, f"wb: internal error in the warm client: {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(code)


def reopen_standard_streams() -> None:
    """New stream objects over descriptors 0 to 2, buffered as Python buffers them for what they now are."""
    import io

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        encoding, errors = old.encoding, old.errors
        try:
            tty = os.isatty(fd)
        except OSError:
            tty = False
        binary = open(fd, "rb" if fd == 0 else "wb", buffering=-1, closefd=False)  # noqa: SIM115 (it is sys.stdin etc.)
        stream = io.TextIOWrapper(
            binary,
            encoding=encoding,
            errors="backslashreplace" if fd == 2 else errors,
            line_buffering=tty or fd == 2,
            write_through=fd == 2,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def die_with_command(conn: socket.socket) -> None:
    """The command process holds the other end; it sends nothing more, so an end means it is gone."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def report_exit(conn: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        wire.send_json(conn, {"exit": code})


def main() -> int:
    recipe = json.loads(sys.stdin.buffer.read())
    for number in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)
    os.environ["WB_IN_WARM_CLIENT"] = "1"
    preload()
    path = warm_socket_path()
    if path is None:
        return 1
    server = WarmClient(path, float(recipe["idle_s"]))
    try:
        listener = server.listen()
    finally:
        path.with_suffix(".starting").unlink(missing_ok=True)  # client.start_warm_client's lock
    log(f"serving wb commands for up to {server.idle_s:g} s idle")
    server.serve(listener)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
