"""Path safety: nothing written or deleted lands outside the root or goes through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from weatherballoon.remote.sync.paths import SafeDirs, UnsafePath, check_relpath


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a/\x00b"])
def test_unsafe_relative_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePath):
        check_relpath(path)


@pytest.mark.parametrize("path", ["a", "a/b.c", "..a/b", "a../b", ".hidden/x", "sp ace/ü"])
def test_ordinary_paths_pass(path: str) -> None:
    assert check_relpath(path) == path


def test_parents_are_created_under_the_root(tmp_path: Path) -> None:
    dirs = SafeDirs(str(tmp_path / "root"))
    dirs.ensure_parent("a/b/c.txt")
    assert (tmp_path / "root" / "a" / "b").is_dir()


def test_a_symlinked_parent_is_refused_even_when_it_points_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    os.symlink(tmp_path, root / "escape")
    os.symlink("real", root / "inside")
    dirs = SafeDirs(str(root))
    for path in ("escape/x", "inside/x", "escape/deeper/x"):
        with pytest.raises(UnsafePath, match="symlink"):
            dirs.ensure_parent(path)
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "deeper").exists()


def test_a_file_in_the_way_of_a_parent_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafePath, match="not a directory"):
        SafeDirs(str(tmp_path)).ensure_parent("file/child")


def test_parent_exists_reads_without_creating(tmp_path: Path) -> None:
    dirs = SafeDirs(str(tmp_path))
    assert dirs.parent_exists("top.txt")
    assert not dirs.parent_exists("missing/x")
    assert not (tmp_path / "missing").exists()
