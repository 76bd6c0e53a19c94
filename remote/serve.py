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


def _close_stdin(child) -> None:
    with contextlib.suppress(OSError):
        child.stdin.close()


def _close_outputs(child) -> None:
    for stream in (child.stdout, child.stderr):
        with contextlib.suppress(OSError):
            stream.close()


def serve_main(argv: list) -> int:
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
