"""The connection keeper over loopback TCP, the transport of platforms with no Unix sockets or descriptor
passing (Windows; cli/keeper/loopback.py), forced here with WB_KEEPER_TRANSPORT=tcp: the real `wb` binary,
a real sshd, the keeper as a detached process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import threading
from pathlib import Path

import pytest

from tests.support.project import Project
from tests.support.waiting import wait_for


def _keep(project: Project, minutes: str = "1") -> None:
    project.extra_env.update({"WB_KEEP_CONNECTION_MINUTES": minutes, "WB_KEEPER_TRANSPORT": "tcp"})


def _warm(project: Project) -> tuple[int, Path]:
    """Run once so that a keeper starts; its pid and its file (port and secret) once it listens."""
    first = project.wb("run", "-q", "--", "true")
    assert first.returncode == 0, first.stderr
    folder = project.runtime_dir / "keepers"
    wait_for(lambda: project.keeper_pids() and list(folder.glob("*.tcp")), 20, "the keeper listens")
    (pid,) = project.keeper_pids()
    (record,) = folder.glob("*.tcp")
    return pid, record


def _frame(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


def _recv_all(sock: socket.socket) -> bytes:
    """Everything the peer sent before it closed (a reset: it closed with our request unread)."""
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_runs_through_the_keeper_over_tcp_byte_exact(project: Project) -> None:
    _keep(project)
    _warm(project)
    assert not list((project.runtime_dir / "keepers").glob("*.sock"))
    payload = bytes(range(256)) * 4096 + b"\x00no newline at the end"
    script = "import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d); sys.stderr.write('e%d' % len(d))"
    result = project.wb("-v", "run", "--no-sync", "--", "python3", "-c", script, input=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert b"using the connection keeper" in result.stderr
    assert result.stderr.endswith(f"e{len(payload)}".encode())
    code = project.wb("run", "-q", "--no-sync", "--", "sh", "-c", "printf out; printf err >&2; exit 7")
    assert (code.returncode, code.stdout, code.stderr) == (7, b"out", b"err")


def test_the_secret_file_is_private_and_names_a_loopback_port(project: Project) -> None:
    _keep(project)
    pid, record = _warm(project)
    assert record.stat().st_mode & 0o777 == 0o600
    assert record.parent.stat().st_mode & 0o777 == 0o700
    content = json.loads(record.read_text())
    assert content["pid"] == pid and len(bytes.fromhex(content["secret"])) == 32
    with socket.create_connection(("127.0.0.1", content["port"]), timeout=5):
        pass
    record.chmod(0o644)  # a file others could read is never trusted: the command connects directly
    result = project.wb("-v", "run", "--no-sync", "--", "echo", "ok")
    assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr
    assert b"is not private to you" in result.stderr


def test_a_peer_without_the_secret_is_refused_unanswered(project: Project) -> None:
    _keep(project)
    _, record = _warm(project)
    content = json.loads(record.read_text())
    port = content["port"]
    request = _frame(b"J", b'{"op": "info"}')

    # No secret at all: straight to a request.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        assert _recv_all(sock) == b""

    # The handshake, with a wrong secret: the keeper proves itself, then hears a wrong proof and closes.
    wrong = secrets.token_bytes(32)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        nonce = secrets.token_bytes(32)
        sock.sendall(b"A" + nonce)
        reply = sock.recv(64, socket.MSG_WAITALL)
        keeper_nonce, proof = reply[:32], reply[32:]
        right = bytes.fromhex(content["secret"])
        assert hmac.compare_digest(proof, hmac.new(right, b"keeper" + nonce + keeper_nonce, hashlib.sha256).digest())
        forged = hmac.new(wrong, b"command" + nonce + keeper_nonce, hashlib.sha256).digest()
        sock.sendall(forged + request)
        assert _recv_all(sock) == b""

    log = next(record.parent.glob("*.log")).read_text()
    assert log.count("refused a connection that did not prove it knows the keeper's secret") == 2
    ok = project.wb("run", "-q", "--no-sync", "--", "echo", "still serving")
    assert ok.returncode == 0 and ok.stdout == b"still serving\n", ok.stderr


def test_a_port_that_cannot_prove_the_secret_is_passed_over(project: Project) -> None:
    """Something else listens on the keeper's port (here: the record names its port, and the keeper's lock is
    held, as while the keeper lives): it cannot prove the secret, so the command never sends it a byte of the
    job, and connects directly."""
    import fcntl

    _keep(project)
    pid, record = _warm(project)
    content = json.loads(record.read_text())
    os.kill(pid, signal.SIGKILL)
    lock_fd = os.open(record.with_suffix(".lock"), os.O_RDWR)

    def locked() -> bool:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its last thread has not ended yet
            return False
        return True

    wait_for(locked, 10, "the killed keeper's lock is free, and ours")
    impostor = socket.socket()
    impostor.bind(("127.0.0.1", 0))
    impostor.listen(4)
    heard: list[bytes] = []

    def serve() -> None:
        conn, _ = impostor.accept()
        with conn:
            heard.append(conn.recv(4096))
            conn.sendall(secrets.token_bytes(64))  # a nonce and a "proof" made without the secret
            heard.append(_recv_all(conn))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        record.write_text(json.dumps({**content, "port": impostor.getsockname()[1]}))
        result = project.wb("-v", "run", "--no-sync", "--", "echo", "ok")
        assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr
        assert b"does not know its secret: not yours" in result.stderr
        thread.join(10)
        assert len(heard[0]) == 1 + 32 and heard[1] == b""  # a nonce, then nothing: no proof, no request
    finally:
        impostor.close()
        os.close(lock_fd)


def test_a_dead_keepers_record_is_not_tried_and_is_removed(project: Project) -> None:
    """A keeper killed with -9 leaves its record; its lock went with it, so its port is not even tried."""
    _keep(project)
    pid, record = _warm(project)
    from weatherballoon.cli.keeper.lock import held

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not held(record.with_suffix(".lock")), 10, "the keeper's last thread ended")
    result = project.wb("-v", "run", "--no-sync", "--", "echo", "ok")
    assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr
    assert b"is gone (it holds no lock)" in result.stderr
    wait_for(lambda: [p for p in project.keeper_pids() if p != pid], 20, "a new keeper")
    new_record = json.loads(record.read_text())
    assert new_record["pid"] != pid


@pytest.mark.timeout(90)
def test_keeper_killed_mid_job_over_tcp_is_a_lost_link_and_loses_no_output(project: Project) -> None:
    from tests.e2e.test_keeper_ssh import kill_mid_job_and_check_nothing_is_lost

    _keep(project)
    pid, _ = _warm(project)
    kill_mid_job_and_check_nothing_is_lost(project, pid)


def test_the_keeper_over_tcp_exits_after_its_idle_window(project: Project) -> None:
    _keep(project, "0.05")  # 3 s
    pid, record = _warm(project)
    wait_for(lambda: pid not in project.keeper_pids(), 30, "the keeper ended")
    assert not record.exists()
    log = next(record.parent.glob("*.log")).read_text()
    assert "idle for 3 s: exiting" in log


def test_disconnect_ends_a_keeper_over_tcp(project: Project) -> None:
    _keep(project)
    pid, record = _warm(project)
    result = project.wb("disconnect", "--all")
    assert result.returncode == 0, result.stderr
    assert b"ended the connection kept for" in result.stderr
    wait_for(lambda: pid not in project.keeper_pids(), 10, "the keeper ended")
    assert not record.exists()
