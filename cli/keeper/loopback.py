"""The keeper's transport where Unix sockets or descriptor passing are missing (Windows): TCP on 127.0.0.1,
and a secret only this user can read.

The keeper listens on an ephemeral loopback port and writes `<key>.tcp` in the keepers' folder (0600 in the
0700 folder on POSIX; on Windows the folder is under %LOCALAPPDATA%, private to the user by its default
ACL): the port, a fresh 32-byte secret, and its pid. Loopback TCP cannot say who the peer is, so both sides
prove they know the secret before anything else, and neither ever sends it:

    command -> keeper   "A" + client nonce (32 bytes)
    keeper -> command   keeper nonce (32 bytes) + HMAC-SHA256(secret, "keeper" + both nonces)
    command -> keeper   HMAC-SHA256(secret, "command" + both nonces)

(fixed sizes, no frames: a peer that starts with anything else, such as a request, is closed unanswered).

A command that cannot prove it is refused unanswered; a keeper that cannot (a port taken over by another
user's process once the keeper died) is passed over as "not yours". Then the protocol of `wire.py` follows,
with the streams relayed as frames (no descriptors cross TCP).

`WB_KEEPER_TRANSPORT=tcp` selects this transport where Unix sockets exist too (the tests, on Linux).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import stat
import sys
from pathlib import Path

SUFFIX = ".tcp"  # also wire.LOOPBACK_SUFFIX, which may not import this module (tests/unit/keeper)

HOST = "127.0.0.1"
NONCE = 32
PROOF = 32  # HMAC-SHA256
AUTH = b"A"


def _proof(secret: bytes, who: bytes, client_nonce: bytes, keeper_nonce: bytes) -> bytes:
    return hmac.new(secret, who + client_nonce + keeper_nonce, hashlib.sha256).digest()


def listen(path: Path) -> tuple[socket.socket, bytes]:
    """A listener on an ephemeral loopback port, and its secret, written to `path` (0600) under a temporary
    name and renamed into place: a command never finds a half-written file."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(16)
    secret = secrets.token_bytes(32)
    record = {"port": listener.getsockname()[1], "secret": secret.hex(), "pid": os.getpid()}
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        os.write(fd, json.dumps(record).encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return listener, secret


def owned_by_me(path: Path) -> bool:
    """Whether the keeper's file at `path` still names this process (a newer keeper may have replaced it)."""
    try:
        return int(str(read(path)["pid"])) == os.getpid()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read(path: Path) -> dict[str, object]:
    """The keeper's record; on POSIX only from a file of this user's that nobody else may read."""
    with open(path, "rb") as file:
        if sys.platform != "win32":
            info = os.fstat(file.fileno())
            if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
                raise PermissionError(f"the keeper's file {path} is not private to you")
        record = json.loads(file.read())
    if not isinstance(record, dict):
        raise ValueError(f"the keeper's file {path} is not a keeper's record")
    return record


def connect(path: Path, timeout_s: float) -> socket.socket:
    """A connection to the keeper that `path` names, once it has proven it knows the secret, and we have. A
    keeper that no longer holds its lock (lock.py) is gone, killed: its port is not even tried (on Windows a
    connection to a closed loopback port is refused only after about two seconds of retries)."""
    from .lock import SUFFIX, held

    if not held(path.with_suffix(SUFFIX)):
        raise ConnectionRefusedError(f"the keeper of {path.name} is gone (it holds no lock)")
    record = read(path)
    secret = bytes.fromhex(str(record["secret"]))
    where = f"{HOST}:{record['port']}"
    sock = socket.create_connection((HOST, int(str(record["port"]))), timeout=timeout_s)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_nonce = secrets.token_bytes(NONCE)
        sock.sendall(AUTH + client_nonce)
        answer = _recv_exact(sock, NONCE + PROOF)
        if answer is None:
            raise PermissionError(f"the keeper at {where} did not prove itself: not yours")
        keeper_nonce, proof = answer[:NONCE], answer[NONCE:]
        if not hmac.compare_digest(proof, _proof(secret, b"keeper", client_nonce, keeper_nonce)):
            raise PermissionError(f"the keeper at {where} does not know its secret: not yours")
        sock.sendall(_proof(secret, b"command", client_nonce, keeper_nonce))
    except BaseException:
        sock.close()
        raise
    return sock


def admit(conn: socket.socket, secret: bytes, timeout_s: float = 5.0) -> bool:
    """In the keeper: whether the command at `conn` knows the secret (nothing is answered to one that does not
    start as the handshake does)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(timeout_s)
    try:
        opening = _recv_exact(conn, len(AUTH) + NONCE)
        if opening is None or not opening.startswith(AUTH):
            return False
        client_nonce, keeper_nonce = opening[len(AUTH) :], secrets.token_bytes(NONCE)
        conn.sendall(keeper_nonce + _proof(secret, b"keeper", client_nonce, keeper_nonce))
        answer = _recv_exact(conn, PROOF)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            conn.settimeout(None)
    expected = _proof(secret, b"command", client_nonce, keeper_nonce)
    return answer is not None and hmac.compare_digest(answer, expected)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` bytes, never more (the protocol of wire.py follows); None when the peer left first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
