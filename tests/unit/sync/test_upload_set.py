"""The upload set is what git would list (DESIGN §7), with real git and an isolated git config."""

from __future__ import annotations

import os
from pathlib import Path

from weatherballoon.cli.sync.local_scan import scan
from weatherballoon.cli.sync.upload_set import list_upload_set

from .trees import git, write


def paths(root: Path, excludes: tuple[str, ...] = ()) -> list[str]:
    return [path for path, _ in list_upload_set(root, excludes)[0]]


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    return root


def test_nested_gitignore_files_apply_to_their_own_folder(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, ".gitignore", "*.log\n")
    write(root, "app/.gitignore", "/cache/\n!keep.log\n")
    for path in ("a.py", "a.log", "app/b.py", "app/keep.log", "app/drop.log", "app/cache/c.bin", "cache/d.py"):
        write(root, path)
    assert paths(root) == [".gitignore", "a.py", "app/.gitignore", "app/b.py", "app/keep.log", "cache/d.py"]


def test_tracked_files_are_listed_even_when_ignored_and_untracked_ones_too(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, "forced.log")
    git(root, "add", "forced.log")
    write(root, ".gitignore", "*.log\n")
    write(root, "new.txt")
    assert paths(root) == [".gitignore", "forced.log", "new.txt"]


def test_info_exclude_is_honoured(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, ".git/info/exclude", "secret.env\n")
    write(root, "secret.env")
    write(root, "main.py")
    assert paths(root) == ["main.py"]


def test_global_excludes_file_is_honoured(tmp_path: Path, isolated_git: Path) -> None:
    global_ignore = tmp_path / "global-ignore"
    global_ignore.write_text(".DS_Store\n*.swp\n")
    with isolated_git.open("a") as config:
        config.write(f"[core]\n\texcludesFile = {global_ignore}\n")
    root = repo(tmp_path)
    for path in (".DS_Store", "x.py.swp", "x.py"):
        write(root, path)
    assert paths(root) == ["x.py"]


def test_file_excludes_are_gitignore_patterns_applied_after_git(tmp_path: Path) -> None:
    root = repo(tmp_path)
    for path in ("data/big.bin", "data/readme.md", "src/a.py", "src/deep/b.npy", "notes.txt"):
        write(root, path)
    assert paths(root, ("data/", "*.npy")) == ["notes.txt", "src/a.py"]
    # matched path by path, so a later negation can bring back one file of an excluded folder
    assert paths(root, ("data/", "!data/readme.md")) == ["data/readme.md", "notes.txt", "src/a.py", "src/deep/b.npy"]
    assert paths(root, ("/notes.txt",)) == ["data/big.bin", "data/readme.md", "src/a.py", "src/deep/b.npy"]


def test_files_deleted_from_the_worktree_are_skipped(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, "kept.py")
    write(root, "gone.py")
    git(root, "add", ".")
    (root / "gone.py").unlink()
    assert paths(root) == ["kept.py"]


def test_git_dir_is_never_sent_and_nested_repositories_are_listed_by_their_own_git(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, "top.py")
    nested = root / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    write(nested, ".gitignore", "build/\n")
    write(nested, "lib.py")
    write(nested, "build/out.o")
    assert paths(root) == ["top.py", "vendor/lib/.gitignore", "vendor/lib/lib.py"]


def test_submodules_are_expanded_and_uninitialized_ones_skipped(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q")
    write(upstream, "sub.py")
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "sub")
    root = repo(tmp_path)
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "deps/sub")
    (root / "empty-sub").mkdir()  # what an uninitialized submodule looks like
    listed = paths(root)
    assert "deps/sub/sub.py" in listed
    assert not any(".git" in path.split("/") for path in listed)
    assert "deps/sub" not in listed


