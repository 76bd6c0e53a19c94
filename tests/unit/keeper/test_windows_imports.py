"""The connection keeper on a platform without POSIX (Windows): its modules import with no POSIX-only module
or name at hand, choose loopback TCP, and the loopback handshake runs through their Windows branches.

A Python here cannot be Windows; a fresh interpreter is made to look like one before anything of ours is
imported: `sys.platform` says win32, the POSIX-only modules cannot be imported, and the POSIX-only names
(Unix sockets, descriptor passing, peer credentials, uids, SIGHUP/SIGPIPE) are gone. Any of them that a
keeper module reaches for at import, or on the paths run below, fails the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_AS_WINDOWS = r"""
import os, signal, socket, subprocess, sys, tempfile, threading, json, hashlib, hmac, secrets, select, struct
import contextlib, itertools, shlex, stat, dataclasses, pathlib, typing, types
import fcntl as host_fcntl

# Windows' msvcrt.locking, as far as lock.py uses it (a non-blocking lock of one byte, and its release), made of
# this host's flock: this is not really Windows.
msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_NBLCK = 0, 2
def locking(fd, mode, nbytes):
    host_fcntl.flock(fd, host_fcntl.LOCK_UN if mode == msvcrt.LK_UNLCK else host_fcntl.LOCK_EX | host_fcntl.LOCK_NB)
msvcrt.locking = locking

sys.platform = "win32"
for name in ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource"):
    sys.modules[name] = None  # import fails
sys.modules["msvcrt"] = msvcrt
for module, names in (
    (socket, ("AF_UNIX", "SCM_RIGHTS", "send_fds", "recv_fds", "SO_PEERCRED")),
    (os, ("getuid", "geteuid", "getgid", "setsid", "getpgid", "killpg", "fork")),
    (signal, ("SIGHUP", "SIGPIPE", "SIGKILL")),
):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
# The Popen flags Windows has (and Linux does not): DETACHED_PROCESS, CREATE_NEW_PROCESS_GROUP.
subprocess.DETACHED_PROCESS, subprocess.CREATE_NEW_PROCESS_GROUP = 0x00000008, 0x00000200
os.environ.pop("WB_RUNTIME_DIR", None)
os.environ["LOCALAPPDATA"] = sys.argv[1]

import weatherballoon.cli.keeper as keeper_package
from weatherballoon.cli.keeper import bridge, client, lock, loopback, paths, remote_exec, remote_mux, server, wire

assert client.supported()
assert wire.transport() == "tcp" and not wire.fd_passing()
folder = paths.keeper_dir()
assert folder == pathlib.Path(sys.argv[1]) / "weatherballoon" / "keepers", folder
path = paths.socket_path("k" * 20)
assert path.suffix == ".tcp", path
assert client._detached() == {"creationflags": 0x00000208}

try:
    client.ask(path, {"op": "info"})
    raise AssertionError("a keeper that holds no lock was tried")
except ConnectionRefusedError:
    pass
held = lock.take(lock.lock_path("k" * 20, folder))  # as the keeper does first (server.main)
assert held is not None and lock.take(lock.lock_path("k" * 20, folder)) is None
assert lock.held(lock.lock_path("k" * 20, folder))
listener, secret = loopback.listen(path)
def keeper():
    conn, _ = listener.accept()
    with conn:
        if loopback.admit(conn, secret):
            wire.recv_json(conn)
            wire.send_json(conn, {"protocol": wire.PROTOCOL, "pid": os.getpid()})
thread = threading.Thread(target=keeper, daemon=True)
thread.start()
print(json.dumps(client.ask(path, {"op": "info"})))
assert loopback.owned_by_me(path)
print(json.dumps([name for name in ("fcntl", "termios", "pwd", "grp") if sys.modules.get(name) is not None]))
lock.release(held)
assert not lock.held(lock.lock_path("k" * 20, folder))
"""


def test_the_keeper_modules_import_and_shake_hands_with_no_posix(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _AS_WINDOWS, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    answer, posix_loaded = result.stdout.splitlines()
    assert answer.startswith('{"protocol": 1, "pid": ')
    assert posix_loaded == "[]"
    (record,) = (tmp_path / "weatherballoon" / "keepers").glob("*.tcp")
    assert record.name == "k" * 20 + ".tcp"
