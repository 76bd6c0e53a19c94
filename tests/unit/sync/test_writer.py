"""TreeWriter: atomic files and links, metadata, and deletions only of what sync itself put there."""

from __future__ import annotations

import os
from pathlib import Path

from weatherballoon.remote.sync.globs import GlobSet
from weatherballoon.remote.sync.writer import TEMP_PREFIX, TreeWriter


def chunks(*parts: bytes) -> list[memoryview]:
    return [memoryview(part) for part in parts]


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(f"{TEMP_PREFIX}*")]


def test_a_file_is_replaced_whole_with_its_mode_and_mtime(tmp_path: Path) -> None:
    writer = TreeWriter(str(tmp_path), record={"a/b.sh"})
    target = tmp_path / "a" / "b.sh"
    target.parent.mkdir()
    target.write_text("old")
    inode = target.stat().st_ino
    assert writer.write_file("a/b.sh", 0o751, 1_234_567_890_123_456_789, chunks(b"new ", b"content"))
    st = target.stat()
    assert target.read_bytes() == b"new content"
    assert (st.st_mode & 0o777, st.st_mtime_ns) == (0o751, 1_234_567_890_123_456_789)
    assert st.st_ino != inode  # renamed over, never rewritten in place
    assert writer.record == {"a/b.sh"}
    assert leftovers(tmp_path) == []


def test_links_are_written_as_links_and_replace_files(tmp_path: Path) -> None:
    writer = TreeWriter(str(tmp_path), record={"l"})
    (tmp_path / "l").write_text("was a file")
    assert writer.write_link("l", "/etc/passwd")
    assert os.readlink(tmp_path / "l") == "/etc/passwd"
    assert writer.write_file("l", 0o644, 0, chunks(b"a file again"))
    assert not (tmp_path / "l").is_symlink()


def test_what_no_sync_recorded_is_never_replaced_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / ".profile").write_text("mine")
    (tmp_path / "link").symlink_to("/etc/hostname")
    writer = TreeWriter(str(tmp_path), record=set())
    assert not writer.write_file(".profile", 0o644, 0, chunks(b"project's"))
    assert not writer.write_link("link", "elsewhere")
    assert (tmp_path / ".profile").read_text() == "mine" and os.readlink(tmp_path / "link") == "/etc/hostname"
    assert writer.record == set() and leftovers(tmp_path) == []
    assert all("no sync of this project put it there" in error for error in writer.summary.errors)
    allowed = TreeWriter(str(tmp_path), record=set(), overwrite=True)
    assert allowed.write_file(".profile", 0o644, 0, chunks(b"project's"))
    assert (tmp_path / ".profile").read_text() == "project's" and allowed.record == {".profile"}


def test_refused_paths_consume_their_data_and_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path, root / "out")
    (root / "dir").mkdir()
    (root / "dir" / "job-file").write_text("job")
    writer = TreeWriter(str(root), record=set())
    consumed = []

    def data() -> object:
        for part in (b"a", b"b"):
            consumed.append(part)
            yield memoryview(part)

    assert not writer.write_file("../escape", 0o644, 0, data())
    assert not writer.write_file("/abs", 0o644, 0, data())
    assert not writer.write_file("out/escape", 0o644, 0, data())
    assert not writer.write_file("dir", 0o644, 0, data())
    assert not writer.write_link("out/link", "x")
    assert len(consumed) == 8
    assert len(writer.summary.errors) == 5
    assert not (tmp_path / "escape").exists() and not (tmp_path / "link").exists()
    assert (root / "dir" / "job-file").read_text() == "job"
    assert leftovers(root) == []


def test_only_recorded_unprotected_files_are_deleted(tmp_path: Path) -> None:
    for path in ("synced.py", "job.out", "outputs/model.pt", "pkg/only.py", "keepdir/x"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    record = {"synced.py", "outputs/model.pt", "pkg/only.py", "keepdir"}
    writer = TreeWriter(str(tmp_path), record=record, protect=GlobSet(["outputs"]))
    assert writer.delete("synced.py")
    assert not writer.delete("job.out")  # never synced
    assert not writer.delete("outputs/model.pt")  # protected output
    assert writer.delete("pkg/only.py")
    assert not writer.delete("keepdir")  # became a directory: not ours
    assert not writer.delete("../etc/passwd")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "job.out",
        "keepdir",
        "keepdir/x",
        "outputs",
        "outputs/model.pt",
    ]  # pkg/ went with its last file
    assert record == set()  # forgotten, kept on disk or not
    assert (writer.summary.deleted, writer.summary.kept) == (2, 3)


def test_deleting_through_a_symlinked_parent_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    writer = TreeWriter(str(root), record={"link/precious"})
    assert not writer.delete("link/precious")
    assert (outside / "precious").read_text() == "keep me"


def test_metadata_update_keeps_the_content(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("same")
    writer = TreeWriter(str(tmp_path), record=set())
    assert writer.set_meta("f", 0o700, 42)
    st = (tmp_path / "f").stat()
    assert (st.st_mode & 0o777, st.st_mtime_ns, (tmp_path / "f").read_text()) == (0o700, 42, "same")
    assert not writer.set_meta("missing", 0o700, 42)
