"""The connection keeper end to end: the real `wb` binary, a real sshd, the keeper as a detached process
(DESIGN §5a; docs/supervision.md, "Leases follow commands")."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

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
    result = project.wb("-v", "run", "--", "python3", "-c", f"cat=open('blob.bin','rb').read(); {script}", input=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert b"using the connection keeper" in result.stderr
    assert result.stderr.endswith(f"e{len(payload)}".encode())
    code = project.wb("run", "-q", "--", "exit 7")
    assert code.returncode == 7


def test_the_command_imports_no_ssh_library_when_the_keeper_is_warm(project: Project) -> None:
    _keep(project)
    _warm(project)
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "weatherballoon.cli", "run", "--", "echo", "hi"],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi\n"
    imported = {line.split("|")[-1].strip() for line in result.stderr.decode().splitlines() if "|" in line}
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
    pid = _warm(project)
    os.kill(pid, signal.SIGKILL)
    result = project.wb("-v", "run", "--", "echo", "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"
    assert b"is gone or not yours" in result.stderr


def test_the_keeper_exits_after_its_idle_window(project: Project) -> None:
    _keep(project, "0.05")  # 3 s
    pid = _warm(project)
    wait_for(lambda: pid not in project.keeper_pids(), 30, "the keeper ended")
    assert not list((project.runtime_dir / "keepers").glob("*.sock"))
    log = next((project.runtime_dir / "keepers").glob("*.log")).read_text()
    assert "idle for 3 s: exiting" in log


def test_the_keepers_socket_and_folder_are_private(project: Project) -> None:
    _keep(project)
    _warm(project)
    folder = project.runtime_dir / "keepers"
    assert folder.stat().st_mode & 0o777 == 0o700
    (sock,) = folder.glob("*.sock")
    assert sock.stat().st_mode & 0o777 == 0o600
