"""The keeper's protocol on its socket (Unix, or loopback TCP), shared by the command (client) and the keeper (server).

Every message is a frame: one type byte, a 4-byte big-endian length, the payload.

    client -> keeper   J {"op": "exec", "command": ..., "relay": false}   then, unless relayed, one byte
                       with three descriptors attached (SCM_RIGHTS): the command's stdin, stdout, stderr
                       J {"op": "info"} | J {"op": "stop"}
    keeper -> client   J {"started": true} | J {"error": "..."}            (exec: the channel is open, or why not)
                       J {"exit": N}                                         (after stdout and stderr ended)

Where descriptors cannot be passed (`fd_passing()` is false: Windows, or WB_KEEPER_RELAY=1), the streams
travel as frames on the same socket, byte-exact: I (stdin data), i (stdin closed), O / R (stdout / stderr
data), o / r (stdout / stderr ended). A connection that ends with no exit frame is a lost link: -1, as for
an SSH connection that drops.

Each side checks the other's uid (`peer_uid`) before anything else: only the keeper's own user may use it.
On loopback TCP (`transport()` "tcp": Windows, or WB_KEEPER_TRANSPORT=tcp), where no uid can be asked, each
side proves it knows the keeper's secret instead (loopback.py), and the streams are always relayed.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

TYPE_CHECKING = False  # typing is not imported at run time: a warm command's process imports this
if TYPE_CHECKING:
    from pathlib import Path

PROTOCOL = 1
HEADER = struct.Struct(">cI")
CONTROL, STDIN, STDIN_END, STDOUT, STDOUT_END, STDERR, STDERR_END = (b"J", b"I", b"i", b"O", b"o", b"R", b"r")
FDS_MARK = b"F"
MAX_FRAME = 1 << 20


class WireError(Exception):
    """The peer sent something that is not this protocol, or left mid-frame."""


def transport() -> str:
    """`unix` (a Unix socket, descriptors passed), or `tcp` (loopback.py: loopback TCP and a secret, the streams
    relayed) where Unix sockets or descriptor passing are missing, as on Windows; WB_KEEPER_TRANSPORT=tcp forces
    the latter."""
    if os.environ.get("WB_KEEPER_TRANSPORT") == "tcp" or sys.platform == "win32":
        return "tcp"
    return "unix" if hasattr(socket, "AF_UNIX") and hasattr(socket, "SCM_RIGHTS") else "tcp"


def fd_passing() -> bool:
    """Whether descriptors can be passed here (SCM_RIGHTS); WB_KEEPER_RELAY=1 forces the relay."""
    return hasattr(socket, "send_fds") and transport() == "unix" and os.environ.get("WB_KEEPER_RELAY") != "1"


def send_frame(sock: socket.socket, kind: bytes, payload: bytes = b"") -> None:
    sock.sendall(HEADER.pack(kind, len(payload)) + payload)


def send_json(sock: socket.socket, message: dict[str, object]) -> None:
    send_frame(sock, CONTROL, json.dumps(message).encode())


def recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes, never more (a descriptor message may follow); None at a clean end."""
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            if chunks:
                raise WireError("the peer left in the middle of a frame")
            return None
        chunks += data
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> tuple[bytes, bytes] | None:
    head = recv_exact(sock, HEADER.size)
    if head is None:
        return None
    kind, size = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise WireError(f"a frame of {size} bytes is too long")
    payload = recv_exact(sock, size) if size else b""
    if payload is None:
        raise WireError("the peer left in the middle of a frame")
    return kind, payload


def recv_json(sock: socket.socket) -> dict[str, object] | None:
    frame = recv_frame(sock)
    if frame is None:
        return None
    kind, payload = frame
    if kind != CONTROL:
        raise WireError(f"expected a control frame, got {kind!r}")
    message = json.loads(payload)
    if not isinstance(message, dict):
        raise WireError("a control frame is not an object")
    return message


def send_fds(sock: socket.socket, fds: list[int]) -> None:
    socket.send_fds(sock, [FDS_MARK], fds)


def recv_fds(sock: socket.socket, count: int) -> list[int]:
    data, fds, _flags, _addr = socket.recv_fds(sock, 1, count)
    if data != FDS_MARK or len(fds) != count:
        for fd in fds:
            os.close(fd)
        raise WireError(f"expected {count} descriptors, got {len(fds)}")
    return fds


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket, as the kernel reports it; None when this
    platform has no way to tell (the caller then refuses the peer)."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", raw)[1])
    if sys.platform == "darwin" or "bsd" in sys.platform:
        # getpeereid(3) is LOCAL_PEERCRED at level SOL_LOCAL (0): struct xucred {u_int version; uid_t uid; ...}
        local_peercred, sol_local = 0x001, 0
        raw = sock.getsockopt(sol_local, local_peercred, 76)
        return int(struct.unpack_from("=II", raw)[1])
    return None


CONNECT_TIMEOUT_S = 2.0


def listen_private(path: Path, backlog: int) -> tuple[socket.socket, int]:
    """A Unix socket at `path` that only this user can use, and its inode (to know it is still ours). Bound
    under a temporary name, made 0600, then renamed into place: a client never finds a socket others could
    use, and never one whose server is not ready yet."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(temporary))
    finally:
        os.umask(old_umask)
    os.chmod(temporary, 0o600)
    listener.listen(backlog)
    os.replace(temporary, path)
    return listener, os.stat(path).st_ino


LOOPBACK_SUFFIX = ".tcp"  # the file naming a loopback keeper's port and secret (loopback.py)


def connect_to_keeper(path: Path | str) -> socket.socket:
    """A connection to the keeper at `path`, after checking that it runs as this user (a Unix socket), or
    that it knows the secret in the file at `path` (loopback TCP, loopback.py)."""
    if os.fspath(path).endswith(LOOPBACK_SUFFIX):
        from pathlib import Path

        from . import loopback  # hmac, secrets: not for the Unix socket's commands (the warm client's above all)

        return loopback.connect(Path(path), CONNECT_TIMEOUT_S)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(str(path))
        uid = peer_uid(sock)
    except BaseException:
        sock.close()
        raise
    if uid != os.getuid():
        sock.close()
        raise PermissionError(f"the keeper at {path} runs as uid {uid}, not as you")
    sock.settimeout(None)
    return sock