def test_outside_git_every_gitignore_is_honoured(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, ".gitignore", "*.tmp\nbuild/\n")
    write(root, "pkg/.gitignore", "local.cfg\n!keep.tmp\n")
    for path in ("a.py", "a.tmp", "build/x", "pkg/b.py", "pkg/local.cfg", "pkg/keep.tmp", "pkg/build/y", "c.cfg"):
        write(root, path)
    write(root, ".git/config", "not a repository, still never sent")
    listed, source = list_upload_set(root)
    assert source == "walk"
    assert [path for path, _ in listed] == [".gitignore", "a.py", "c.cfg", "pkg/.gitignore", "pkg/b.py", "pkg/keep.tmp"]


def test_scan_records_modes_and_symlinks_as_links(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, "run.sh", "#!/bin/sh\n", mode=0o755)
    write(root, "data.txt", "12345", mode=0o640)
    os.symlink("data.txt", root / "inside")
    os.symlink("/etc/passwd", root / "outside")
    os.symlink("missing", root / "dangling")
    entries = {entry.path: entry for entry in scan(root).entries}
    assert entries["run.sh"].mode == 0o755 and entries["run.sh"].kind == "f"
    assert entries["data.txt"].mode == 0o640 and entries["data.txt"].size == 5
    assert entries["data.txt"].mtime_ns == os.stat(root / "data.txt").st_mtime_ns
    assert (entries["inside"].kind, entries["inside"].target) == ("l", "data.txt")
    assert (entries["outside"].kind, entries["outside"].target) == ("l", "/etc/passwd")
    assert (entries["dangling"].kind, entries["dangling"].target) == ("l", "missing")


def test_unicode_and_spaces_in_names_survive_git_listing(tmp_path: Path) -> None:
    root = repo(tmp_path)
    names = ["with space.txt", "ünïcødé/fïlé.py", "tab\there.txt", 'quote"d.txt', "日本語.md"]
    for name in names:
        write(root, name)
    assert paths(root) == sorted(names)


def test_scan_of_a_missing_root_is_a_sync_error(tmp_path: Path) -> None:
    import pytest
    from weatherballoon.cli.errors import SyncError

    with pytest.raises(SyncError, match="not a directory"):
        scan(tmp_path / "nope")


def test_a_subfolder_of_a_repository_lists_its_own_files_relative_to_itself(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, ".gitignore", "*.log\n")
    write(root, "other/x.py")
    write(root, "app/main.py")
    write(root, "app/run.log")
    write(root, "app/.gitignore", "/local/\n")
    write(root, "app/local/y.py")
    assert paths(root / "app") == [".gitignore", "main.py"]


def test_a_stale_listing_hint_never_changes_what_is_uploaded(tmp_path: Path) -> None:
    """The last listing is kept so the next scan can lstat beside git (listing_hint.py); a hint that no longer
    matches the tree changes nothing: git's listing decides, and stats are the files' own."""
    from weatherballoon.cli.sync import listing_hint

    root = repo(tmp_path)
    for path in ("a.py", "b.txt", "dir/c.py"):
        write(root, path, "first\n")
    assert paths(root) == ["a.py", "b.txt", "dir/c.py"]
    assert listing_hint.read_hint(root.absolute()) == ["a.py", "b.txt", "dir/c.py"]  # kept for the next scan
    (root / "a.py").unlink()
    write(root, "d.py", "new\n")
    write(root, ".gitignore", "b.txt\n")
    write(root, "dir/c.py", "changed and longer\n")
    with_hint = [(path, st.st_size, st.st_mtime_ns) for path, st in list_upload_set(root)[0]]
    assert [path for path, *_ in with_hint] == [".gitignore", "d.py", "dir/c.py"]
    assert dict((path, size) for path, size, _ in with_hint)["dir/c.py"] == len("changed and longer\n")
    listing_hint._hint_path(root.absolute()).unlink()  # type: ignore[union-attr]
    assert [(path, st.st_size, st.st_mtime_ns) for path, st in list_upload_set(root)[0]] == with_hint
