"""The connection keeper end to end: the real `wb` binary, a real sshd, the keeper as a detached process
(DESIGN §5a; docs/supervision.md, "Leases follow commands")."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import sshd
from tests.support.other_user import OTHER_PYTHON, TRY_CONNECT, as_user
from tests.support.project import Project
from tests.support.waiting import wait_for


def _keep(project: Project, minutes: str = "1", **extra: str) -> None:
    project.extra_env.update({"WB_KEEP_CONNECTION_MINUTES": minutes, **extra})


def _warm(project: Project) -> int:
    """Run once so that a keeper starts; return its pid once it listens."""
    first = project.wb("run", "-q", "--", "true")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: project.keeper_pids(), 20, "the keeper listens")
    (pid,) = project.keeper_pids()
    return pid


@pytest.mark.parametrize("relay", ["0", "1"], ids=["fd-passing", "relay"])
def test_second_run_goes_through_the_keeper_byte_exact(project: Project, relay: str) -> None:
    _keep(project, WB_KEEPER_RELAY=relay)
    _warm(project)
    payload = bytes(range(256)) * 4096 + b"\x00tail"
    (project.root / "blob.bin").write_bytes(payload)
    script = "import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d); sys.stderr.write('e%d' % len(d))"
    result = project.wb(
        "-v", "run", "--", "python3", "-c", f"cat=open('blob.bin','rb').read(); {script}", input=payload
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert b"using the connection keeper" in result.stderr
    assert result.stderr.endswith(f"e{len(payload)}".encode())
    code = project.wb("run", "-q", "--", "exit 7")
    assert code.returncode == 7


def test_the_command_imports_no_ssh_library_when_the_keeper_is_warm(project: Project) -> None:
    _keep(project)
    _warm(project)
    result, imported = project.imports_of("-m", "weatherballoon.cli", "run", "--", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi\n"
    assert "weatherballoon.cli.keeper.client" in imported
    assert not {name for name in imported if name.split(".")[0] in ("paramiko", "cryptography", "nacl", "bcrypt")}


def test_disconnect_ends_the_keeper_and_the_next_run_connects_directly(project: Project) -> None:
    _keep(project)
    pid = _warm(project)
    result = project.wb("disconnect", "--all")
    assert result.returncode == 0, result.stderr
    assert b"ended the connection kept for" in result.stderr
    wait_for(lambda: pid not in project.keeper_pids(), 10, "the keeper ended")
    again = project.wb("-v", "run", "--", "echo", "ok")
    assert again.returncode == 0 and again.stdout == b"ok\n"
    assert b"no connection keeper for" in again.stderr


def test_a_dead_keepers_socket_falls_back_to_a_direct_connection(project: Project) -> None:
    _keep(project)
    from weatherballoon.cli.keeper.lock import held

    pid = _warm(project)
    os.kill(pid, signal.SIGKILL)
    (lock,) = (project.runtime_dir / "keepers").glob("*.lock")
    wait_for(lambda: not held(lock), 10, "the keeper's last thread ended")
    result = project.wb("-v", "run", "--", "echo", "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"
    assert b"is gone or not yours" in result.stderr
    # Its lock went with it (lock.py): that run started a new keeper, not held off by a stale lock file.
    assert list((project.runtime_dir / "keepers").glob("*.lock"))
    wait_for(lambda: [p for p in project.keeper_pids() if p != pid], 20, "a new keeper")


def test_the_keeper_exits_after_its_idle_window(project: Project) -> None:
    _keep(project, "0.05")  # 3 s
    pid = _warm(project)
    wait_for(lambda: pid not in project.keeper_pids(), 30, "the keeper ended")
    assert not list((project.runtime_dir / "keepers").glob("*.sock"))
    log = project.keeper_log().read_text()
    assert "idle for 3 s: exiting" in log


def test_the_keepers_socket_and_folder_are_private(project: Project) -> None:
    _keep(project)
    _warm(project)
    folder = project.runtime_dir / "keepers"
    assert folder.stat().st_mode & 0o777 == 0o700
    (sock,) = folder.glob("*.sock")
    assert sock.stat().st_mode & 0o777 == 0o600


# --- another local user ----------------------------------------------------------------------------------


def test_another_user_can_neither_connect_nor_read_the_socket(project: Project, other_user: sshd.TestUser) -> None:
    _keep(project)
    _warm(project)
    (sock,) = (project.runtime_dir / "keepers").glob("*.sock")
    project.runtime_dir.chmod(0o755)  # even where the folder above is open, the keepers' own folder is not
    tried = as_user(other_user, "-c", TRY_CONNECT, str(sock))
    assert tried.stdout.strip() == f"refused {errno.EACCES}", tried
    listed = as_user(other_user, "-c", "import os, sys; os.listdir(sys.argv[1])", str(sock.parent))
    assert "PermissionError" in listed.stderr


def test_the_keeper_refuses_another_users_connection_even_through_open_modes(
    project: Project, other_user: sshd.TestUser
) -> None:
    """The uid check stands on its own: with the folder and socket opened up by hand, still no answer."""
    _keep(project)
    _warm(project)
    folder = project.runtime_dir / "keepers"
    (sock,) = folder.glob("*.sock")
    for path, mode in ((project.runtime_dir, 0o755), (folder, 0o755), (sock, 0o777)):
        path.chmod(mode)
    tried = as_user(other_user, "-c", TRY_CONNECT, str(sock))
    # Closed unanswered: an empty read, a reset (the request was left unread) or a broken pipe (closed first).
    unanswered = ("answer b''", f"refused {errno.ECONNRESET}", f"refused {errno.EPIPE}")
    assert tried.stdout.strip() in unanswered, tried
    log = project.keeper_log().read_text()
    assert f"refused a connection from uid {other_user.uid}" in log


_SERVE_AS_OTHER = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4); print('ready', flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b'J' + (14).to_bytes(4, 'big') + b'{"protocol":1}')
"""


