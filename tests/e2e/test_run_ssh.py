"""`wb run` end to end: the real binary, a real sshd on loopback, the shipped agent (DESIGN §3, §6, §7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.project import Project
from tests.support.sshd import SshdHost


def test_exit_code_and_separate_streams(project: Project) -> None:
    result = project.wb("run", "--", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr.endswith(b"err\n")
    assert b"out" not in result.stderr


def test_argv_with_several_arguments_is_passed_exactly(project: Project) -> None:
    result = project.wb("run", "--", "python3", "-c", "import sys; print(sys.argv[1:])", "a b", "$HOME", "'q'")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"['a b', '$HOME', \"'q'\"]\n"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, 137), (signal.SIGTERM, 143), (signal.SIGSEGV, 139)])
def test_signal_death_is_128_plus_n(project: Project, sig: int, code: int) -> None:
    result = project.wb("run", "--", f"kill -{int(sig)} $$")
    assert result.returncode == code


def test_exit_255_from_the_command_is_its_own(project: Project) -> None:
    assert project.wb("run", "--", "exit 255").returncode == 255


def test_binary_round_trip_is_byte_exact(project: Project, tmp_path: Path) -> None:
    payload = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    (project.root / "blob.bin").write_bytes(payload)
    result = project.wb("run", "-q", "--", "cat", "blob.bin", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert result.stderr == b""


def test_stdin_is_forwarded_when_not_a_terminal(project: Project) -> None:
    data = b"line one\nline two\n\x00\xff binary\n" * 1000
    count = "import sys; d=sys.stdin.buffer.read(); print(len(d))"
    result = project.wb("run", "-q", "--", "python3", "-c", count, input=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{len(data)}\n".encode()


def test_env_and_working_directory(project: Project) -> None:
    result = project.wb("run", "-q", "-e", "GREETING=hi there", "--", 'echo "$GREETING"; pwd')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "hi there"
    assert lines[1] == str(project.remote_root)


def test_max_time_stops_the_job_with_124_and_says_why(project: Project) -> None:
    started = time.monotonic()
    result = project.wb("run", "--max-time", "1s", "--", "echo started; sleep 30; echo never")
    assert result.returncode == 124
    assert time.monotonic() - started < 20
    assert result.stdout == b"started\n"
    assert b"max-time" in result.stderr


def test_quiet_silences_wb_but_not_the_job(project: Project) -> None:
    (project.root / "f.txt").write_text("x")
    result = project.wb("run", "--quiet", "--", "echo job-err >&2")
    assert result.stderr == b"job-err\n"


def test_detach_prints_the_id_and_logs_follow_returns_the_code(project: Project) -> None:
    started = project.wb("run", "-d", "--", "echo one; sleep 1; echo two >&2; exit 7")
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.decode().strip()
    assert job_id and "\n" not in job_id
    followed = project.wb("logs", "-f", job_id)
    assert followed.returncode == 7
    assert followed.stdout == b"one\n"
    assert followed.stderr.endswith(b"two\n")
    replay = project.wb("logs", job_id)
    assert replay.returncode == 0
    assert replay.stdout == b"one\n"


def test_job_survives_kill_9_of_the_client(project: Project) -> None:
    proc = project.popen("run", "--", "echo begin; sleep 3; echo end; exit 5")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"begin\n"
    proc.kill()
    proc.wait()
    jobs = json.loads(project.wb("jobs", "--json", check=True).stdout)
    job_id = jobs[0]["id"]
    assert jobs[0]["state"] == "running"
    followed = project.wb("logs", "-f", job_id, timeout=30)
    assert followed.returncode == 5
    assert followed.stdout == b"begin\nend\n"


def test_ctrl_c_forwards_sigint_to_the_job(project: Project) -> None:
    script = "import signal, sys, time\nprint('ready', flush=True)\ntime.sleep(30)\n"
    (project.root / "wait.py").write_text(script)
    proc = project.popen("run", "--", "python3", "wait.py")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert proc.stderr is not None
    assert b"sent SIGINT" in proc.stderr.read()


def test_second_ctrl_c_detaches_and_the_job_keeps_running(project: Project) -> None:
    proc = project.popen("run", "--", "trap '' INT; echo ready; sleep 2; echo done")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert proc.stderr is not None
    message = proc.stderr.read()
    assert b"wb logs -f" in message
    job_id = message.split(b"wb logs -f ")[-1].split()[0].decode()
    followed = project.wb("logs", "-f", job_id, timeout=30)
    assert followed.returncode == 0
    assert followed.stdout == b"ready\ndone\n"


def test_outputs_come_back_after_the_job(project: Project) -> None:
    result = project.wb(
        "run", "-o", "extra/*.txt", "--", "mkdir -p out/sub extra; echo m > out/sub/model.bin; echo e > extra/a.txt"
    )
    assert result.returncode == 0, result.stderr
    assert (project.root / "out" / "sub" / "model.bin").read_text() == "m\n"
    assert (project.root / "extra" / "a.txt").read_text() == "e\n"


def test_pull_fetches_outputs_later(project: Project) -> None:
    started = project.wb("run", "-d", "--", "mkdir -p out; echo later > out/result.txt")
    job_id = started.stdout.decode().strip()
    project.wb("logs", "-f", job_id, check=True)
    assert not (project.root / "out" / "result.txt").exists()
    pulled = project.wb("pull", job_id)
    assert pulled.returncode == 0, pulled.stderr
    assert (project.root / "out" / "result.txt").read_text() == "later\n"


def test_sync_follows_git_and_mirrors_deletions(project: Project) -> None:
    root = project.root
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "sub").mkdir()
    (root / "sub" / ".gitignore").write_text("secret.txt\n")
    (root / "sub" / "secret.txt").write_text("no")
    (root / "sub" / "keep.txt").write_text("yes")
    (root / "debug.log").write_text("no")
    (root / "build").mkdir()
    (root / "build" / "x").write_text("no")
    (root / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("sub/keep.txt", root / "link")
    project.write_config()
    config = json.loads((root / ".weatherballoon.json").read_text())
    config["sync"]["fileExcludes"] = ["*.tmp"]
    (root / ".weatherballoon.json").write_text(json.dumps(config))
    (root / "scratch.tmp").write_text("no")
    result = project.wb("run", "--", "./run.sh; find . -path ./out -prune -o -print | sort; readlink link")
    assert result.returncode == 0, result.stderr
    listing = result.stdout.decode().splitlines()
    assert listing[0] == "ran"
    files = set(listing[1:-1])
    assert {"./sub/keep.txt", "./run.sh", "./link", "./.gitignore", "./sub/.gitignore"} <= files
    assert not files & {"./sub/secret.txt", "./debug.log", "./build", "./scratch.tmp", "./.git"}
    assert listing[-1] == "sub/keep.txt"
    (root / "sub" / "keep.txt").unlink()
    again = project.wb("run", "--", "ls sub")
    assert again.returncode == 0
    assert b"keep.txt" not in again.stdout


def test_unchanged_files_are_not_sent_again(project: Project) -> None:
    for i in range(20):
        (project.root / f"f{i}.txt").write_text(f"{i}")
    first = project.wb("run", "--", "true")
    assert b"synced" in first.stderr
    second = project.wb("run", "--", "true")
    assert b"synced" not in second.stderr
    (project.root / "f3.txt").write_text("changed")
    third = project.wb("run", "--", "cat f3.txt")
    assert third.stdout == b"changed"
    assert b"synced 1 files" in third.stderr


def test_no_sync_skips_the_upload(project: Project) -> None:
    (project.root / "new.txt").write_text("x")
    result = project.wb("run", "--no-sync", "--", "test -e new.txt")
    assert result.returncode == 1


def test_jobs_lists_state_and_exit_code(project: Project) -> None:
    project.wb("run", "--", "exit 4")
    result = project.wb("jobs", "--json", check=True)
    newest = json.loads(result.stdout)[0]
    assert newest["state"] == "exited"
    assert newest["exit_code"] == 4
    table = project.wb("jobs", check=True).stdout.decode()
    assert "exit 4" in table and "JOB" in table


def test_status_shows_the_host_and_its_running_jobs(project: Project) -> None:
    started = project.wb("run", "-d", "--", "sleep 5")
    job_id = started.stdout.decode().strip()
    status = json.loads(project.wb("status", "--json", check=True).stdout)
    assert status[0]["id"] == project.host.spec  # type: ignore[union-attr]
    assert job_id in status[0]["running_jobs"]
    project.wb("ssh", project.host.spec, "--", "true")  # type: ignore[union-attr]


def test_ssh_runs_a_plain_command(project: Project) -> None:
    result = project.wb("ssh", "--", "echo $((6*7)); exit 9")
    assert result.returncode == 9
    assert result.stdout == b"42\n"
    launched = project.wb("ssh", "--launch", "--", "echo", "a b")  # the ssh provider's hosts: nothing to launch
    assert (launched.returncode, launched.stdout) == (0, b"a b\n"), launched.stderr


def test_logs_for_an_unknown_job(project: Project) -> None:
    result = project.wb("logs", "nope-123")
    assert result.returncode == 1
    assert b"no job 'nope-123'" in result.stderr


def test_big_output_keeps_order_within_each_stream(project: Project) -> None:
    script = "import sys\nfor i in range(20000):\n    print(i)\n    print(-i, file=sys.stderr)\n"
    (project.root / "count.py").write_text(script)
    result = project.wb("run", "-q", "--", "python3", "count.py", timeout=120)
    assert result.returncode == 0
    assert result.stdout.decode().split() == [str(i) for i in range(20000)]
    assert result.stderr.decode().split() == [str(-i) for i in range(20000)]


def test_cat_big_file_to_local_file_is_identical(project: Project, tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    (project.root / "big.bin").write_bytes(payload)
    copy = tmp_path / "copy.bin"
    with copy.open("wb") as sink:
        code = subprocess.run(
            [*project_wb(project), "run", "-q", "--", "cat big.bin"], cwd=project.root, env=project.env(), stdout=sink
        ).returncode
    assert code == 0
    assert copy.read_bytes() == payload


def project_wb(project: Project) -> list[str]:
    from tests.support.project import WB

    return [WB]


def test_second_run_takes_the_early_connection(project: Project) -> None:
    project.wb("run", "--", "true", check=True)
    project.extra_env["WB_TRACE"] = "1"
    result = project.wb("run", "--", "echo hi")
    assert result.stdout == b"hi\n"
    assert b"took the early connection" in result.stderr


def test_early_connection_is_dropped_when_the_target_changes(project: Project, fresh_sshd_host: SshdHost) -> None:
    project.wb("run", "--", "true", check=True)
    # Same config file (so the early connection starts), but the environment points elsewhere.
    project.extra_env.update(
        {
            "WB_TRACE": "1",
            "WB_HOSTS": fresh_sshd_host.spec,
            "WB_KNOWN_HOSTS_FILE": str(fresh_sshd_host.known_hosts),
        }
    )
    result = project.wb("run", "--", "echo moved")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"moved\n"
    assert b"took the early connection" not in result.stderr


def test_progress_shows_on_a_terminal_stderr_and_never_on_stdout(project: Project) -> None:
    from tests.support.project import WB

    (project.root / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [WB, "run", "--", "wc -c < big.bin"],
        cwd=project.root,
        env=project.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    os.close(master)
    assert stdout == b"8388608\n"
    assert b"synced 2 files" in terminal
    assert b"\x1b[" in terminal  # rich drew a spinner or a bar on the terminal
