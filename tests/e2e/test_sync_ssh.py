"""Sync end to end, where it could lose someone's files: the real `wb`, a real sshd, the shipped agent.

Two projects that share a folder name, a root that is someone's home or holds files wb did not put there,
a project root of `/` or `~`, a connection lost mid-sync, concurrent runs, sparse files.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.background import Attached
from tests.support.project import Project, make_project
from tests.support.sshd import SshdHost


def remote_home(project: Project) -> Path:
    assert project.host is not None
    return project.host.user.home


# --- 1. projects with the same folder name --------------------------------------------------------------


def test_two_projects_named_alike_never_share_a_root(tmp_path: Path, sshd_host: SshdHost) -> None:
    """The data loss of issue 9: a second `app` deleted the first's files under its running job."""
    for parent in ("one", "two"):
        (tmp_path / parent).mkdir()
    first = make_project(tmp_path / "one", sshd_host, name="app")
    second = make_project(tmp_path / "two", sshd_host, name="app")
    second.data_dir = first.data_dir  # the same person, two clones: still two projects
    (first.root / "train.py").write_text("first")
    (first.root / "data.csv").write_text("first's data")
    (second.root / "train.py").write_text("second")
    job = Attached(first.popen("run", "--", "echo running; sleep 3; cat train.py data.csv"), "first project's job")
    job.wait_stdout("running", 30)  # the first job runs in its root
    assert second.wb("-q", "run", "--", "cat train.py; echo; ls").stdout == b"second\ntrain.py\n"
    assert job.wait(timeout=30) == 0, job.stderr
    assert job.stdout == "running\nfirstfirst's data"
    assert first.remote_root != second.remote_root
    assert first.remote_root.name.startswith("app-") and second.remote_root.name.startswith("app-")
    assert (first.remote_root / "data.csv").read_text() == "first's data"


def test_a_root_another_project_owns_is_refused_with_the_way_out(tmp_path: Path, sshd_host: SshdHost) -> None:
    for parent in ("a", "b"):
        (tmp_path / parent).mkdir()
    owner = make_project(tmp_path / "a", sshd_host, name="shared")
    (owner.root / "only-in-owner.txt").write_text("owner's")
    (owner.root / "common.txt").write_text("owner's version")
    owner.wb("run", "--", "true", check=True)
    other = make_project(tmp_path / "b", sshd_host, name="other")
    (other.root / "common.txt").write_text("other's version")
    other.extra_env["WB_ADIR_SERVER"] = str(owner.remote_root)

    refused = other.wb("run", "--", "true")
    err = refused.stderr.decode()
    assert refused.returncode == 2, err
    assert "belongs to another project" in err and str(owner.root) in err  # names who synced it
    assert "--sync-overwrite" in err and "sync.adirServer" in err
    assert (owner.remote_root / "common.txt").read_text() == "owner's version"

    taken = other.wb("run", "--sync-overwrite", "--", "cat common.txt only-in-owner.txt")
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout == b"other's versionowner's"  # replaced what it has; left what it does not have
    (other.root / "common.txt").unlink()
    other.wb("run", "--", "true", check=True)  # its own now: no flag needed, and its deletion propagates
    assert not (owner.remote_root / "common.txt").exists()
    assert (owner.remote_root / "only-in-owner.txt").read_text() == "owner's"  # never the other project's

    back = owner.wb("run", "--", "true")
    assert back.returncode == 2 and b"belongs to another project" in back.stderr


# --- 2. roots that hold files wb did not put there ------------------------------------------------------


@pytest.mark.parametrize("root", ["~", "~/", "/", "..", "~/..", "~/wb/..", "~/home-link"])
def test_a_root_that_is_or_holds_the_home_folder_is_refused(project: Project, root: str) -> None:
    home = remote_home(project)
    profile = home / ".profile"
    profile.write_text("# the user's own\n")
    link = home / "home-link"
    if not link.is_symlink():
        link.symlink_to(home)
    (project.root / ".profile").write_text("# the project's\n")
    project.extra_env["WB_ADIR_SERVER"] = root
    result = project.wb("run", "--", "true")
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "refusing to sync into" in err
    assert "home folder" in err or "root of the filesystem" in err
    assert "sync.adirServer" in err
    assert profile.read_text() == "# the user's own\n"