def test_a_keeper_that_is_not_the_users_own_is_passed_over(project: Project, other_user: sshd.TestUser) -> None:
    """Someone else's process listening at the keeper's name is never used: the command connects directly."""
    _keep(project)
    pid = _warm(project)
    folder = project.runtime_dir / "keepers"
    (sock,) = folder.glob("*.sock")
    os.kill(pid, signal.SIGKILL)
    sock.unlink()
    planted_dir = Path(tempfile.mkdtemp(prefix="wbp-"))
    planted_dir.chmod(0o777)
    impostor = subprocess.Popen(
        [OTHER_PYTHON, "-I", "-c", _SERVE_AS_OTHER, str(planted_dir / "s")],
        user=other_user.uid,
        group=other_user.gid,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert impostor.stdout is not None and impostor.stdout.readline().strip() == "ready"
        (planted_dir / "s").rename(sock)
        result = project.wb("-v", "run", "--", "echo", "ok")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"ok\n"
        assert f"runs as uid {other_user.uid}, not as you".encode() in result.stderr
    finally:
        impostor.kill()
        impostor.wait()
        shutil.rmtree(planted_dir, ignore_errors=True)


# --- keeper death mid-job --------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_keeper_killed_mid_job_is_a_lost_link_and_loses_no_output(project: Project) -> None:
    _keep(project)
    kill_mid_job_and_check_nothing_is_lost(project, _warm(project))


def kill_mid_job_and_check_nothing_is_lost(project: Project, keeper_pid: int) -> None:
    """Kill the keeper while a job streams: the command reports a lost link word for word as a dropped direct
    connection does (no word of the keeper), and `wb logs` replays the job whole."""
    from tests.e2e.test_faults_ssh import assert_replay_is_whole, start_job, wait_loss_reported

    lines = 20
    run, job_id = start_job(project, lines, 0.2)
    os.kill(keeper_pid, signal.SIGKILL)
    wait_loss_reported(run, job_id, time.monotonic())
    assert run.stderr.endswith(
        f": lost the connection while job {job_id} was running\n"
        f"  hint: the job keeps running; reattach with: wb logs -f {job_id}\n"
    ), run.stderr
    assert "keeper" not in run.stderr
    assert_replay_is_whole(project, job_id, lines)


# --- one remote process per run ----------------------------------------------------------------------------

_COUNTING_RC = """# counts every start of this login shell, and puts a python3 shim first on PATH, as pyenv does
echo shell >> "$HOME/rc-runs"
export PATH="$HOME/shims:$PATH"
"""
_SHIM = """#!/bin/sh
echo call >> "$HOME/shim-calls"
exec /usr/bin/python3 "$@"
"""


@pytest.fixture
def counted_project(tmp_path: Path, ssh_identity: Path) -> Iterator[Project]:
    """A project on an sshd of its own whose login user counts its shell starts and its python3 shim calls."""
    from tests.support.project import make_project

    parent = Path(tempfile.mkdtemp(prefix="wb-test-homes-"))
    user = sshd.TestUser.create(parent)
    (user.home / "shims").mkdir()
    (user.home / "shims" / "python3").write_text(_SHIM)
    (user.home / "shims" / "python3").chmod(0o755)
    (user.home / ".bashrc").write_text(_COUNTING_RC + (user.home / ".bashrc").read_text())
    for path in (user.home / "shims", user.home / "shims" / "python3", user.home / ".bashrc"):
        user.chown(path)
    host = sshd.SshdHost(tmp_path / "sshd", user, ssh_identity).start()
    project = make_project(tmp_path, host)
    try:
        yield project
    finally:
        project.stop_keepers()
        host.stop()
        user.delete()
        shutil.rmtree(parent, ignore_errors=True)


def _count(project: Project, name: str) -> int:
    assert project.host is not None
    path = project.host.user.home / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_keeper_warm_run_starts_no_remote_shell_and_no_shim(counted_project: Project) -> None:
    project = counted_project
    _keep(project)
    _warm(project)
    warm = project.wb("run", "-q", "--", "true")  # the keeper starts its agent serve process (one shell, once)
    assert warm.returncode == 0, warm.stderr
    shells, shims = _count(project, "rc-runs"), _count(project, "shim-calls")
    (project.root / "changed.txt").write_text("a change to sync\n")
    for _ in range(3):
        result = project.wb("run", "--", "sh", "-c", "echo out; echo err >&2; exit 4")
        assert (result.returncode, result.stdout) == (4, b"out\n"), result.stderr
        assert result.stderr.endswith(b"err\n")
    assert (_count(project, "rc-runs"), _count(project, "shim-calls")) == (shells, shims)
    log = project.keeper_log().read_text()
    assert "agent serve runs on /usr/bin/python3" in log  # the shim resolved once, to the real interpreter


def test_a_stale_keeper_is_stopped_and_passed_over(project: Project) -> None:
    """A keeper that speaks another protocol (an older wb) is asked to stop; the command connects itself."""
    import json
    import socket
    import threading

    _keep(project)
    pid = _warm(project)
    (sock_path,) = (project.runtime_dir / "keepers").glob("*.sock")
    os.kill(pid, signal.SIGKILL)
    sock_path.unlink()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.listen(4)
    asked: list[str] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                head = conn.recv(5)
                request = json.loads(conn.recv(int.from_bytes(head[1:], "big")))
                asked.append(request["op"])
                reply = json.dumps({"protocol": 0}).encode()
                conn.sendall(b"J" + len(reply).to_bytes(4, "big") + reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = project.wb("-v", "run", "--", "echo", "ok")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"ok\n"
        assert b"is stale: stopping it, connecting directly" in result.stderr
        thread.join(10)
        assert asked == ["info", "stop"]
    finally:
        listener.close()


# --- commands racing to a machine with no keeper ------------------------------------------------------------


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_commands_racing_with_no_keeper_start_exactly_one(project: Project, transport: str) -> None:
    """Four runs at once, no keeper yet: each starts one only while none holds the machine's lock (lock.py),
    so one keeper listens, and every run's output is whole."""
    _keep(project, WB_KEEPER_TRANSPORT=transport)
    writer = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 64 + b'\\x00run%s'); sys.stderr.write('e%s')"
    runs = [project.popen("run", "--no-sync", "--", "python3", "-c", writer % (n, n)) for n in range(4)]
    for n, run in enumerate(runs):
        out, err = run.communicate(timeout=90)
        assert run.returncode == 0, err
        assert out == bytes(range(256)) * 64 + b"\x00run%d" % n
        assert err.endswith(b"e%d" % n)
    folder = project.runtime_dir / "keepers"
    found = f"*.{'sock' if transport == 'unix' else 'tcp'}"
    wait_for(lambda: len(project.keeper_pids()) == 1 and len(list(folder.glob(found))) == 1, 20, "one keeper")
    time.sleep(1.0)  # a second keeper would still be connecting: give it time to show itself
    assert len(project.keeper_pids()) == 1
    assert len(list(folder.glob(found))) == 1
    after = project.wb("-v", "run", "--no-sync", "--", "echo", "ok")
    assert after.returncode == 0 and after.stdout == b"ok\n", after.stderr
    assert b"using the connection keeper" in after.stderr
