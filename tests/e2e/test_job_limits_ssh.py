"""What a job sends and receives at the edges, end to end (the real `wb`, a real sshd, the shipped agent):
exit codes that look like the agent's own, argv of any size and bytes that are not UTF-8, a reader that goes
away, output that would fill a disk, and a disk that fills.

Every writer here is bounded (a loop with a count): an unbounded one fills a real disk in minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import sshd
from tests.support.project import WB, Project, make_project
from tests.support.sshd import SshdHost


def job_dir(project: Project, job_id: str) -> Path:
    assert project.host is not None
    return project.host.user.home / ".weatherballoon" / "jobs" / job_id


def newest_job(project: Project) -> dict[str, object]:
    jobs = json.loads(project.wb("jobs", "--json", check=True).stdout)
    return dict(jobs[0])


# --- exit statuses the agent also uses for itself -------------------------------------------------------


@pytest.mark.parametrize("code", [2, 3, 125, 255])
def test_logs_follow_gives_the_jobs_own_code_even_where_the_agent_has_one(project: Project, code: int) -> None:
    started = project.wb("run", "-d", "--", f"echo ran; exit {code}", check=True)
    job_id = started.stdout.decode().strip()
    followed = project.wb("logs", "-f", job_id)
    assert followed.returncode == code, followed.stderr
    assert followed.stdout == b"ran\n"
    assert b"no job" not in followed.stderr and b"error" not in followed.stderr


def test_logs_of_a_job_its_machine_no_longer_has_says_so(project: Project) -> None:
    started = project.wb("run", "-d", "--", "exit 0", check=True)
    job_id = started.stdout.decode().strip()
    project.wb("logs", "-f", job_id, check=True)
    shutil.rmtree(job_dir(project, job_id))
    for args in (("logs", job_id), ("logs", "-f", job_id)):
        result = project.wb(*args)
        assert result.returncode == 1, result.stderr
        assert f"no job '{job_id}'".encode() in result.stderr
        assert b"has no record of it" in result.stderr


# --- argv and environment: any size, any bytes ----------------------------------------------------------


def test_an_argv_of_190_kb_reaches_the_command_whole(project: Project) -> None:
    words = [f"{n:07d}" for n in range(190_000 // 8)]
    count = "import sys; a = sys.argv[1:]; print(len(a), sum(map(len, a)), a[0], a[-1])"
    result = project.wb("-q", "run", "--", "python3", "-c", count, *words)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.decode().split() == [str(len(words)), str(7 * len(words)), words[0], words[-1]]


def test_bytes_that_are_not_utf8_reach_the_command_exactly(tmp_path: Path, sshd_host: SshdHost) -> None:
    folder = os.fsdecode(b"proj-\xe9t\xe9-" + tmp_path.name.encode())  # latin-1 bytes in the local path
    project = make_project(tmp_path, sshd_host, name=folder)
    remote_root = os.fsdecode(b"~/wb/bytes-\xff\xfe-" + tmp_path.name.encode())
    project.extra_env["WB_ADIR_SERVER"] = remote_root
    (project.root / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"synced")
    show = (
        "import os, sys; out = sys.stdout.buffer; out.write(os.fsencode(sys.argv[1]) + b'|');"
        " out.write(os.environb[b'X'] + b'|' + os.getcwdb() + b'|' + open(os.fsencode('caf\\udce9.txt'), 'rb').read())"
    )
    argument = os.fsdecode(b"arg-\xff\x80\xfe")
    result = project.wb("-q", "run", "-e", "X=" + os.fsdecode(b"value-\xfa"), "--", "python3", "-c", show, argument)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    home = os.fsencode(str(sshd_host.user.home))
    root = home + b"/wb/bytes-\xff\xfe-" + tmp_path.name.encode()
    assert result.stdout == b"arg-\xff\x80\xfe|value-\xfa|" + root + b"|synced"
    listed = project.wb("jobs", "--json")
    assert listed.returncode == 0, listed.stderr


def test_the_job_runs_in_the_remote_folder_matching_the_local_one(project: Project) -> None:
    (project.root / "src" / "deep").mkdir(parents=True)
    (project.root / "src" / "deep" / "here.txt").write_text("x")
    result = project.wb("-q", "run", "--", "pwd; ls", cwd=project.root / "src" / "deep")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{project.remote_root}/src/deep\nhere.txt\n".encode()
    at_root = project.wb("-q", "run", "--", "pwd")
    assert at_root.stdout == f"{project.remote_root}\n".encode()


# --- a reader that goes away: `wb run ... | head -1` ----------------------------------------------------


PYTHON_COUNTER = "import time\nfor i in range(3000):\n    print(i, flush=True); time.sleep(0.01)"


@pytest.mark.parametrize(
    ("job", "ended_by"),
    [
        # A shell loop dies of SIGPIPE, as it would in a local pipeline.
        (["i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"], 141),
        # Python ignores SIGPIPE (and on the machine writes to a file, not a pipe): SIGTERM after the grace.
        (["python3", "-c", PYTHON_COUNTER], 143),
        # The shell dies of SIGPIPE; the Python it started is left in the group and gets SIGTERM.
        ([f"python3 -c '{PYTHON_COUNTER}'"], 141),
    ],
)
def test_when_our_stdout_closes_the_job_is_stopped_and_wb_exits_141_quietly(
    project: Project, job: list[str], ended_by: int
) -> None:
    proc = subprocess.Popen(
        [WB, "run", "--", *job], cwd=project.root, env=project.env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does once it has its line
    started = time.monotonic()
    assert proc.wait(timeout=20) == 141
    assert time.monotonic() - started < 10
    assert b"error" not in proc.stderr.read()
    job_state = newest_job(project)
    assert job_state["state"] == "killed" and job_state["exit_code"] == ended_by
    pgid = json.loads((job_dir(project, str(job_state["id"])) / "meta.json").read_text())["pgid"]
    deadline = time.monotonic() + 5
    while group_members(pgid):  # nothing of the job is left writing into its spool
        assert time.monotonic() < deadline, f"left running: {group_members(pgid)}"
        time.sleep(0.1)


def group_members(pgid: int) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pgid=,pid=,stat=,args="], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if line.split()[0] == str(pgid)]


# --- output that would fill a disk, and a disk that fills -----------------------------------------------


def paced_writer(chunks: int, size: int) -> str:
    """Writes `chunks` blocks of `size` zero bytes to stdout and a line to stderr for each, then 'done'."""
    return f"for i in $(seq 1 {chunks}); do head -c {size} /dev/zero; echo err $i >&2; sleep 0.05; done; echo done"


def test_output_past_the_cap_stops_the_job_with_124_and_says_why(project: Project) -> None:
    project.extra_env["WB_MAX_OUTPUT_MB"] = "1"
    result = project.wb("run", "--", paced_writer(60, 200_000), timeout=60)
    assert result.returncode == 124, result.stderr
    assert b"stopped by supervision: output-cap" in result.stderr
    assert b"WB_MAX_OUTPUT_MB" in result.stderr
    assert 1 << 20 <= len(result.stdout) < 6_000_000  # the cap, plus what one check interval let through
    assert b"done" not in result.stdout
    job = newest_job(project)
    assert (job["state"], job["stop_reason"], job["exit_code"]) == ("stopped", "output-cap", 124)


@pytest.fixture
def small_spool_project(tmp_path: Path, ssh_identity: Path) -> Iterator[Project]:
    """A host whose user's job files live on a 4 MiB tmpfs: a disk a job can fill, without filling ours."""
    parent = Path(tempfile.mkdtemp(prefix="wb-test-homes-"))
    user = sshd.TestUser.create(parent)
    host = SshdHost(tmp_path / "sshd-small", user, ssh_identity).start()
    jobs = user.home / ".weatherballoon" / "jobs"
    jobs.mkdir(parents=True)
    user.chown(jobs.parent)
    options = f"size=4m,uid={user.uid},gid={user.gid},mode=0700"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "wb-test-spool", str(jobs)], check=True)
    try:
        yield make_project(tmp_path, host)
    finally:
        host.stop()
        user.delete()
        subprocess.run(["umount", "-l", str(jobs)], check=False)
        shutil.rmtree(parent, ignore_errors=True)


