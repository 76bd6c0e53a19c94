"""`agent serve`: many agent commands over one long-lived process, with no remote shell per command.

The connection keeper (the client's `cli/keeper/remote_mux.py`) starts this once per connection, through the
login shell like any agent command; afterwards each agent command it is asked for starts here, as a child of
this process, from the interpreter this process runs on (`sys.executable`: found once, never again through
the login shell's PATH or a version manager's shim), and its streams travel as frames on this process's
stdin and stdout:

    frame = kind (1 byte) + id (4 bytes, big-endian) + length (4 bytes, big-endian) + payload

    in:   S  start    payload: JSON {"argv": [flags..., "-c", start, agent_path, command, args...]}
          I  stdin data         i  stdin closed        K  the caller went away: close the child's pipes
    out:  O  stdout data        o  stdout ended
          R  stderr data        r  stderr ended
          X  exited   payload: the exit status as decimal text (-signal when killed by one)
          H  hello    (id 0, once, first) payload: this interpreter's path: the keeper waits for it

`$HOME` at the start of an argument is this user's home, as the shell would have expanded it. When this
process's stdin ends (the connection closed), it exits; children that are still running are left to what
their closed pipes do to them, as when an SSH channel closes. Python 3.8, stdlib only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import threading

HEADER = struct.Struct(">cII")
CHUNK = 1 << 16


class _Out:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream = sys.stdout.buffer

    def send(self, kind: bytes, ident: int, payload: bytes = b"") -> None:
        with self._lock:
            self._stream.write(HEADER.pack(kind, ident, len(payload)) + payload)
            self._stream.flush()


def _read_exact(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _pump(source, out: _Out, ident: int, data_kind: bytes, end_kind: bytes) -> None:
    try:
        while True:
            chunk = source.read1(CHUNK) if hasattr(source, "read1") else source.read(CHUNK)
            if not chunk:
                break
            out.send(data_kind, ident, chunk)
    except (OSError, ValueError):
        pass
    out.send(end_kind, ident)


def _start(out: _Out, ident: int, argv: list, children: dict) -> None:
    home = os.path.expanduser("~")
    args = [home + arg[len("$HOME") :] if arg.startswith("$HOME") else arg for arg in argv]
    try:
        command = _own_agent_command(args)
        child: _ForkedAgent | subprocess.Popen
        if command is not None:
            child = _ForkedAgent(command, home)
        else:
            child = subprocess.Popen(
                [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=home
            )
    except OSError as exc:
        out.send(b"R", ident, f"wb-agent: cannot start: {exc}\n".encode())
        out.send(b"o", ident)
        out.send(b"r", ident)
        out.send(b"X", ident, b"127")
        return
    children[ident] = child
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, out, ident, b"O", b"o"), daemon=True),
        threading.Thread(target=_pump, args=(child.stderr, out, ident, b"R", b"r"), daemon=True),
    ]
    for pump in pumps:
        pump.start()

    def finish() -> None:
        for pump in pumps:
            pump.join()
        status = child.wait()
        children.pop(ident, None)
        out.send(b"X", ident, str(status).encode())

    threading.Thread(target=finish, daemon=True).start()


def _own_agent_command(args: list) -> list | None:
    """The agent command's own argv when `args` start this very agent (same bundle, same entry), else None:
    then it runs in a fork of this process, which has the agent imported already, not in a new interpreter."""
    if "-c" not in args:
        return None
    at = args.index("-c")
    if len(args) < at + 4 or "from weatherballoon.remote.agent import main" not in args[at + 1]:
        return None
    return args[at + 3 :] if args[at + 2] == sys.path[0] else None


class _ForkedAgent:
    """An agent command in a child forked from `serve`: the `subprocess.Popen` calls `_start` makes."""

    def __init__(self, command: list, cwd: str) -> None:
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            _run_forked(command, cwd, (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r))
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
        self.stdin = os.fdopen(stdin_w, "wb")
        self.stdout = os.fdopen(stdout_r, "rb")
        self.stderr = os.fdopen(stderr_r, "rb")
        self._status: int | None = None

    def wait(self) -> int:
        if self._status is None:
            _, status = os.waitpid(self.pid, 0)
            self._status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self._status


def _close_inherited() -> None:
    """Every descriptor but 0 to 2, as `close_fds` would: other commands' pipes must reach EOF without us."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        os.closerange(3, 4096)
        return
    for name in names:
        if name.isdigit() and int(name) > 2:
            with contextlib.suppress(OSError):
                os.close(int(name))


def _text_stream(fd: int, mode: str, like):
    """A stream over `fd` encoded as this interpreter's own standard stream `like` is."""
    raw = io.FileIO(fd, mode, closefd=False)
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=like.encoding, errors=like.errors, line_buffering=fd == 2)


def _run_forked(command: list, cwd: str, ends: tuple, others: tuple) -> None:
    code = 1
    try:
        for fd in others:
            os.close(fd)
        for target, fd in enumerate(ends):
            os.dup2(fd, target)
            os.close(fd)
        _close_inherited()
        os.chdir(cwd)
        sys.stdin = _text_stream(0, "r", sys.__stdin__)
        sys.stdout = _text_stream(1, "w", sys.__stdout__)
        sys.stderr = _text_stream(2, "w", sys.__stderr__)
        from .agent import main

        code = main(command)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _close_stdin(child) -> None:
    with contextlib.suppress(OSError):
        child.stdin.close()


def _close_outputs(child) -> None:
    for stream in (child.stdout, child.stderr):
        with contextlib.suppress(OSError):
            stream.close()


# What the keeper's commands run, imported before any thread starts: each fork has it already, the modules
# a command imports only when it needs them included (a sync's apply, a job's supervisor).
PRELOADED = ("run", "follow", "status", "list", "signal", "sync-scan", "sync-run")
PRELOADED_PACKAGES = ("weatherballoon.remote.jobs", "weatherballoon.remote.sync")


def _preload() -> None:
    import importlib
    import pkgutil

    from .agent import COMMANDS

    names = [COMMANDS[name].split(":")[0] for name in PRELOADED]
    for package in PRELOADED_PACKAGES:
        with contextlib.suppress(Exception):
            found = importlib.import_module(package)
            names += [f"{package}.{info.name}" for info in pkgutil.iter_modules(found.__path__)]
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def serve_main(argv: list) -> int:
    _preload()
    out = _Out()
    source = sys.stdin.buffer
    children: dict = {}
    out.send(b"H", 0, os.fsencode(sys.executable))
    while True:
        head = _read_exact(source, HEADER.size)
        if not head:
            return 0
        kind, ident, size = HEADER.unpack(head)
        payload = _read_exact(source, size) if size else b""
        child = children.get(ident)
        if kind == b"S":
            _start(out, ident, list(json.loads(payload.decode())["argv"]), children)
        elif kind == b"I" and child is not None:
            try:
                child.stdin.write(payload)
                child.stdin.flush()
            except OSError:
                pass
        elif kind == b"i" and child is not None:
            _close_stdin(child)
        elif kind == b"K" and child is not None:
            _close_stdin(child)
            # Closing a pipe that a pump thread is reading waits for that read to return (the file's lock),
            # which for a quiet child is its next write: never here, or the next command waits for it.
            threading.Thread(target=_close_outputs, args=(child,), daemon=True).start()
