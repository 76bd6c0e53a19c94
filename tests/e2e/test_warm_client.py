"""The warm client end to end (keeper/fork_server.py, keeper/thin_client.py): the real `wb` console script,
a real sshd, the keeper and the warm client as detached processes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
from pathlib import Path

from tests.support import sshd
from tests.support.other_user import TRY_CONNECT, as_user
from tests.support.project import WB, Project
from tests.support.waiting import wait_for


def _warm(project: Project, minutes: str = "1") -> int:
    """Run once so that a keeper and the warm client start; the warm client's pid once it listens."""
    project.extra_env["WB_KEEP_CONNECTION_MINUTES"] = minutes
    first = project.wb("run", "-q", "--", "true")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: project.warm_client_pids() and list((project.runtime_dir / "keepers").glob("*.warm")), 30,
             "the warm client listens")  # fmt: skip
    (pid,) = project.warm_client_pids()
    return pid


def test_a_warm_run_is_forked_from_the_warm_client_byte_exact(project: Project) -> None:
    _warm(project)
    payload = bytes(range(256)) * 4096 + b"\x00tail"
    script = "import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d); sys.stderr.write('e%d' % len(d))"
    result = project.wb("-v", "run", "--", "python3", "-c", script, input=payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert b"running in the warm client (pid " in result.stderr
    assert b"using the connection keeper" in result.stderr
    assert result.stderr.endswith(f"e{len(payload)}".encode())
    assert project.wb("run", "-q", "--", "exit 7").returncode == 7


def test_the_command_process_imports_neither_click_nor_an_ssh_library(project: Project) -> None:
    _warm(project)
    result, imported = project.imports_of(WB, "run", "--", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi\n"
    assert "weatherballoon.cli.keeper.thin_client" in imported
    heavy = ("click", "pydantic", "paramiko", "cryptography", "boto3", "botocore", "rich")
    assert not {name for name in imported if name.split(".")[0] in heavy}


def test_the_command_runs_with_the_callers_folder_and_environment(project: Project) -> None:
    _warm(project)
    (project.root / "sub").mkdir()
    (project.root / "sub" / "here.txt").write_text("in sub\n")
    project.extra_env["WB_QUIET"] = "1"  # read by the child from the environment it was handed
    result = project.wb("run", "--", "cat here.txt; pwd", cwd=project.root / "sub")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == b"in sub"
    assert result.stdout.splitlines()[1].endswith(b"/sub")
    assert result.stderr == b""  # quiet: not even the sync line


def test_kill_9_of_the_command_ends_its_child_and_the_job_runs_on(project: Project) -> None:
    warm = _warm(project)
    proc = project.popen("run", "--", "echo begin; sleep 3; echo end; exit 5")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"begin\n"
    children = _children_of(warm)
    assert children, "the run is a child of the warm client"
    proc.kill()
    proc.wait()
    wait_for(lambda: not set(children) & set(_children_of(warm)), 10, "the child died with its command")
    jobs = json.loads(project.wb("jobs", "--json", check=True).stdout)
    assert jobs[0]["state"] == "running"
    followed = project.wb("logs", "-f", jobs[0]["id"], timeout=30)
    assert followed.returncode == 5
    assert followed.stdout == b"begin\nend\n"


def test_kill_9_of_the_warm_client_mid_job_loses_nothing(project: Project) -> None:
    warm = _warm(project)
    proc = project.popen("run", "--", "echo begin; sleep 2; echo end; exit 3")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"begin\n"
    os.kill(warm, signal.SIGKILL)
    assert proc.wait(timeout=30) == 3
    assert proc.stdout.read() == b"end\n"
    after = project.wb("-v", "run", "--", "echo", "ok")  # its socket is left: passed over, and run here
    assert after.returncode == 0 and after.stdout == b"ok\n", after.stderr
    assert b"running in the warm client" not in after.stderr


def test_ctrl_c_reaches_the_job_through_the_warm_client(project: Project) -> None:
    _warm(project)
    (project.root / "wait.py").write_text("import time\nprint('ready', flush=True)\ntime.sleep(30)\n")
    proc = project.popen("run", "--", "python3", "wait.py")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert b"sent SIGINT" in proc.stderr.read()


def test_a_changed_installation_is_never_served_stale(project: Project, tmp_path: Path) -> None:
    """Any folder on the warm client's sys.path changing (an install, an upgrade) retires it."""
    extra = tmp_path / "site"
    extra.mkdir()
    project.extra_env["PYTHONPATH"] = str(extra)
    warm = _warm(project)
    (extra / "newly_installed.py").write_text("")
    result = project.wb("-v", "run", "--", "echo", "ok")
    assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr
    assert b"not using the warm client (the warm client is out of date (" in result.stderr
    wait_for(lambda: warm not in project.warm_client_pids(), 10, "the stale warm client exited")


def test_the_warm_client_exits_after_its_idle_window(project: Project) -> None:
    warm = _warm(project, "0.05")  # 3 s
    wait_for(lambda: warm not in project.warm_client_pids(), 30, "the warm client ended")
    folder = project.runtime_dir / "keepers"
    assert not list(folder.glob("*.warm"))
    assert "idle for 3 s: exiting" in (folder / "warm.log").read_text()


def test_another_user_can_neither_reach_nor_use_the_warm_client(project: Project, other_user: sshd.TestUser) -> None:
    _warm(project)
    folder = project.runtime_dir / "keepers"
    (sock,) = folder.glob("*.warm")
    assert sock.stat().st_mode & 0o777 == 0o600
    project.runtime_dir.chmod(0o755)
    tried = as_user(other_user, "-c", TRY_CONNECT, str(sock))
    assert tried.stdout.strip() == f"refused {errno.EACCES}", tried
    for path in (folder, sock):
        path.chmod(0o777)  # opened up by hand: the uid check still refuses
    tried = as_user(other_user, "-c", TRY_CONNECT, str(sock))
    assert tried.stdout.strip() in ("answer b''", f"refused {errno.ECONNRESET}", f"refused {errno.EPIPE}"), tried
    assert f"refused a connection from uid {other_user.uid}" in (folder / "warm.log").read_text()


def test_two_commands_at_once_each_get_their_own_child(project: Project) -> None:
    _warm(project)
    first = project.popen("run", "--", "echo one; sleep 1; echo one-end")
    second = project.wb("run", "--", "echo two; exit 4")
    assert second.returncode == 4 and second.stdout == b"two\n", second.stderr
    out, _ = first.communicate(timeout=30)
    assert first.returncode == 0 and out == b"one\none-end\n"


def _children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_closed_stdin_or_a_deleted_folder_is_never_handed_over(project: Project) -> None:
    """A closed descriptor 0 would be taken by the command's own socket and passed on as the job's stdin; a
    deleted folder cannot be entered by the child: neither is handed over, and the second is a clear error."""
    _warm(project)
    closed = subprocess.run(["sh", "-c", f'exec "{WB}" -v run -- echo no-stdin <&-'], cwd=project.root,
                            env=project.env(), capture_output=True, timeout=60)  # fmt: skip
    assert closed.returncode == 0 and closed.stdout == b"no-stdin\n", closed.stderr
    assert b"running in the warm client" not in closed.stderr
    gone = project.root / "gone"
    gone.mkdir()
    deleted = subprocess.run(["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "{WB}" run -- true'],
                             env=project.env(), capture_output=True, timeout=60)  # fmt: skip
    assert deleted.returncode == 2, deleted.stderr
    assert b"the current folder is gone or unreadable" in deleted.stderr and b"internal error" not in deleted.stderr
