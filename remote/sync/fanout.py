"""Fan a synced root out from rank 0 to the other machines of a gang, inside the cluster.

The laptop syncs the project once, to rank 0 (the ordinary sync). Rank 0 then serves exactly what that
sync recorded (its record: the project's files, none of the job's outputs) as a tar stream, and each other
rank fetches it straight from rank 0 over the cluster network. The laptop's uplink carries one copy.

    fanout-serve ROOT [--clients N]          (a per-run token on stdin, one line)
        Listens on a free port on all addresses and prints `port P` on stdout at once; serves the stream
        to N clients that present the token, then prints `{"served": N, "bytes": B}` and exits 0. Exits
        1 when fewer came within SERVE_WINDOW_S; 2 on a malformed command line; 6 for a root that may
        never be a sync root; 8 when ROOT has no sync record (nothing was synced there).
    fanout-fetch ROOT --from HOST:PORT       (the token on stdin, one line)
        Receives the stream into ROOT: writes each file (atomically, mode and mtime kept), deletes what the
        last sync or fetch recorded there that is not in the stream, and records the stream's paths and
        owner as this root's sync record, so a later sync straight to this machine sends only changes.
        Prints `{"files": F, "bytes": B, "deleted": D}`. Exits 4 when the stream is cut or malformed, 3 when
        the disk refuses, 6 as above.

Paths are checked as every sync checks them (`paths`): relative, normalized, never through a symlinked
directory. Stdlib only.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import socket
import stat
import sys
import tarfile
import threading
import time

from ..agent_io import (
    SYNC_DISK_EXIT,
    SYNC_REFUSED_ROOT_EXIT,
    SYNC_STREAM_EXIT,
    UsageError,
    operands,
    say,
    usage_error,
)
from .paths import SafeDirs, UnsafePath, check_relpath
from .state import RecordLock, read_record, resolve_root, root_refusal, save_record

SERVE_WINDOW_S = 300.0
TOKEN_WAIT_S = 10.0
NO_RECORD_EXIT = 8
OWNER_MEMBER = ".wb-fanout-owner"  # the first member: the record's owner and label, JSON


def _token() -> bytes:
    return sys.stdin.buffer.readline().strip()


def _root(text: str, command: str) -> str | None:
    root = resolve_root(text)
    refusal = root_refusal(root)
    if refusal:
        say(f"{command}: refusing {root}: {refusal}")
        return None
    return root


# --- rank 0 ---------------------------------------------------------------------------------------------


def serve_main(argv: list) -> int:
    try:
        options, (root_arg,) = operands(argv, ("ROOT",), valued=("clients",))
        clients_text = options.get("clients", "1")
        if not clients_text.isdigit() or int(clients_text) < 1:
            raise UsageError(f"--clients wants 1 or more, got {clients_text!r}")
    except UsageError as exc:
        return usage_error("fanout-serve", exc, "fanout-serve ROOT [--clients N]")
    root = _root(root_arg, "fanout-serve")
    if root is None:
        return SYNC_REFUSED_ROOT_EXIT
    record = read_record(root)
    if record is None:
        say(f"fanout-serve: {root} has no sync record: sync to this machine first")
        return NO_RECORD_EXIT
    token = _token()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("", 0))
    listener.listen(64)
    os.write(1, f"port {listener.getsockname()[1]}\n".encode("ascii"))
    served = [0, 0]  # clients, bytes
    lock = threading.Lock()
    threads: list = []
    deadline = time.monotonic() + SERVE_WINDOW_S
    listener.settimeout(1.0)
    with RecordLock(root):
        # Until N clients got the stream: a connection without the token takes no one's place.
        while served[0] < int(clients_text) and time.monotonic() < deadline:
            try:
                sock, _ = listener.accept()
            except socket.timeout:  # noqa: UP041 (3.8: not TimeoutError)
                continue
            thread = threading.Thread(target=_serve_one, args=(sock, token, root, record, served, lock), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    listener.close()
    os.write(1, (json.dumps({"served": served[0], "bytes": served[1]}) + "\n").encode("ascii"))
    if served[0] < int(clients_text):
        say(f"fanout-serve: {served[0]} of {clients_text} ranks fetched within {SERVE_WINDOW_S:g} s")
        return 1
    return 0


class _Counting:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        self.count += len(data)
        return len(data)


def _serve_one(
    sock: socket.socket, token: bytes, root: str, record: object, served: list, lock: threading.Lock
) -> None:
    sock.settimeout(TOKEN_WAIT_S)
    try:
        given = sock.makefile("rb").readline().strip()
        if not hmac.compare_digest(given, token):
            return
        sock.settimeout(None)
        out = _Counting(sock)
        dirs = SafeDirs(root)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            owner = json.dumps({"owner": record.owner, "label": record.label}).encode()  # type: ignore[attr-defined]
            info = tarfile.TarInfo(OWNER_MEMBER)
            info.size = len(owner)
            tar.addfile(info, io.BytesIO(owner))
            for path in sorted(record.paths):  # type: ignore[attr-defined]
                try:
                    check_relpath(path)
                    if not dirs.parent_exists(path):
                        continue
                    tar.add(dirs.abspath(path), arcname=path, recursive=False)
                except (OSError, UnsafePath):
                    continue  # gone or changed since the sync: the rank gets what is there
        with lock:
            served[0] += 1
            served[1] += out.count
    except OSError:
        pass
    finally:
        sock.close()


# --- the other ranks ------------------------------------------------------------------------------------


def fetch_main(argv: list) -> int:
    try:
        options, (root_arg,) = operands(argv, ("ROOT",), valued=("from",))
        host, _, port = options.get("from", "").rpartition(":")
        if not host or not port.isdigit():
            raise UsageError("--from wants HOST:PORT")
    except UsageError as exc:
        return usage_error("fanout-fetch", exc, "fanout-fetch ROOT --from HOST:PORT")
    root = _root(root_arg, "fanout-fetch")
    if root is None:
        return SYNC_REFUSED_ROOT_EXIT
    token = _token()
    try:
        sock = socket.create_connection((host, int(port)), timeout=30)
    except OSError as exc:
        say(f"fanout-fetch: cannot reach rank 0 at {host}:{port}: {exc}")
        return SYNC_STREAM_EXIT
    sock.settimeout(120)
    counted = [0]
    try:
        sock.sendall(token + b"\n")
        stream = sock.makefile("rb")
        with RecordLock(root):
            report = _receive(root, stream, counted)
    except (tarfile.TarError, UnsafePath, ValueError, EOFError, socket.timeout) as exc:  # noqa: UP041 (3.8: not TimeoutError)
        say(f"fanout-fetch: the stream from {host}:{port} was cut or malformed: {exc}")
        return SYNC_STREAM_EXIT
    except OSError as exc:
        say(f"fanout-fetch: writing under {root} failed: {exc}")
        return SYNC_DISK_EXIT
    finally:
        sock.close()
    os.write(1, (json.dumps(report) + "\n").encode("ascii"))
    return 0


def _receive(root: str, stream: object, counted: list) -> dict:
    dirs = SafeDirs(root)
    received: set = set()
    owner = {"owner": "", "label": ""}
    files = size = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            if member.name == OWNER_MEMBER:
                handle = tar.extractfile(member)
                owner = json.loads(handle.read()) if handle is not None else owner
                continue
            path = check_relpath(member.name)
            dirs.ensure_parent(path)
            target = dirs.abspath(path)
            if member.isdir():
                _make_dir(target, path)
            elif member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                _write_file(target, handle, member)
                files += 1
                size += member.size
            elif member.issym():
                _replace_with_link(target, member.linkname)
            else:
                continue  # devices, fifos, hard links: a sync never sends them
            received.add(path)
    deleted = _prune(root, dirs, received)
    save_record(root, received, str(owner.get("owner", "")), str(owner.get("label", "")))
    return {"files": files, "bytes": size, "deleted": deleted}


def _make_dir(target: str, path: str) -> None:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        os.mkdir(target)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(path, "a file or link is in the way of a directory")


def _write_file(target: str, handle: object, member: tarfile.TarInfo) -> None:
    temp = f"{target}.wb-fanout-{os.getpid()}"
    with open(temp, "wb") as out:
        while True:
            chunk = handle.read(1 << 20)  # type: ignore[attr-defined]
            if not chunk:
                break
            out.write(chunk)
    os.chmod(temp, member.mode & 0o7777)
    os.utime(temp, (member.mtime, member.mtime))
    if os.path.isdir(target) and not os.path.islink(target):
        raise UnsafePath(member.name, "a directory is in the way of a file")
    os.replace(temp, target)


def _replace_with_link(target: str, link: str) -> None:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath(target, "a directory is in the way of a link")
        os.unlink(target)
    os.symlink(link, target)


def _prune(root: str, dirs: SafeDirs, received: set) -> int:
    """Delete what this root's last record holds that the stream did not: files first, then empty folders."""
    previous = read_record(root)
    if previous is None:
        return 0
    deleted = 0
    for path in sorted(previous.paths - received, key=lambda item: item.count("/"), reverse=True):
        try:
            check_relpath(path)
            if not dirs.parent_exists(path):
                continue
            target = dirs.abspath(path)
            if os.path.isdir(target) and not os.path.islink(target):
                os.rmdir(target)  # only when empty: a job's files in it stay
            else:
                os.unlink(target)
            deleted += 1
        except (OSError, UnsafePath):
            continue
    return deleted
