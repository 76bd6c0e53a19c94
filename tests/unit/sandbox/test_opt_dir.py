"""/opt/wb is shared by every sandbox on the machine: the last one down removes it, and only if a sandbox made it."""

from __future__ import annotations

from pathlib import Path

from weatherballoon.sandbox import opt_dir


def test_a_sandbox_going_down_leaves_the_mount_point_to_one_still_up(tmp_path: Path) -> None:
    opt, registry = tmp_path / "opt" / "wb", tmp_path / "run" / "opt-users"
    opt_dir.claim("first", opt, registry)
    opt_dir.claim("second", opt, registry)
    assert opt_dir.release("first", opt, registry) is False
    assert opt.is_dir()  # the second sandbox still binds its hosts' /opt/wb onto it
    assert opt_dir.release("second", opt, registry) is True
    assert not opt.exists()


def test_a_mount_point_the_sandbox_did_not_make_stays(tmp_path: Path) -> None:
    opt, registry = tmp_path / "opt" / "wb", tmp_path / "run" / "opt-users"
    opt.mkdir(parents=True)
    opt_dir.claim("only", opt, registry)
    assert opt_dir.release("only", opt, registry) is False
    assert opt.is_dir()


def test_files_someone_put_there_are_never_deleted(tmp_path: Path) -> None:
    opt, registry = tmp_path / "opt" / "wb", tmp_path / "run" / "opt-users"
    opt_dir.claim("only", opt, registry)
    (opt / "notes.txt").write_text("mine")
    assert opt_dir.release("only", opt, registry) is False
    assert (opt / "notes.txt").read_text() == "mine"


def test_releasing_twice_or_unregistered_is_harmless(tmp_path: Path) -> None:
    opt, registry = tmp_path / "opt" / "wb", tmp_path / "run" / "opt-users"
    opt_dir.claim("a", opt, registry)
    assert opt_dir.release("stranger", opt, registry) is False
    assert opt_dir.release("a", opt, registry) is True
    assert opt_dir.release("a", opt, registry) is False
