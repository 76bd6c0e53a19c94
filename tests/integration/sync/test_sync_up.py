"""sync_up against the real agent in a local subprocess: the remote tree mirrors the upload set."""

from __future__ import annotations

import hashlib
import os
import random
import re
from pathlib import Path

import pytest
from weatherballoon.cli.errors import SyncError
from weatherballoon.cli.sync.client import default_remote_root, sync_up
from weatherballoon.cli.sync.records import SyncProgress

from .conftest import LocalAgentRunner
from .trees import snapshot, write

REMOTE = "~/wb/proj"


def remote_tree(runner: LocalAgentRunner) -> Path:
    return runner.home / "wb" / "proj"


def populate(root: Path) -> None:
    write(root, ".gitignore", "*.log\nbuild/\n")
    write(root, "train.py", "print('train')\n" * 50)
    write(root, "run.sh", "#!/bin/sh\necho run\n", mode=0o755)
    write(root, "conf/private.yaml", "k: v\n", mode=0o600)
    write(root, "empty.txt", b"")
    write(root, "with space/naïve café.txt", "unicode\n")
    write(root, "日本/データ.csv", "1,2\n")
    write(root, "debug.log", "ignored\n")
    write(root, "build/out.o", "ignored\n")
    os.symlink("train.py", root / "latest.py")
    os.symlink("/etc/hostname", root / "outside-link")
    os.symlink("does/not/exist", root / "dangling")


def test_initial_sync_mirrors_the_upload_set_with_modes_links_and_mtimes(
    project: Path, runner: LocalAgentRunner
) -> None:
    populate(project)
    summary = sync_up(runner, project, REMOTE)
    expected = {k: v for k, v in snapshot(project).items() if not k.endswith(".log") and not k.startswith("build/")}
    assert snapshot(remote_tree(runner)) == expected
    assert summary.files_sent == len(expected) == 10
    assert summary.bytes_sent == sum(len(v[1]) for v in expected.values() if v[0] == "f")
    assert summary.remote_root == str(remote_tree(runner))
    assert summary.deleted == 0
    assert os.readlink(remote_tree(runner) / "outside-link") == "/etc/hostname"  # a link, never its target


def test_a_noop_sync_sends_nothing_and_uses_one_agent_process(project: Path, runner: LocalAgentRunner) -> None:
    populate(project)
    first = sync_up(runner, project, REMOTE)
    again = sync_up(runner, project, REMOTE)
    assert (again.files_sent, again.bytes_sent, again.wire_bytes, again.deleted, again.touched) == (0, 0, 0, 0, 0)
    assert again.unchanged == first.files_sent
    assert [args[0] for args in runner.started] == ["sync-scan", "sync-scan"]


def test_one_changed_file_sends_exactly_that_file(project: Path, runner: LocalAgentRunner) -> None:
    populate(project)
    sync_up(runner, project, REMOTE)
    write(project, "conf/private.yaml", "k: changed value\n", mode=0o600)
    seen: list[SyncProgress] = []
    summary = sync_up(runner, project, REMOTE, progress=seen.append)
    assert (summary.files_sent, summary.bytes_sent) == (1, len("k: changed value\n"))
    assert seen[-1] == SyncProgress(1, 1, summary.bytes_sent, summary.bytes_sent)
    assert (remote_tree(runner) / "conf/private.yaml").read_text() == "k: changed value\n"
    assert sync_up(runner, project, REMOTE).files_sent == 0


def test_deletions_propagate_and_emptied_folders_go(project: Path, runner: LocalAgentRunner) -> None:
    populate(project)
    sync_up(runner, project, REMOTE)
    (project / "日本" / "データ.csv").unlink()
    (project / "latest.py").unlink()
    summary = sync_up(runner, project, REMOTE)
    assert summary.deleted == 2
    assert not (remote_tree(runner) / "日本").exists()
    assert not os.path.lexists(remote_tree(runner) / "latest.py")
    assert snapshot(remote_tree(runner)).keys() == {
        k for k in snapshot(project) if k != "debug.log" and "build" not in k
    }


