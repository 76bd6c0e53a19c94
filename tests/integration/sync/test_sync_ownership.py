"""Who a remote root belongs to, against the real agent in a local subprocess: owned, claimed, refused,
taken over; roots that must never be synced into; notes the agent and the scan give the user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from weatherballoon.cli.errors import SyncRefused
from weatherballoon.cli.sync import client
from weatherballoon.cli.sync.client import sync_up
from weatherballoon.cli.sync.ownership import ProjectIdentity, client_id, default_remote_root, project_identity
from weatherballoon.remote.sync.state import read_record, save_record

from .conftest import LocalAgentRunner
from .trees import write

ALICE = ProjectIdentity(id="a" * 32, label="alice@laptop:/src/app")
BOB = ProjectIdentity(id="b" * 32, label="bob@desk:/code/app")


def record_of(runner: LocalAgentRunner, root: Path) -> tuple[str, str, set[str]] | None:
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(runner.home)  # the agent keeps its records under its ~/.weatherballoon
    try:
        record = read_record(os.path.realpath(root))
    finally:
        os.environ["HOME"] = saved or ""
    return None if record is None else (record.owner, record.label, record.paths)


def test_the_first_sync_claims_the_root_and_a_second_project_is_refused(
    project: Path, runner: LocalAgentRunner
) -> None:
    write(project, "a.py", "alice")
    sync_up(runner, project, "~/wb/app", owner=ALICE)
    root = runner.home / "wb" / "app"
    assert record_of(runner, root) == (ALICE.id, ALICE.label, {"a.py"})
    with pytest.raises(SyncRefused) as caught:
        sync_up(runner, project, "~/wb/app", owner=BOB)
    assert "belongs to another project" in caught.value.message and ALICE.label in caught.value.message
    assert "--sync-overwrite" in (caught.value.hint or "")
    assert caught.value.exit_code == 2
    assert record_of(runner, root) == (ALICE.id, ALICE.label, {"a.py"})


def test_taking_over_starts_a_record_of_its_own(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "a.py", "alice")
    write(project, "shared.py", "alice's")
    sync_up(runner, project, "~/wb/app", owner=ALICE)
    (project / "a.py").unlink()
    write(project, "shared.py", "bob's")
    summary = sync_up(runner, project, "~/wb/app", owner=BOB, overwrite=True)
    root = runner.home / "wb" / "app"
    assert summary.deleted == 0  # alice's a.py is not bob's to delete
    assert (root / "a.py").read_text() == "alice" and (root / "shared.py").read_text() == "bob's"
    owner, label, paths = record_of(runner, root) or ("", "", set())
    assert (owner, label) == (BOB.id, BOB.label)
    assert "a.py" not in paths and "shared.py" in paths


def test_an_unowned_record_of_an_older_agent_is_claimed_and_kept(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "a.py", "1")
    sync_up(runner, project, "~/wb/app")  # no owner: what an older client did
    root = runner.home / "wb" / "app"
    assert record_of(runner, root) == ("", "", {"a.py"})
    (project / "a.py").unlink()
    write(project, "b.py", "2")
    assert sync_up(runner, project, "~/wb/app", owner=ALICE).deleted == 1  # its paths count as this project's
    assert record_of(runner, root) == (ALICE.id, ALICE.label, {"b.py"})


def test_a_version_2_record_is_still_read(project: Path, runner: LocalAgentRunner) -> None:
    root = runner.home / "wb" / "app"
    write(root, "old.py", "synced by an older agent")
    write(project, "new.py", "x")
    record_file = runner.home / ".weatherballoon" / "sync"
    record_file.mkdir(parents=True)
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(runner.home)
    try:
        save_record(str(root), {"old.py"})
        path = next(record_file.glob("*.paths"))
    finally:
        os.environ["HOME"] = saved or ""
    path.write_bytes(b"\0".join([b"wb-sync-record 2", str(root).encode(), b"old.py"]))
    assert sync_up(runner, project, "~/wb/app", owner=ALICE).deleted == 1
    assert not (root / "old.py").exists()


@pytest.mark.parametrize("root", ["~", "/", "..", "~/x/../..", "."])
def test_the_home_folder_and_above_are_never_roots(project: Path, runner: LocalAgentRunner, root: str) -> None:
    write(project, ".profile", "the project's")
    write(runner.home, ".profile", "the user's")
    with pytest.raises(SyncRefused) as caught:
        sync_up(runner, project, root, owner=ALICE)
    assert "refusing to sync into" in caught.value.message
    assert (runner.home / ".profile").read_text() == "the user's"
    assert not (runner.home / ".weatherballoon" / "sync").exists() or not list(
        (runner.home / ".weatherballoon" / "sync").glob("*.paths")
    )


def test_wbs_own_state_is_never_a_root(project: Path, runner: LocalAgentRunner) -> None:
    write(project, "x", "y")
    for root in ("~/.weatherballoon", "~/.weatherballoon/jobs"):
        with pytest.raises(SyncRefused, match="state folder"):
            sync_up(runner, project, root, owner=ALICE)


def test_a_file_no_sync_put_there_stops_the_sync_before_anything_travels(
    project: Path, runner: LocalAgentRunner
) -> None:
    root = runner.home / "wb" / "app"
    write(root, "notes.txt", "the user's")
    write(root, "link", "a file where the project has a link")
    write(project, "notes.txt", "the project's")
    os.symlink("notes.txt", project / "link")
    write(project, "new.py", "x")
    with pytest.raises(SyncRefused) as caught:
        sync_up(runner, project, "~/wb/app", owner=ALICE)
    assert "would replace 2 file(s)" in caught.value.message and "link, notes.txt" in caught.value.message
    assert not (root / "new.py").exists() and (root / "notes.txt").read_text() == "the user's"
    sync_up(runner, project, "~/wb/app", owner=ALICE, overwrite=True)
    assert (root / "notes.txt").read_text() == "the project's" and os.readlink(root / "link") == "notes.txt"


def test_the_agent_refuses_a_foreign_file_even_when_the_client_did_not_see_it(
    project: Path, runner: LocalAgentRunner
) -> None:
    """A file that appears between the comparison and the stream (a job wrote it) is not replaced."""
    from weatherballoon.remote.sync.send import encode_block
    from weatherballoon.remote.sync.wire import END_OF_FILE, MAGIC, TAG_END, file_header

    root = runner.home / "wb" / "app"
    write(root, "late.txt", "the job's")
    frames = file_header(b"late.txt", 0o644, 0) + b"\0\0\0\x04mine" + END_OF_FILE + TAG_END
    stream = MAGIC + encode_block([frames], 0)[0] + b"\xff\0\0\0\0"
    done = runner.run("sync-apply", "~/wb/app", "--owner", ALICE.id, "--label", ALICE.label, input=stream)
    assert done.returncode == 1
    assert b"no sync of this project put it there" in done.stderr
    assert (root / "late.txt").read_text() == "the job's"


def test_notes_from_the_agent_and_the_scan_reach_the_user(
    project: Path, runner: LocalAgentRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "old.py", "x")
    sync_up(runner, project, "~/wb/proj")  # where an older wb put the project by default
    write(project, "a.py", "x")
    write(project, "b.py", "x")
    # A scan that cannot finish within the notice's threshold: the real git, started 3 s late.
    slow = project.parent / "slow-git"
    slow.mkdir()
    (slow / "git").write_text(f'#!/bin/sh\nsleep 3\nexec {shutil.which("git")} "$@"\n')
    (slow / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(client, "SCAN_NOTICE_S", 0.001)
    monkeypatch.setattr(client, "LARGE_UPLOAD_FILES", 1)
    notes: list[str] = []
    sync_up(runner, project, "~/wb/proj-1234abcd", owner=ALICE, legacy_root="~/wb/proj", notice=notes.append)
    assert any("still listing the files" in note for note in notes)
    assert any("upload set" in note and "sync.fileExcludes" in note for note in notes)
    assert any("now syncs to" in note and str(runner.home / "wb" / "proj") in note for note in notes), notes


def test_the_client_id_is_made_once_and_the_identity_follows_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    first = client_id()
    assert first == client_id() and len(first) == 32
    here, there = tmp_path / "a" / "app", tmp_path / "b" / "app"
    mine = project_identity(here)
    assert project_identity(here) == mine
    assert project_identity(there).id != mine.id  # same folder name, another project
    assert str(here) in mine.label
    assert default_remote_root(here) == f"~/wb/app-{mine.id[:8]}"
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "another-client"))
    assert client_id() != first
    assert project_identity(here).id != mine.id  # the same path on another machine is another project