def test_files_no_sync_put_there_are_never_replaced_or_deleted_unless_allowed(project: Project) -> None:
    assert project.host is not None
    shared = remote_home(project) / f"shared-{project.root.name}"
    shared.mkdir()
    (shared / "notes.txt").write_text("the user's notes")
    (shared / "same.txt").write_text("identical")
    (shared / "keep.txt").write_text("not the project's")
    for path in (shared, *shared.iterdir()):
        project.host.user.chown(path)
    project.extra_env["WB_ADIR_SERVER"] = str(shared)
    (project.root / "notes.txt").write_text("the project's notes")
    (project.root / "same.txt").write_text("identical")
    (project.root / "code.py").write_text("print(1)")

    remote_jobs = remote_home(project) / ".weatherballoon" / "jobs"
    jobs_before = set(remote_jobs.glob("*/meta.json"))  # the host is shared with other tests
    refused = project.wb("run", "--", "true")
    err = refused.stderr.decode()
    assert refused.returncode == 2, err
    assert "would replace 1 file(s) that no sync of this project put there: notes.txt" in err
    assert "--sync-overwrite" in err
    assert (shared / "notes.txt").read_text() == "the user's notes"
    assert not (shared / "code.py").exists()  # refused before anything travelled
    # The job goes in the same agent process as the sync (`sync-run`): a refused sync starts none, and
    # leaves no local record of one.
    assert json.loads(project.wb("jobs", "--json", check=True).stdout) == []
    assert set(remote_jobs.glob("*/meta.json")) == jobs_before

    allowed = project.wb("run", "--sync-overwrite", "--", "cat notes.txt")
    assert (allowed.returncode, allowed.stdout) == (0, b"the project's notes"), allowed.stderr
    for name in ("notes.txt", "same.txt", "code.py"):
        (project.root / name).unlink()
    (project.root / "other.py").write_text("x")
    project.wb("run", "--", "true", check=True)
    assert not (shared / "notes.txt").exists()  # replaced with the user's leave, so it is the project's
    assert not (shared / "same.txt").exists()  # identical, so it was recorded as the project's
    assert (shared / "keep.txt").read_text() == "not the project's"  # never touched


# --- 6. huge inputs: the local root ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["/", "~"])
def test_a_project_root_of_slash_or_home_is_refused_before_any_scan(project: Project, where: str) -> None:
    config = json.loads((project.root / ".weatherballoon.json").read_text())
    config["sync"]["adirLocal"] = where if where == "/" else str(Path.home())
    (project.root / ".weatherballoon.json").write_text(json.dumps(config))
    started = time.monotonic()
    result = project.wb("run", "--", "true")
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert time.monotonic() - started < 10
    assert "sync.adirLocal" in err and ("filesystem root" in err or "home folder" in err)
    assert project.wb("run", "--no-sync", "--", "echo", "fine").stdout == b"fine\n"


def test_a_config_in_the_home_folder_does_not_sync_the_home_folder(tmp_path: Path, sshd_host: SshdHost) -> None:
    fake_home = tmp_path / "home"
    project = make_project(fake_home.parent, sshd_host, name="home", git=False)
    project.extra_env["HOME"] = str(fake_home)
    result = project.wb("run", "--", "true")
    assert result.returncode == 2, result.stderr
    assert b"home folder" in result.stderr


# --- misleading: a lost connection, concurrent runs, sparse files ---------------------------------------


@pytest.mark.timeout(120)
def test_a_connection_lost_mid_sync_exits_255(tmp_path: Path, fresh_sshd_host: SshdHost) -> None:
    project = make_project(tmp_path, fresh_sshd_host)
    with open(project.root / "big.bin", "wb") as handle:
        for _ in range(300):
            handle.write(os.urandom(1 << 20))
    run = Attached(project.popen("run", "--", "true"), "wb run")
    deadline = time.monotonic() + 60
    while not list(remote_home(project).glob("wb/*/.wb-tmp-*")):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.stderr
        time.sleep(0.01)
    fresh_sshd_host.kill_all_sessions()
    assert run.wait(timeout=40) == 255, run.stderr
    assert "connection was lost" in run.stderr and "Traceback" not in run.stderr
    fresh_sshd_host.start()
    again = project.wb("run", "--", "wc -c < big.bin", timeout=120)
    assert (again.returncode, again.stdout.strip()) == (0, str(300 << 20).encode()), again.stderr


def test_concurrent_runs_of_one_project_send_each_file_once(project: Project) -> None:
    for n in range(300):
        (project.root / f"f{n}.txt").write_text(f"{n}" * 2000)
    runs = [project.popen("run", "--", "true") for _ in range(3)]
    outcomes = [(proc.wait(timeout=60), proc.stderr.read().decode() if proc.stderr else "") for proc in runs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    synced = [line for _, err in outcomes for line in err.splitlines() if "synced" in line]
    assert len(synced) == 1 and synced[0].startswith("wb: synced 301 files"), outcomes  # 300 files + the config


def test_sparse_files_stay_sparse_both_ways(project: Project) -> None:
    image = project.root / "disk.img"
    with open(image, "wb") as handle:
        handle.write(b"head")
        handle.seek(200 << 20)
        handle.write(b"tail")
    assert image.stat().st_blocks * 512 < 1 << 20
    made = "python3 -c \"f = open('out/made.img', 'wb'); f.seek(100 << 20); f.write(b'x')\""
    result = project.wb("run", "--", f"mkdir -p out; {made}; sha256sum disk.img")
    assert result.returncode == 0, result.stderr
    local_hash = subprocess.run(["sha256sum", str(image)], capture_output=True, check=True).stdout.split()[0]
    assert result.stdout.split()[0] == local_hash
    remote = project.remote_root / "disk.img"
    assert remote.stat().st_size == image.stat().st_size
    assert remote.stat().st_blocks * 512 < 1 << 20, "the hole was written out as zeros"
    pulled = project.root / "out" / "made.img"
    assert pulled.stat().st_size == (100 << 20) + 1
    assert pulled.stat().st_blocks * 512 < 1 << 20