def test_a_touch_without_a_change_updates_metadata_only(project: Path, runner: LocalAgentRunner) -> None:
    populate(project)
    sync_up(runner, project, REMOTE)
    os.utime(project / "train.py", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    os.chmod(project / "run.sh", 0o700)
    summary = sync_up(runner, project, REMOTE)
    assert (summary.files_sent, summary.bytes_sent, summary.touched) == (0, 0, 2)
    assert (remote_tree(runner) / "train.py").stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert (remote_tree(runner) / "run.sh").stat().st_mode & 0o777 == 0o700
    assert sync_up(runner, project, REMOTE).touched == 0


def test_a_file_changed_on_the_machine_is_restored(project: Path, runner: LocalAgentRunner) -> None:
    populate(project)
    sync_up(runner, project, REMOTE)
    (remote_tree(runner) / "train.py").write_text("edited by a job")
    (remote_tree(runner) / "run.sh").unlink()
    summary = sync_up(runner, project, REMOTE)
    assert summary.files_sent == 2
    assert (remote_tree(runner) / "train.py").read_bytes() == (project / "train.py").read_bytes()


def test_paths_that_change_kind_are_replaced(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "a", "file first")
    os.symlink("a", project / "b")
    write(project, "c/inner.txt", "dir first")
    sync_up(runner, project, REMOTE)
    (project / "a").unlink()
    write(project, "a/now-a-dir.txt", "x")
    (project / "b").unlink()
    write(project, "b", "now a file")
    (project / "c" / "inner.txt").unlink()
    (project / "c").rmdir()
    os.symlink("b", project / "c")
    sync_up(runner, project, REMOTE)
    assert snapshot(remote_tree(runner)) == snapshot(project)


def test_a_fifty_megabyte_file_arrives_intact(project: Path, runner: LocalAgentRunner) -> None:
    data = random.Random(50).randbytes(50 << 20)
    write(project, "weights.bin", data)
    summary = sync_up(runner, project, REMOTE)
    assert summary.bytes_sent == len(data)
    assert summary.wire_bytes < len(data) * 1.01  # random data goes raw, not inflated
    received = (remote_tree(runner) / "weights.bin").read_bytes()
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()


def test_the_default_remote_root_names_the_folder_and_identifies_the_project(
    project: Path, runner: LocalAgentRunner, tmp_path: Path
) -> None:
    write(project, "x.py")
    root = default_remote_root(project)
    assert re.fullmatch(r"~/wb/proj-[0-9a-f]{8}", root)
    assert default_remote_root(project) == root  # stable
    namesake = tmp_path / "elsewhere" / "proj"
    namesake.mkdir(parents=True)
    assert default_remote_root(namesake) != root  # another project with the same folder name
    assert sync_up(runner, project, root).remote_root == str(runner.home / root[2:])


def test_a_remote_root_that_is_a_file_is_a_clear_error(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "x.py")
    (runner.home / "wb").mkdir()
    (runner.home / "wb" / "proj").write_text("in the way")
    with pytest.raises(SyncError) as caught:
        sync_up(runner, project, REMOTE)
    assert f"{remote_tree(runner)} exists and is not a directory" in caught.value.message
    assert "sync.adirServer" in (caught.value.hint or "")
    assert (runner.home / "wb" / "proj").read_text() == "in the way"


def test_a_scan_started_early_is_used_and_a_mismatched_one_redone(project: Path, runner: LocalAgentRunner) -> None:
    from weatherballoon.cli.sync.client import start_scan

    write(project, "a.py")
    write(project, "outputs/old.pt")
    early = start_scan(project, protect=["outputs"])
    assert sync_up(runner, project, REMOTE, protect=["outputs"], scanned=early).files_sent == 1
    write(project, "b.py")
    stale = start_scan(project)  # no protect globs: not what this sync asks for
    summary = sync_up(runner, project, REMOTE, protect=["outputs"], scanned=stale)
    assert (summary.files_sent, summary.protected) == (1, 1)


def test_a_name_that_is_not_utf8_travels_byte_for_byte(project: Path, runner: LocalAgentRunner) -> None:
    raw_name = b"caf\xe9 latin-1.txt"
    (project.joinpath(os.fsdecode(raw_name))).write_text("bytes in the name\n")
    assert sync_up(runner, project, REMOTE).files_sent == 1
    assert raw_name in os.listdir(os.fsencode(remote_tree(runner)))
    assert sync_up(runner, project, REMOTE).files_sent == 0