def test_a_job_that_fills_the_disk_is_stopped_with_124_and_its_output_kept(small_spool_project: Project) -> None:
    project = small_spool_project
    result = project.wb("run", "--", paced_writer(60, 200_000), timeout=60)
    assert result.returncode == 124, result.stderr
    assert b"stopped by supervision: disk-full" in result.stderr
    assert b"/.weatherballoon/jobs/" in result.stderr  # which filesystem
    assert b"err 1\n" in result.stderr  # what the job wrote before the disk filled came through
    job = newest_job(project)
    assert (job["state"], job["stop_reason"], job["exit_code"]) == ("stopped", "disk-full", 124)
    job_id = str(job["id"])
    kept = (job_dir(project, job_id) / "stdout").stat().st_size
    assert kept > 2_000_000
    replay = project.wb("logs", job_id)
    assert replay.returncode == 0 and len(replay.stdout) == kept
    followed = project.wb("logs", "-f", job_id)
    assert followed.returncode == 124
    assert b"disk-full" in followed.stderr and b"lost" not in followed.stderr


# --- 13. a read-only or full home on the machine --------------------------------------------------------


@pytest.fixture
def own_user(tmp_path: Path) -> Iterator[sshd.TestUser]:
    """A login user of this test's own, whose home the test may make read-only or full."""
    parent = Path(tempfile.mkdtemp(prefix="wb-test-homes-"))
    user = sshd.TestUser.create(parent)
    yield user
    subprocess.run(["umount", "-l", str(user.home)], check=False, capture_output=True)
    user.delete()
    shutil.rmtree(parent, ignore_errors=True)


