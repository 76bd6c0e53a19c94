"""The diff is a pure function of the local entries and the remote's answer."""

from __future__ import annotations

from weatherballoon.cli.sync.diff import diff, settle, unrecorded_overwrites
from weatherballoon.cli.sync.records import LocalEntry, RemoteEntry, RemoteManifest


def local(path: str, size: int = 10, mtime: int = 100, mode: int = 0o644, kind: str = "f", target: str | None = None):
    return LocalEntry(path, kind, size, mtime, mode, target)  # type: ignore[arg-type]


def remote(
    path: str,
    kind: str | None = "f",
    size: int = 10,
    mtime: int = 100,
    mode: int = 0o644,
    target: str | None = None,
    tracked: bool = True,
    digest: str | None = None,
) -> RemoteEntry:
    return RemoteEntry(path, kind, size, mtime, mode, target, tracked, digest)


def manifest(*entries: RemoteEntry, matched: int = 0) -> RemoteManifest:
    return RemoteManifest(root="/r", recorded=True, matched=matched, entries=entries)


def test_paths_the_remote_did_not_list_are_unchanged() -> None:
    plan = diff([local("a"), local("b")], manifest(matched=2))
    assert plan.is_noop


def test_new_resized_and_retyped_paths_are_sent() -> None:
    entries = [local("new"), local("grown", size=11), local("was-link"), local("link", kind="l", target="b")]
    answer = manifest(
        remote("new", kind=None),
        remote("grown"),
        remote("was-link", kind="l", target="x"),
        remote("link", kind="l", target="a"),
    )
    assert [e.path for e in diff(entries, answer).send] == ["new", "grown", "was-link", "link"]


def test_a_directory_in_the_way_is_sent_over_so_the_receiver_reports_it() -> None:
    assert [e.path for e in diff([local("x")], manifest(remote("x", kind="d", tracked=False))).send] == ["x"]


def test_mode_only_change_is_a_metadata_update() -> None:
    plan = diff([local("run.sh", mode=0o755)], manifest(remote("run.sh", mode=0o644)))
    assert [e.path for e in plan.touch] == ["run.sh"] and not plan.send


def test_identical_but_unrecorded_paths_are_adopted_not_sent() -> None:
    plan = diff(
        [local("a"), local("l", kind="l", target="a")],
        manifest(remote("a", tracked=False), remote("l", kind="l", target="a", tracked=False)),
    )
    assert plan.adopt == ("a", "l") and not plan.send


def test_same_size_other_mtime_is_verified_by_hash() -> None:
    plan = diff(
        [local("same", mtime=200), local("differs", mtime=200), local("nohash", mtime=200)],
        manifest(remote("same", digest="h1"), remote("differs", digest="h2"), remote("nohash")),
    )
    assert [e.path for e in plan.send] == ["nohash"]
    settled = settle(plan, lambda entry: "h1" if entry.path in ("same", "differs") else None)
    assert [e.path for e in settled.touch] == ["same"]
    assert [e.path for e in settled.send] == ["differs", "nohash"]
    assert not settled.verify


def test_an_empty_file_with_another_mtime_is_only_touched() -> None:
    plan = diff([local("empty", size=0, mtime=5)], manifest(remote("empty", size=0, mtime=9)))
    assert [e.path for e in plan.touch] == ["empty"] and not plan.send


def test_only_recorded_paths_gone_locally_are_deleted() -> None:
    answer = manifest(
        remote("gone", tracked=True),
        remote("gone-already", kind=None, tracked=True),
        remote("job-made", tracked=False),
        matched=1,
    )
    plan = diff([local("kept")], answer)
    assert plan.delete == ("gone", "gone-already")


def test_replacing_what_no_sync_recorded_is_named_and_nothing_else_is() -> None:
    entries = [local("theirs", size=11), local("link", kind="l", target="t"), local("fifo"), local("dir"),
               local("new"), local("ours", size=11), local("same")]  # fmt: skip
    answer = manifest(
        remote("theirs", tracked=False),
        remote("link", kind="l", target="other", tracked=False),
        remote("fifo", kind="o", size=0, tracked=False),
        remote("dir", kind="d", size=0, tracked=False),  # a folder in the way fails by name when written
        remote("new", kind=None, tracked=False),
        remote("ours"),
        remote("same", tracked=False),  # identical: only recorded, never rewritten
    )
    plan = diff(entries, answer)
    assert unrecorded_overwrites(plan, answer) == ["fifo", "link", "theirs"]
    assert plan.adopt == ("same",)