def test_a_read_only_home_is_named_with_a_documented_code(
    tmp_path: Path, ssh_identity: Path, own_user: sshd.TestUser
) -> None:
    host = SshdHost(tmp_path / "sshd-ro", own_user, ssh_identity).start()
    try:
        project = make_project(tmp_path, host)
        project.wb("run", "--", "true", check=True)  # the agent is installed, the project synced
        home = str(own_user.home)
        subprocess.run(["mount", "--bind", home, home], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", home], check=True)
        started = project.wb("run", "--no-sync", "--", "true")
        err = started.stderr.decode()
        assert started.returncode == 255, err
        assert "cannot create job" in err and "Read-only file system" in err and "read-only filesystem" in err
        assert "Traceback" not in err
        (project.root / "new.txt").write_text("x")
        synced = project.wb("run", "--", "true")
        err = synced.stderr.decode()
        assert synced.returncode == 1, err
        assert "read-only file system" in err and "read-only filesystem" in err and "free space" not in err
        assert "Traceback" not in err
    finally:
        host.stop()


def test_a_full_home_fails_the_install_cleanly(tmp_path: Path, ssh_identity: Path, own_user: sshd.TestUser) -> None:
    home = own_user.home
    # Room for the agent and a job's files once the filler is gone: the supervisor stops a job when less than
    # 1 MiB is free, so a home of 1 MiB would stop every job as disk-full.
    options = f"size=8m,uid={own_user.uid},gid={own_user.gid},mode=0755"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "wb-test-home", str(home)], check=True)
    host = SshdHost(tmp_path / "sshd-full", own_user, ssh_identity).start()  # writes ~/.ssh into the tmpfs
    try:
        filler = home / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=128"], capture_output=True, check=False)
        project = make_project(tmp_path, host)
        result = project.wb("run", "--", "true")
        err = result.stderr.decode()
        assert result.returncode == 255, err
        assert "cannot install wb's agent" in err and "No space left on device" in err
        assert "disk is full" in err and "Traceback" not in err
        assert not list((home / ".weatherballoon" / "agent").glob(".tmp-*"))
        filler.unlink()
        again = project.wb("run", "--", "echo", "room again")
        assert again.stdout == b"room again\n", again.stderr.decode()
    finally:
        host.stop()
